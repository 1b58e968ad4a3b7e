"""The mission end to end on data vimo makes itself (`vimo demo`, `make demo`).

Steps (each one resumable: a finished step leaves `steps/<name>.json` and is skipped on a re-run):

 1. sources    small, format-faithful fake Inter-X, Ego-Humans and Harmony4D trees written from
               vimo.synthetic two-person interactions, with tiny synthetic SMPL-X model files
               (vimo.pipelines.samples; no licensed data anywhere);
 2. convert    the three trees converted into one workspace (`vimo convert interx|egohumans|harmony4d`);
 2b. library   single-person SYNTHETIC reactions (a motion library: `vimo convert joints`) labelled with the
               Animal-Human / Scene-Human sub-categories of step 3b (`vimo videos library --labels`), and the
               workspace taxonomy extended with the scenes' two extra sub-categories;
 3. render     each clip's actor seen from the reactor's eyes (the input video) and each clip's reactor
               from the front (the rendered reaction the rating tasks show), headless EGL, H.264;
 3b. external  SYNTHETIC external-style videos (a ball thrown at the viewer, dog- and lion-sized four-legged
               figures approaching, a box falling nearby; vimo.pipelines.samples.external_scenes) imported
               with `vimo videos add`: videos without a recorded reaction, screened, then paired from the
               motion library;
 4. restyle    some actor videos sent through vimo's restyle client to a LOCAL STAND-IN of Runway's
               API (it is not Runway; its output is the input video unchanged), then fetched as
               `restyled` videos waiting for screening;
 5. screening  a screening round of the restyled and the external videos on a local Label Studio server,
               answered by SIMULATED annotators;
 6. pairs      the source pairs (`vimo pairs assemble`: usable videos of the actor + the reaction);
 7. pairing    a pairing round proposing other reactions for each video (for the external videos: reactions
               from the motion library, same sub-category first), answered by SIMULATED annotators;
               accepted candidates become new pairs;
 8. rating     a pre-labelling trial on a sample (its report, then the instructions bumped from it),
               then the main rating round of every candidate pair (motion quality, reaction plausibility, 1-5) by
               SIMULATED annotators whose scores carry noise, one of them biased; the round's report
               finds the biased one, an inspection round (a SIMULATED inspector) rejects their
               off-scale annotations, a reserve annotator replaces them, and the pairs are decided;
 9. release    a release with splits base, Seen/Unseen and T2, its data card and plots, verified;
10. bench      a tiny HERO benchmark of the release (report.md, results.json, plots) on the base split
               and on T2 with the same evaluator, and their leaderboard;
11. summary    where each artefact is (summary.json + printed).

`reduced=True` is the small form the test suite runs (fewer sequences, smaller videos, a shorter
benchmark). Everything simulated is labelled so in the workspace (annotator accounts `simulated-*`,
the stand-in's name in each restyled video's provenance) and in the summary.
"""
from __future__ import annotations

import json
import secrets
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from vimo import atomic
from vimo.errors import VimoError

STANDIN_NOTE = ("LOCAL STAND-IN for Runway's API (vimo.pipelines.samples.runway_standin): not Runway, nothing is restyled, "
                "the output is the input video")
SIMULATED_NOTE = "SIMULATED annotators (vimo.annotation.simulated): not human judgements"
SCENES_NOTE = ("SYNTHETIC external-style videos (vimo.pipelines.samples.external_scenes): procedural scenes rendered "
               "by vimo, standing in for filmed animal / scene clips")
LIBRARY_NOTE = ("SYNTHETIC motion library (vimo.synthetic reactors converted as single-person clips), labelled for "
                "the external-style scenes")


@dataclass
class DemoScale:
    """Sizes of one demo run."""

    interx: int = 48
    """fake Inter-X sequences"""
    clip_frames: int = 80
    """longest clip `vimo convert` cuts (--max-frames; the official 200 in the reduced demo): the tiny preset sees
    40 frames of a motion, so 5-8 s interactions cut into 2-4 s clips pair each video with the motion the models
    and the evaluator actually see, and give more pairs for the same rendered frames"""
    ego_sequences: int = 4
    """fake Ego-Humans sequences (each gives two clips, one per direction)"""
    h4d_sequences: int = 4
    """fake Harmony4D sequences"""
    size: tuple[int, int] = (320, 240)
    """rendered video size"""
    restyle: int = 6
    """actor videos sent to the Runway stand-in"""
    raters: int = 3
    """rating overlap (one of the raters is biased)"""
    per_video: int = 2
    """pairing candidates per video"""
    trial: int = 10
    """pairs in the pre-labelling trial of the rating round"""
    bench_epochs: int | None = None
    """training epochs of every HERO stage (None: the tiny preset's own budgets, which make every stage learn)"""
    replications: int = 20
    """evaluation replications (the official protocol's 20)"""
    evaluator_epochs: int | None = None
    """training epochs of the vimo evaluator (None: the tiny preset's budget)"""
    batch_size: int = 8
    """evaluation batch (official 32; the demo's test sets are small)"""
    scenes_per_kind: int = 2
    """SYNTHETIC external-style videos per scene kind (ball, dog- and lion-sized four-legged figures, falling box):
    at least 2, so that each of their sub-categories can have a test pair"""
    scene_seconds: float = 2.0
    """length of each external-style video"""
    library_per_sub: int = 4
    """single-person library reactions per Animal-Human / Scene-Human sub-category of the scenes: per_video for
    each of its videos, so that the pairing spreads them and no two videos share a reaction (which would tie
    them to one side of the split)"""


