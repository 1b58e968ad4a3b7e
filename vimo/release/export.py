"""A plain HumanML3D export of a release."""
from __future__ import annotations

from pathlib import Path


from vimo import atomic
from vimo.errors import WorkspaceError
from vimo.splits import SPLITS
from vimo.release.layout import JOINTS_DIR, MEAN, STD, ReleaseError, motion_list, motion_path
from vimo.release.verify import verify_release

# ----------------------------------------------------------------------------------- export
def export_humanml3d(release: str | Path, out: str | Path, *, overwrite: bool = False) -> dict[str, int]:
    """A plain HumanML3D layout of a release: new_joint_vecs/<id>.npy (T, 263), new_joints/<id>.npy
    (T, 22, 3), Mean.npy, Std.npy and train/val/test/all.txt listing motion ids (no texts: ViMo has none)."""
    release, out = Path(release), Path(out)
    problems = verify_release(release)
    if problems:
        raise ReleaseError(f"release does not verify ({problems[0]})", path=release,
                           fix="run vimo release verify and rebuild the release")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise WorkspaceError("output folder is not empty", path=out, fix="choose an empty folder or pass --force")
    counts: dict[str, int] = {}
    ids_all: dict[str, None] = {}
    for split in SPLITS:
        path = release / motion_list(split)
        if not path.is_file():
            continue
        ids = [Path(m).stem for m in path.read_text().split()]
        for mid in ids:
            ids_all.setdefault(mid, None)
        atomic.write_text(out / f"{split}.txt", "".join(f"{m}\n" for m in ids))
        counts[split] = len(ids)
    for mid in ids_all:
        atomic.write_bytes(out / "new_joint_vecs" / f"{mid}.npy", (release / motion_path(mid)).read_bytes())
        atomic.write_bytes(out / "new_joints" / f"{mid}.npy", (release / JOINTS_DIR / f"{mid}.npy").read_bytes())
    for name in (MEAN, STD):
        atomic.write_bytes(out / name, (release / name).read_bytes())
    atomic.write_text(out / "all.txt", "".join(f"{m}\n" for m in ids_all))
    counts["motions"] = len(ids_all)
    return counts
