"""Share of person-frames kept when persons are missing in some frames (Ego-Humans, Harmony4D fixtures).

    python benchmarks/partial_persons.py

Converts the fixtures of pipelines/samples/partial_persons.py (a wearer who joins late, one who leaves
the view, one NaN frame, fits failing for 3 and for 12 frames, a sequence without a usable pair; two
Harmony4D sequences) and counts, independently of the converter's own accounting, the person-frames
that the files hold (seen) and the measured ones inside clips (kept: every (sequence, person, frame)
inside a clip where the person is the reactor or the actor and has finite joints in the files). The
baseline in the same run is the input itself: kept / seen. The script only needs `convert` and
`list_clips`, so it runs unchanged on older vimo versions (copy pipelines/samples/partial_persons.py
along) to compare before and after.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(workdir: Path) -> dict[str, dict[str, int]]:
    from vimo.pipelines.convert import ConvertOptions, convert, list_clips
    from vimo.pipelines.samples.partial_persons import (
        EGO_PARTIAL, HARMONY_PARTIAL, person_frame_truth, write_partial_tree,
    )
    from vimo.pipelines.sources import get_source

    out = {}
    for name, specs, harmony in (("egohumans", EGO_PARTIAL, False), ("harmony4d", HARMONY_PARTIAL, True)):
        tree = write_partial_tree(workdir / name, specs, harmony4d=harmony)
        ws = workdir / f"ws-{name}"
        cls = get_source(name)
        summary = convert(cls(tree.root, cls.config_class()), ConvertOptions(workspace=ws))
        truth = {rel: person_frame_truth(seq) for rel, seq in tree.sequences.items()}
        seen = sum(int(p["present"].size) for t in truth.values() for p in t.values())
        kept: set[tuple[str, str, int]] = set()
        for clip in list_clips(ws):
            rel = clip["sequence_id"]
            first = clip["source_frames"]["first"]
            for person in clip["persons"].values():
                finite = truth[rel][person]["finite"]
                for frame in range(first, first + clip["n_frames"]):
                    if finite[frame - 1]:  # frame files are 1-based
                        kept.add((rel, person, frame))
        out[name] = {"sequences": len(specs), "quarantined": summary.quarantined, "clips": summary.clips,
                     "person_frames_seen": seen, "person_frames_kept": len(kept)}
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(Path(tmp))
    total_seen = sum(r["person_frames_seen"] for r in result.values())
    total_kept = sum(r["person_frames_kept"] for r in result.values())
    for name, r in result.items():
        share = r["person_frames_kept"] / r["person_frames_seen"]
        print(f"{name:10s} {r['sequences']} sequences, {r['quarantined']} quarantined, {r['clips']} clips; "
              f"person-frames kept {r['person_frames_kept']} / {r['person_frames_seen']} = {share:.1%}")
    print(f"{'all':10s} person-frames kept {total_kept} / {total_seen} = {total_kept / total_seen:.1%}")


if __name__ == "__main__":
    main()