FULL = DemoScale()
REDUCED = DemoScale(interx=12, clip_frames=200, ego_sequences=2, h4d_sequences=2, size=(160, 128), restyle=3, raters=3, per_video=2,
                    trial=6, bench_epochs=1, replications=2, evaluator_epochs=1)

#: (activity folder, synthetic kind acting it out) of the fake Ego-Humans / Harmony4D sequences, used in
#: turn; the activities are ones the taxonomy maps (tagging -> chasing, sword -> fencing, ...). Few
#: sub-categories with several captures each, so that the stratified, leakage-guarded test split of a
#: small release is not empty.
EGO_ACTIVITIES = [("01_fencing", "dodge"), ("02_tagging", "approach")]
H4D_ACTIVITIES = [("01_hugging", "hug"), ("02_sword", "dodge")]
INTERX_KINDS = ("hug", "handshake", "wave", "push")
LIBRARY_LICENCE = "MIT (SYNTHETIC, vimo)"
#: (library sub-category, synthetic kind whose reactor stands in for the reaction to that scene)
LIBRARY_REACTIONS = (("ball_thrown_towards", "dodge"), ("dog_approaching", "approach"),
                     ("lion_approaching", "walk_past"), ("object_falling_nearby", "push"))


@dataclass
class DemoConfig:
    out: Path
    """output folder; a finished step found there is skipped (the demo resumes after a kill)"""
    reduced: bool = False
    """the small form (CI)"""
    seed: int = 0
    """seed of everything random in the demo"""
    workers: int = 2
    """parallel processes for conversion and rendering"""
    bench: bool = True
    """run the benchmark steps (they need the `train` extra)"""
    fresh: bool = False
    """delete the output folder first"""
    scale: DemoScale | None = None
    """explicit sizes (default: FULL or REDUCED)"""

    def __post_init__(self) -> None:
        self.out = Path(self.out).expanduser()
        if self.scale is None:
            self.scale = REDUCED if self.reduced else FULL


@dataclass
class DemoResult:
    out: Path
    artefacts: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0


class Reporter:
    """Progress callbacks: `step(name, index, total)`, `detail(description, done, total)`, `note(text)`.
    The CLI draws them as rich progress bars; the default prints nothing."""

    def step(self, name: str, index: int, total: int) -> None:
        pass

    def detail(self, description: str, done: int, total: int | None) -> None:
        pass

    def note(self, text: str) -> None:
        pass


# ----------------------------------------------------------------------------------------------
# the run

STEPS = ("sources", "convert", "library", "render", "external", "restyle", "screening", "pairs", "pairing", "rating",
         "release", "bench", "summary")


class Demo:
    def __init__(self, cfg: DemoConfig, reporter: Reporter | None = None):
        self.cfg = cfg
        self.s = cfg.scale
        self.out = cfg.out
        self.r = reporter or Reporter()
        self.ws_root = self.out / "ws"
        self.src = self.out / "sources"
        self.models = self.src / "body_models"
        self._server = None
        self._rounds = None

    # -- helpers
    def record_path(self, name: str) -> Path:
        return self.out / "steps" / f"{name}.json"

    def done(self, name: str) -> dict[str, Any] | None:
        p = self.record_path(name)
        return json.loads(p.read_text()) if p.is_file() else None

    def command(self, line: str) -> None:
        """Tell the user which vimo command does what this step does."""
        self.r.note(f"  $ {line}")

    def rng(self, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.cfg.seed, salt])

    def workspace(self):
        from vimo.workspace import Workspace

        return Workspace.open(self.ws_root)

    def run(self) -> DemoResult:
        if self.cfg.fresh and self.out.exists():
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        res = DemoResult(out=self.out)
        steps = [s for s in STEPS if self.cfg.bench or s != "bench"]
        try:
            for i, name in enumerate(steps):
                self.r.step(name, i, len(steps))
                rec = self.done(name) if name != "summary" else None
                if rec is None:
                    t = time.perf_counter()
                    rec = getattr(self, f"step_{name}")(res) or {}
                    rec["seconds"] = round(time.perf_counter() - t, 2)
                    if name != "summary":  # the summary is redone on every run, from the records
                        atomic.write_json(self.record_path(name), rec)
                else:
                    self.r.note(f"  (done in an earlier run: {self.record_path(name)})")
                res.steps[name] = rec
                res.artefacts.update(rec.get("artefacts", {}))
            self.r.step("done", len(steps), len(steps))
        finally:
            self.stop_server()
        res.seconds = time.perf_counter() - t0
        return res

    # -- 1. sources
    def step_sources(self, res: DemoResult) -> dict[str, Any]:
        from vimo.pipelines.samples.sources import EgoSequence, write_egohumans_tree, write_harmony4d_tree, write_interx_tree

        if self.src.exists():
            shutil.rmtree(self.src)  # a half-written tree from a killed run
        s, seed = self.s, self.cfg.seed
        self.r.detail("fake Inter-X (SMPL-X at 120 fps, tiny synthetic body models)", 0, 3)
        kinds = tuple(INTERX_KINDS[(seed + i) % len(INTERX_KINDS)] for i in range(len(INTERX_KINDS)))
        # one subject group per sequence: groups are a leakage unit of the split
        ix = write_interx_tree(self.src / "Inter-X_Dataset", self.models, n=s.interx, seed=seed, kinds=kinds,
                               per_group=1)
        self.r.detail("fake Ego-Humans (per-frame SMPL joints)", 1, 3)
        ego = [EgoSequence(act, f"{k + 1:03d}_{act[3:]}", kind=kind, seed=seed * 100 + k, duration_s=4.0)
               for k, (act, kind) in enumerate(EGO_ACTIVITIES[k % len(EGO_ACTIVITIES)]
                                               for k in range(s.ego_sequences))]
        write_egohumans_tree(self.src / "egohumans", ego)
        self.r.detail("fake Harmony4D", 2, 3)
        h4d = [EgoSequence(act, f"{k + 1:03d}_{act[3:]}", kind=kind, seed=seed * 100 + 50 + k, duration_s=4.0,
                           split="test" if k % 2 else "train", wearers=("aria01", "aria02"))
               for k, (act, kind) in enumerate(H4D_ACTIVITIES[k % len(H4D_ACTIVITIES)]
                                               for k in range(s.h4d_sequences))]
        write_harmony4d_tree(self.src / "harmony4d", h4d)
        (self.src / "README.txt").write_text(
            "SYNTHETIC stand-ins written by vimo demo (vimo.pipelines.samples): the layouts of Inter-X, Ego-Humans and\n"
            "Harmony4D filled with procedurally generated motions and tiny synthetic SMPL-X model files.\n"
            "No data of those datasets and no SMPL-family model file is in here.\n")
        self.r.detail("sources written", 3, 3)
        return {"artefacts": {"sources": str(self.src)},
                "figures": {"interx sequences": len(ix.sequences), "egohumans sequences": len(ego),
                            "harmony4d sequences": len(h4d)}}

    # -- 2. convert
    def step_convert(self, res: DemoResult) -> dict[str, Any]:
        from vimo.pipelines.convert import ConvertOptions, convert
        from vimo.pipelines.sources import get_source
        from vimo.workspace import Workspace

        s = self.s
        Workspace.init(self.ws_root, name="vimo-demo").close()
        figures: dict[str, Any] = {}
        for name, root, cfg in (("interx", self.src / "Inter-X_Dataset", {"body_models": self.models}),
                                ("egohumans", self.src / "egohumans", {}), ("harmony4d", self.src / "harmony4d", {})):
            extra = f" --body-models {self.models}" if cfg else ""
            self.command(f"vimo convert {name} {root} --workspace {self.ws_root}{extra} --workers {self.cfg.workers}"
                         f" --max-frames {s.clip_frames}")
            cls = get_source(name)
            summary = convert(cls(root, cls.config_class(**cfg)),
                              ConvertOptions(workspace=self.ws_root, workers=self.cfg.workers,
                                             max_frames=s.clip_frames),
                              progress=lambda r, done, total, n=name: self.r.detail(f"convert {n}", done, total))
            if summary.quarantined:
                raise VimoError(f"{summary.quarantined} {name} units were quarantined: {summary.quarantine[:2]}",
                                path=self.ws_root / "quarantine", fix="report this as a vimo bug")
            figures[f"{name} clips"] = summary.clips
            figures[f"{name} frames"] = summary.frames
        with self.workspace() as ws:
            figures["clips ok"] = len(ws.catalog.clips("ok"))
            figures["clips flagged by QA"] = len(ws.catalog.clips("flagged"))
        return {"artefacts": {"workspace": str(self.ws_root), "catalog": str(self.ws_root / "catalog.sqlite")},
                "figures": figures}

    # -- 2b. the motion library
    def step_library(self, res: DemoResult) -> dict[str, Any]:
        from vimo.atomic import save_npy
        from vimo.pairs import label_library, motion_library
        from vimo.pipelines.convert import ConvertOptions, convert
        from vimo.pipelines.samples.external_scenes import scene_taxonomy
        from vimo.pipelines.sources import get_source
        from vimo.synthetic import generate
        from vimo.taxonomy import Taxonomy

        lib = self.src / "library"
        if lib.exists():
            shutil.rmtree(lib)  # a half-written folder from a killed run
        rows = ["sequence_id,sub_category,text"]
        for i, (sub, kind) in enumerate(LIBRARY_REACTIONS):
            for k in range(self.s.library_per_sub):
                name = f"{sub}-{k}"
                x = generate(kind, seed=self.cfg.seed * 1000 + 700 + 10 * i + k, fps=20, duration_s=4.0)
                save_npy(lib / f"{name}.npy", x.reactor)  # one person: a reaction without its actor
                rows.append(f"{name},{sub},SYNTHETIC reaction ({kind} reactor) for {sub.replace('_', ' ')}")
        atomic.write_text(lib / "labels.csv", "\n".join(rows) + "\n")
        # the scenes' two extra Scene-Human sub-categories, in the workspace's own taxonomy
        atomic.write_json(self.ws_root / "taxonomy.json", scene_taxonomy(Taxonomy.default_data()))
        self.command(f"vimo convert joints {lib} --workspace {self.ws_root} --fps 20 --licence '{LIBRARY_LICENCE}'")
        cls = get_source("joints")
        summary = convert(cls(lib, cls.config_class(fps=20.0, licence=LIBRARY_LICENCE)),
                          ConvertOptions(workspace=self.ws_root, workers=1, max_frames=self.s.clip_frames),
                          progress=lambda r, done, total: self.r.detail("convert library", done, total))
        if summary.quarantined:
            raise VimoError(f"{summary.quarantined} library units were quarantined: {summary.quarantine[:2]}",
                            path=self.ws_root / "quarantine", fix="report this as a vimo bug")
        self.command(f"vimo videos library --workspace {self.ws_root} --labels {lib / 'labels.csv'}")
        with self.workspace() as ws:
            labelled = label_library(ws, lib / "labels.csv")
            library = motion_library(ws)
        return {"figures": {"library clips (single person)": summary.clips, "library clips labelled": labelled,
                            "library motions (with the reactors of two-person clips)": len(library)},
                "notes": [LIBRARY_NOTE]}

    # -- 3. render
    def step_render(self, res: DemoResult) -> dict[str, Any]:
        from vimo.pipelines.video.render import RenderOptions, render_workspace

        w, h = self.s.size
        figures: dict[str, Any] = {}
        for subject in ("actor", "reactor"):
            self.command(f"vimo render --workspace {self.ws_root} --subject {subject} --size {w}x{h} "
                         f"--workers {self.cfg.workers}")
            opts = RenderOptions(workspace=self.ws_root, subject=subject, size=(w, h), fps=20.0,
                                 workers=self.cfg.workers)
            summary = render_workspace(opts, progress=lambda r, done, total, s=subject: self.r.detail(
                f"render {s}", done, total))
            if summary.failed:
                raise VimoError(f"{summary.failed} {subject} renders failed: {summary.failures[:2]}",
                                path=self.ws_root / "videos", fix="run `vimo info` to check EGL rendering")
            figures[f"{subject} videos"] = summary.rendered + summary.skipped
            if summary.frames:
                figures[f"{subject} render frames/s"] = round(summary.fps, 1)
        return {"artefacts": {"videos": str(self.ws_root / "videos")}, "figures": figures}

    # -- 3b. external videos
    def step_external(self, res: DemoResult) -> dict[str, Any]:
        from vimo.pipelines.samples.external_scenes import write_scene_videos
        from vimo.pipelines.video.external import ImportOptions, import_videos

        folder = self.src / "external_scenes"
        self.r.detail("external-style scenes: render (ball, four-legged figures, falling box)", 0, 2)
        manifest = write_scene_videos(folder, size=self.s.size, fps=20.0, seconds=self.s.scene_seconds,
                                      per_scene=self.s.scenes_per_kind, seed=self.cfg.seed)
        self.command(f"vimo videos add {manifest} --workspace {self.ws_root}")
        self.r.detail("external-style scenes: vimo videos add", 1, 2)
        summary = import_videos(ImportOptions(src=manifest, workspace=self.ws_root))
        if summary.quarantined:
            raise VimoError(f"{summary.quarantined} scene videos were quarantined: {summary.lines()[1:3]}",
                            path=manifest, fix="report this as a vimo bug")
        self.r.detail("external-style scenes: imported", 2, 2)
        with self.workspace() as ws:
            videos = ws.catalog.query("videos", "kind='external'")
        by_broad: dict[str, int] = {}
        for v in videos:
            broad = v["provenance"]["labels"]["broad_category"]
            by_broad[broad] = by_broad.get(broad, 0) + 1
        return {"artefacts": {"external scenes": str(folder)},
                "figures": {"external videos": len(videos),
                            **{f"external videos {b}": n for b, n in sorted(by_broad.items())}},
                "notes": [SCENES_NOTE]}

    # -- 4. restyle
    def step_restyle(self, res: DemoResult) -> dict[str, Any]:
        from vimo.pipelines.video.restyle import RestyleOptions, RunwayClient, RunwayConfig, fetch, submit
        from vimo.pipelines.samples.runway_standin import RunwayStandin

        key = secrets.token_hex(16)  # the stand-in's throwaway key: never written anywhere
        standin = RunwayStandin(api_key=key).start()
        self.r.note(f"  {STANDIN_NOTE} at {standin.url}")
        self.command(f"RUNWAYML_BASE_URL={standin.url} vimo restyle submit --workspace {self.ws_root} "
                     f"--limit {self.s.restyle}   # then: vimo restyle fetch")
        try:
            # the stand-in answers at once: poll it every 50 ms instead of Runway's >= 5 s
            client = RunwayClient(RunwayConfig(base_url=standin.url, api_key=key, poll_jitter_s=0.0,
                                               backoff_base_s=0.05), sleep=lambda s: time.sleep(min(s, 0.05)))
            self.r.detail("restyle: submit", 0, 2)
            sub = submit(RestyleOptions(workspace=self.ws_root, limit=self.s.restyle), client)
            self.r.detail("restyle: fetch", 1, 2)
            got = fetch(self.ws_root, client)
            self.r.detail("restyle: done", 2, 2)
        finally:
            standin.stop()
        with self.workspace() as ws:
            restyled = ws.catalog.query("videos", "kind='restyled'")
            for v in restyled:  # say what made them, in the catalog itself
                ws.catalog.upsert("videos", {"video_id": v["video_id"],
                                             "provenance": {**v["provenance"], "standin": STANDIN_NOTE}})
        return {"figures": {"submitted": len(sub.submitted), "fetched": len(got.fetched),
                            "restyled videos pending screening": sum(v["status"] == "pending_screening"
                                                                     for v in restyled)},
                "notes": [STANDIN_NOTE]}

    # -- annotation server
    @contextmanager
    def rounds(self) -> Iterator[Any]:
        if self._rounds is None:
            from vimo.annotation.rounds import Rounds
            from vimo.annotation.server import LabelStudioServer, ServerPaths, connect

            # a throwaway server for the demo: its admin token lives in this process only
            token = secrets.token_hex(20)
            data = ServerPaths.of(self.ws_root).data_dir
            # a server left running by a killed run, then its data: the admin there holds another token
            LabelStudioServer(ServerPaths.of(self.ws_root)).stop()
            if data.exists():
                shutil.rmtree(data)
            self.r.detail("starting Label Studio on 127.0.0.1 (first start migrates its database)", 0, None)
            self._server = LabelStudioServer(ServerPaths.of(self.ws_root))
            state = self._server.start(token=token, timeout=600)
            self.r.note(f"  Label Studio {state.url} (data: {data})")
            self._rounds = Rounds(self.ws_root, connect(state.url, token))
        yield self._rounds

    def stop_server(self) -> None:
        if self._rounds is not None:
            self._rounds.close_connections()
            self._rounds = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _answer(self, rounds: Any, round_id: str, annotators: list[Any],
                answer: Callable[[Any, str, dict[str, Any]], list[dict[str, Any]] | None], what: str) -> int:
        """Each simulated annotator answers the tasks `answer` gives it a result for."""
        from vimo.annotation.simulated import ensure_user, submit

        tasks = rounds.ledger.tasks(round_id)
        n, total = 0, len(tasks) * len(annotators)
        for sim in annotators:
            uid = ensure_user(rounds.client, sim)
            for task_id, info in sorted(tasks.items()):
                result = answer(sim, task_id, info["data"])
                if result is not None:
                    submit(rounds.client, info["ls_task_id"], uid, result)
                n += 1
                if n % 5 == 0 or n == total:
                    self.r.detail(what, n, total)
        return n

    # -- 5. screening
    def step_screening(self, res: DemoResult) -> dict[str, Any]:
        from vimo.annotation.selection import CatalogSelection
        from vimo.annotation.simulated import SimulatedAnnotator

        with self.rounds() as rounds:
            self.command(f"vimo annotate round create screening --workspace {self.ws_root} --from-catalog")
            r, chosen, _ = rounds.create_from_catalog("screening", "main", CatalogSelection(), overlap=3)
            rng = self.rng(5)
            # hidden truth: most stand-in outputs are usable, about one in four is not; the scenes are usable
            p_usable = {t.task_id: (0.1 if rng.random() < 0.25 and t.data.get("video_kind") != "external" else 0.9)
                        for t in chosen.items}
            screeners = [SimulatedAnnotator(f"screener-{k}", seed=self.cfg.seed * 10 + k) for k in range(3)]
            self._answer(rounds, r.id, screeners,
                         lambda sim, t, d: sim.choice_result("usable", ("usable", "unusable"), p_usable[t], "video"),
                         "screening: simulated votes")
            report = rounds.close(r.id)
        with self.workspace() as ws:
            status = [ws.catalog.get("videos", t)["status"] for t in p_usable]
        return {"artefacts": {"screening report": str(rounds.round_dir(r.id) / "report.json")},
                "figures": {"screening tasks": len(chosen.items), "usable": status.count("usable"),
                            "unusable": status.count("unusable"),
                            "undecided": sum(s not in ("usable", "unusable") for s in status)},
                "round": r.id, "notes": [SIMULATED_NOTE], "votes": report.get("votes", {})}

    # -- 6. source pairs
    def step_pairs(self, res: DemoResult) -> dict[str, Any]:
        from vimo.pairs import assemble_pairs

        self.command(f"vimo pairs assemble --workspace {self.ws_root}")
        with self.workspace() as ws:
            s = assemble_pairs(ws)
        return {"figures": {"source pairs": len(s.added) + s.existing, "unlabelled": s.unlabelled},
                "skipped": dict(s.skipped)}

    # -- 7. pairing
    def step_pairing(self, res: DemoResult) -> dict[str, Any]:
        from vimo.annotation.selection import CatalogSelection, clip_sub_categories
        from vimo.annotation.simulated import SimulatedAnnotator
        from vimo.pairs import video_label

        with self.rounds() as rounds:
            self.command(f"vimo annotate round create pairing --workspace {self.ws_root} --from-catalog "
                         f"--per-video {self.s.per_video}")
            # only the videos of the actor as the reactor saw it (not restyled copies of them)
            # and the external videos (no recorded reaction): candidates from the motion library
            with self.workspace() as ws:
                ids = tuple(v["video_id"] for v in ws.catalog.query("videos", "kind='rendered'")
                            if (v.get("provenance") or {}).get("subject") != "reactor")
                external = {v["video_id"]: (video_label(v) or {}).get("sub_category", "")
                            for v in ws.catalog.query("videos", "kind='external'")}
                ids += tuple(sorted(external))
                subs = clip_sub_categories(ws.catalog)
                video_clip = {v["video_id"]: v["clip_id"] for v in ws.catalog.query("videos")}
            sel = CatalogSelection(ids=ids, per_video=self.s.per_video)
            r, chosen, _ = rounds.create_from_catalog("pairing", "main", sel, overlap=2, min_votes=2)

            def p_plausible(data: dict[str, Any]) -> float:
                own = external.get(data["video_id"]) or subs.get(video_clip.get(data["video_id"]) or "", "")
                if data["video_id"] in external:  # the library's reactions for the scene's kind fit it
                    return 1.0 if subs.get(data["motion_id"]) == own else 0.1
                return 0.9 if own and subs.get(data["motion_id"]) == own else 0.3

            pairers = [SimulatedAnnotator(f"pairer-{k}", seed=self.cfg.seed * 10 + 3 + k) for k in range(2)]
            self._answer(rounds, r.id, pairers,
                         lambda sim, t, d: sim.choice_result("plausible", ("plausible", "implausible"),
                                                             p_plausible(d)),
                         "pairing: simulated votes")
            rounds.close(r.id)
        with self.workspace() as ws:
            added = ws.catalog.query("pairs", "origin=?", (r.id,))
        on_external = [p for p in added if p["video_id"] in external]
        return {"artefacts": {"pairing report": str(rounds.round_dir(r.id) / "report.json")},
                "figures": {"pairing tasks": len(chosen.items), "pairs added": len(added),
                            "pairs added for external videos": len(on_external),
                            "external videos with a pair": len({p["video_id"] for p in on_external})},
                "round": r.id, "notes": [SIMULATED_NOTE]}

    # -- 8. rating + inspection
    def step_rating(self, res: DemoResult) -> dict[str, Any]:
        from vimo.annotation.agreement import AcceptPolicy
        from vimo.annotation.selection import CatalogSelection
        from vimo.annotation.simulated import SimulatedAnnotator

        with self.workspace() as ws:
            pairs = {p["pair_id"]: p for p in ws.catalog.pairs("candidate")}
            clips = {c["clip_id"]: c for c in ws.catalog.clips()}
        truth = self._rating_truth(pairs, clips)
        k = self.s.raters
        raters = [SimulatedAnnotator(f"rater-{i}", noise=0.6, seed=self.cfg.seed * 10 + 20 + i) for i in range(k)]
        biased = SimulatedAnnotator("rater-biased", noise=0.4, bias=-1.6, seed=self.cfg.seed * 10 + 29)
        team = raters + [biased]
        order = sorted(pairs)
        # each task goes to `k` of the k+1 raters, in turn, so the biased one rates most of them
        assigned = {pid: {team[(i + j) % len(team)].name for j in range(k)} for i, pid in enumerate(order)}
        policy = AcceptPolicy(3.0, 3.0, 2)
        def rate(sim: Any, t: str, d: dict[str, Any]) -> list[dict[str, Any]] | None:
            return sim.rating_result(truth[t]) if sim.name in assigned[t] else None

        with self.rounds() as rounds:
            # the pre-labelling trial: a seeded sample, its report, and the instructions bumped from it
            self.command(f"vimo annotate round create rating --stage trial --sample {self.s.trial} --overlap {k} "
                         f"--workspace {self.ws_root}")
            trial, trial_sel, _ = rounds.create_from_catalog(
                "rating", "trial", CatalogSelection(sample=self.s.trial, seed=self.cfg.seed), overlap=k, policy=policy)
            self._answer(rounds, trial.id, team, rate, "rating trial: simulated scores")
            trial_report = rounds.close(trial.id)
            self.command(f"vimo annotate instructions bump {trial.id} --change '...' --workspace {self.ws_root}")
            from vimo.annotation.rounds import bump_instructions

            bumped = bump_instructions(rounds, trial.id, [
                "Judge reaction plausibility against what the person in the video does, not against the motion's "
                "own quality (the trial mixed the two up)"])
            # the main round: every candidate pair again (the trial's write-back already decided the
            # sampled ones; the main round's results take precedence over the trial's)
            self.command(f"vimo annotate round create rating --stage main --overlap {k} --workspace {self.ws_root}")
            r, chosen, _ = rounds.create_from_catalog(
                "rating", "main", CatalogSelection(ids=tuple(order), statuses=("candidate", "accepted", "rejected")),
                overlap=k, policy=policy)
            self._answer(rounds, r.id, team,
                         rate, "rating: simulated scores")
            rounds.pull(r.id)
            report = rounds.report(r.id)
            stats = report["annotators"]
            # QC 1: the annotator whose scores sit furthest below the others'
            suspect = min(stats, key=lambda a: stats[a]["bias"]["reaction_plausibility"] or 0.0)
            suspect_bias = {d: stats[suspect]["bias"][d] for d in ("motion_quality", "reaction_plausibility")}
            insp, rejected = self._inspect(rounds, r.id, suspect)
            # a reserve annotator replaces each rejected annotation (the tasks' overlap was raised)
            reserve = SimulatedAnnotator("rater-reserve", noise=0.6, seed=self.cfg.seed * 10 + 33)
            replace = {a.task_id for a in rounds.ledger.annotations(r.id) if a.status == "rejected"}
            self._answer(rounds, r.id, [reserve],
                         lambda sim, t, d: sim.rating_result(truth[t]) if t in replace else None,
                         "rating: replacement scores")
            final = rounds.close(r.id)
        with self.workspace() as ws:
            after = [ws.catalog.get("pairs", pid) for pid in pairs]
        decided = {s: sum(p["status"] == s for p in after) for s in ("accepted", "rejected", "candidate")}
        summary = final["summary"]
        return {"artefacts": {"rating report": str(rounds.round_dir(r.id) / "report.json"),
                              "rating histograms": str(rounds.round_dir(r.id) / "histograms.png")},
                "figures": {"trial tasks": len(trial_sel.items),
                            "trial alpha (ordinal) reaction plausibility":
                                trial_report["summary"]["alpha_ordinal"]["reaction_plausibility"],
                            "instructions version after the trial": bumped.version,
                            "main round instructions version": rounds.ledger.round(r.id).instructions_version,
                            "rating tasks": len(chosen.items), "accepted": decided["accepted"],
                            "rejected": decided["rejected"], "undecided": decided["candidate"],
                            "alpha (ordinal) motion quality": summary["alpha_ordinal"]["motion_quality"],
                            "alpha (ordinal) reaction plausibility": summary["alpha_ordinal"]["reaction_plausibility"],
                            "QC: most biased annotator": suspect,
                            "QC: its bias (reaction plausibility)": suspect_bias["reaction_plausibility"],
                            "QC: annotations rejected by the inspector": rejected},
                "round": r.id, "trial_round": trial.id, "inspection_round": insp.id, "notes": [SIMULATED_NOTE]}

    def _rating_truth(self, pairs: dict[str, dict], clips: dict[str, dict]) -> dict[str, dict[str, float]]:
        """The SIMULATED true scores of each candidate pair: flagged clips move badly, generated pairings fit
        less often than source ones, and a few reactions do not fit at all; a library reaction of an external
        video's own sub-category (made for that kind of scene) fits like a recorded one."""
        rng = self.rng(8)
        with self.workspace() as ws:
            external = {v["video_id"] for v in ws.catalog.query("videos", "kind='external'")}
        truth: dict[str, dict[str, float]] = {}
        for pid, p in sorted(pairs.items()):
            flagged = clips[p["clip_id"]]["status"] != "ok"
            mq = 2.5 if flagged else float(np.clip(rng.normal(4.2, 0.5), 1, 5))
            library_fit = p["video_id"] in external and (p.get("labels") or {}).get("pairing", {}).get(
                "same_sub_category")
            rp = float(np.clip(rng.normal(4.2 if p["origin"] == "source" or library_fit else 3.5, 0.6), 1, 5))
            if rng.random() < 0.12 and not library_fit:  # a few pairs whose reaction does not fit
                rp = 1.8
            truth[pid] = {"motion_quality": mq, "reaction_plausibility": rp}
        return truth

    def _inspect(self, rounds: Any, rating_round: str, suspect: str) -> tuple[Any, int]:
        """QC 2: an inspection round over the suspect annotator's counted annotations; the SIMULATED inspector
        rejects those more than 1 point below the others on either dimension. Returns (round, rejected)."""
        from vimo.annotation.simulated import SimulatedAnnotator, choices_region, ensure_user, submit

        insp = rounds.create("inspection", "main", overlap=1, source_round=rating_round)
        items = [it for it in rounds.inspection_items(insp.id) if it.data["annotator"] == suspect]
        rounds.push(insp.id, items)
        others: dict[tuple[str, str], list[float]] = {}
        own: dict[tuple[str, str], float] = {}
        for x in rounds.ratings(rating_round):
            if x.annotator == suspect:
                own[(x.task, x.dimension)] = x.score
            else:
                others.setdefault((x.task, x.dimension), []).append(x.score)
        uid = ensure_user(rounds.client, SimulatedAnnotator("inspector", seed=self.cfg.seed * 10 + 31))
        rejected = 0
        for t, info in sorted(rounds.ledger.tasks(insp.id).items()):
            src_task = info["data"]["src_task"]
            off = any(np.mean(others.get((src_task, d), [own[(src_task, d)]])) - own[(src_task, d)] > 1.0
                      for d in ("motion_quality", "reaction_plausibility") if (src_task, d) in own)
            rejected += off
            submit(rounds.client, info["ls_task_id"], uid,
                   [choices_region("verdict", ["reject" if off else "accept"], "summary")])
        rounds.pull(insp.id)
        rounds.close(insp.id, pull=False)
        return insp, rejected

    # -- 9. release
    def step_release(self, res: DemoResult) -> dict[str, Any]:
        from vimo.release import build_release, load_recipe, verify_release

        recipe_path = self.out / "release.toml"
        atomic.write_text(recipe_path, _recipe_toml(self.ws_root, self.cfg.seed))
        self.command(f"vimo release build {recipe_path}   # then: vimo release verify RELEASE")
        self.r.detail("release: build (pairs, splits, features, data card)", 0, 2)
        built = build_release(load_recipe(recipe_path), progress=lambda msg: self.r.detail(f"release: {msg}", 0, 2))
        self.r.detail("release: verify", 1, 2)
        problems = verify_release(built.path)
        if problems:
            raise VimoError(f"the demo release does not verify: {problems[0]}", path=built.path,
                            fix="report this as a vimo bug")
        self.r.detail("release: verified", 2, 2)
        splits = sorted(p.relative_to(built.path).as_posix() for p in built.path.rglob("*.txt")
                        if p.parent != built.path or p.stem in ("train", "val", "test"))
        figures = {f"release {k}": v for k, v in built.counts.items() if isinstance(v, (int, float, str))}
        figures["split lists"] = len(splits)
        figures["verify problems"] = 0
        return {"artefacts": {"release": str(built.path), "data card": str(built.path / "README.md"),
                              "recipe": str(recipe_path)},
                "figures": figures, "splits": splits, "release": str(built.path)}

    # -- 10. bench
    def step_bench(self, res: DemoResult) -> dict[str, Any]:
        from vimo.models.bench import BenchConfig, run_bench
        from vimo.models.report import write_leaderboard

        release = Path(self.done("release")["release"])
        out = self.out / "bench"
        s = self.s
        common = dict(preset="tiny", epochs=s.bench_epochs, evaluator_epochs=s.evaluator_epochs,
                      replications=s.replications, progress=False, batch_size=s.batch_size)
        epochs = f" --epochs {s.bench_epochs}" if s.bench_epochs is not None else ""
        self.command(f"vimo bench {release} --out {out / 'base'} --preset tiny{epochs} --replications {s.replications}")
        self.r.detail("bench base: trains the evaluator, RVQ-VAE, both transformers", 0, 3)
        run_bench(BenchConfig(release=release, out=out / "base", **common))
        evaluator = out / "base" / "evaluator" / "evaluator.tar"
        from vimo.models.video_encoder import FeatureCache

        features = FeatureCache.for_run(out / "base").root  # content-addressed: T2's videos are decoded once
        self.command(f"vimo bench {release} --split t2 --evaluator {evaluator} --out {out / 't2'} --preset tiny "
                     f"--feature-cache {features}")
        self.r.detail("bench T2: same evaluator, trained on splits/t2", 1, 3)
        run_bench(BenchConfig(release=release, out=out / "t2", evaluator=evaluator, split="t2", feature_cache=features,
                              **common))
        self.command(f"vimo leaderboard {out / 'base'} {out / 't2'} --out {out}")
        self.r.detail("bench: leaderboard", 2, 3)
        # an invalid bench is a result of the demo, not a failure of it: shown, labelled, with its first reason
        rows = write_leaderboard([out / "base", out / "t2"], out, "test", show_invalid=True)
        self.r.detail("bench: done", 3, 3)
        figures = {}
        for row in rows:
            key = row.get("split") or "base"
            figures[f"{key} FID"] = f"{row['fid']:.3f} ± {row['fid_ci95']:.3f}"
            if "diversity" in row:
                figures[f"{key} Diversity"] = f"{row['diversity']:.3f} ± {row['diversity_ci95']:.3f}"
            figures[f"{key} valid"] = "yes" if row.get("valid", True) else f"INVALID: {row['invalid_reason']}"
        return {"artefacts": {"bench base report": str(out / "base" / "report.md"),
                              "bench base results": str(out / "base" / "results.json"),
                              "bench t2 report": str(out / "t2" / "report.md"),
                              "leaderboard": str(out / "leaderboard.md")},
                "figures": figures}

    # -- 11. summary
    def step_summary(self, res: DemoResult) -> dict[str, Any]:
        figures = {f"{name}: {k}": v for name, rec in res.steps.items() for k, v in rec.get("figures", {}).items()}
        notes = sorted({n for rec in res.steps.values() for n in rec.get("notes", [])})
        summary = {"artefacts": res.artefacts, "figures": figures, "notes": notes,
                   "steps": {k: v.get("seconds") for k, v in res.steps.items()}, "seed": self.cfg.seed,
                   "reduced": self.cfg.reduced}
        atomic.write_json(self.out / "summary.json", summary)
        res.figures.update(figures)
        return {"artefacts": {"summary": str(self.out / "summary.json")}}


def _recipe_toml(ws: Path, seed: int) -> str:
    """The demo release's recipe (kept next to the release so `vimo release build` can rebuild it)."""
    return f"""# Recipe of the demo release, written by `vimo demo`.
[release]
name = "vimo-demo-e2e"
version = "0.1.0"
workspace = "{ws.resolve()}"
internal = true
description = \"\"\"Built by `vimo demo` from SYNTHETIC stand-ins of Inter-X, Ego-Humans and Harmony4D \\
(vimo.pipelines.samples) rated by SIMULATED annotators; restyled videos come from a local stand-in of Runway's API. \\
For trying the tool chain, not for benchmarking models.\"\"\"

[filters]
status = "accepted"
min_frames = 40
max_frames = 200

[split]
seed = {seed}
test_fraction = 0.3
n_unseen = 2
reactions_per_video = [2]
"""


def run_demo(cfg: DemoConfig, reporter: Reporter | None = None) -> DemoResult:
    """Run (or resume) every demo step; see the module docstring."""
    return Demo(cfg, reporter).run()


def summary_text(res: DemoResult) -> str:
    lines = ["vimo demo: done in " + _duration(res.seconds), ""]
    notes = sorted({n for rec in res.steps.values() for n in rec.get("notes", [])})
    for name, rec in res.steps.items():
        figs = rec.get("figures", {})
        if figs:
            lines.append(f"{name} ({_duration(rec.get('seconds') or 0.0)}):")
            lines += [f"  {k}: {_fmt(v)}" for k, v in figs.items()]
    lines += ["", "artefacts:"]
    lines += [f"  {k:<22} {_shown(v)}" for k, v in res.artefacts.items()]
    if notes:
        lines += ["", "labelled as such:"] + [f"  - {n}" for n in notes]
    ws = _shown(str(res.out / "ws"))
    lines += ["", "look around:",
              f"  vimo workspace status -w {ws}",
              f"  vimo pairs list --workspace {ws} --status accepted",
              f"  vimo annotate round status --workspace {ws}",
              f"  vimo annotate server start --workspace {ws}   # the rounds in Label Studio's UI (admin password: "
              "see annotation/README.md)"]
    if "release" in res.artefacts:
        lines.append(f"  vimo release verify {_shown(res.artefacts['release'])}")
    if "leaderboard" in res.artefacts:
        lines.append(f"  cat {_shown(res.artefacts['leaderboard'])}")
    return "\n".join(lines)


def _shown(path: str) -> str:
    """A path relative to the current folder when it lies below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _fmt(v: Any) -> str:
    return f"{v:,.4g}" if isinstance(v, float) else str(v)


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"
