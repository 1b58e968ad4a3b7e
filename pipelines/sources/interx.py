"""Inter-X (Xu et al., CVPR 2024): SMPL-X parameters of two people at 120 fps -> 20 fps joints.

    vimo convert interx /data/Inter-X_Dataset --workspace ws --body-models ~/body_models

Layout and facts: docs/sources.md §2. Joints come from the joints-only forward kinematics
of vimo.pipelines.body on every 6th frame only (120 -> 20 fps), with the person's own gendered
SMPL-X model and betas (or, with --neutral, the neutral model and zero betas as the official
preprocessing does). The actor/reactor reading of interaction_order.pkl is a switch; its raw value
is recorded in every clip.

Order audit: some interaction_order labels are reported wrong, so every sequence's movement onsets
are measured (vimo.pipelines.order_audit: root/head/wrist/toe speed >= 0.3 m/s held 0.25 s). When the
labelled reactor starts moving at least 0.5 s before the labelled actor (or the actor never moves),
the clips get the QA flag `order_suspect`; the label is kept as given and both onsets go into the
clip's provenance (`order_audit`). Releases leave flagged clips out unless the recipe allows them;
the recipe filter `drop_flags = ["order_suspect"]` drops them even then. docs/sources.md §2.3.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vimo.errors import InputFormatError, MotionError
from vimo.pipelines import canonical, order_audit
from vimo.pipelines.sources.base import (
    ClipRef, Source, SourceConfig, TwoPersonMotion, check_frame_count, printable_name, read_npz, read_pickle,
    read_text_lenient, register_source,
)

# ----------------------------------------------------------------------------- conventions
FPS = 120
STRIDE = 6  # 120 / 6 = 20 fps exactly
UP_AXIS = "+y"
UNITS = "metres"
BODY_MODEL = "smplx"
NUM_BETAS = 10
PERSONS = ("P1", "P2")
#: keys and per-frame widths of motions/<seq>/P{1,2}.npz
NPZ_KEYS = {"root_orient": 3, "pose_body": 63, "trans": 3}
GENDERS = ("male", "female", "neutral")
#: default reading of annots/interaction_order.pkl: P1 is the actor when the order is 1 (the code
#: convention of Inter-X's own preprocessing, ReGenNet and Think-Then-React; the README says the
#: opposite; docs/sources.md §2.3)
ACTOR_IS_P1_WHEN_ORDER = 1
LICENCE = ("Inter-X licence: non-commercial research only, no redistribution in any form (incl. modified); "
           "annotations CC BY-NC-SA 4.0")
REDISTRIBUTABLE = False

EXPECTED_TREE = """\
Inter-X_Dataset/
  motions/<seq_id>/P1.npz, P2.npz      SMPL-X parameters, 120 fps (unzipped motions.zip)
  annots/interaction_order.pkl         dict seq_id -> 0/1
  annots/action_setting.txt            40 action names, line i = action i
  splits/{train,val,test}.txt          optional
  texts/<seq_id>.txt                   optional (unzipped texts.zip)
body models (--body-models DIR):
  DIR/smplx/SMPLX_MALE.npz|pkl, SMPLX_FEMALE.npz|pkl   (SMPLX_NEUTRAL with --neutral)"""


@dataclass
class InterXConfig(SourceConfig):
    """Inter-X options."""

    neutral: bool = field(default=False, metadata={
        "help": "neutral SMPL-X model with zero betas (as the official preprocessing) instead of the "
                "person's gendered model and betas"})
    actor_order: int = field(default=ACTOR_IS_P1_WHEN_ORDER, metadata={
        "help": "the interaction_order.pkl value that makes P1 the actor (1: code convention, default; "
                "0: the README's reading)"})
    split: str = field(default="all", metadata={
        "help": "convert only the sequences listed in splits/<split>.txt (all: every sequence)"})


def parse_sequence_id(seq: str) -> dict[str, int]:
    """GgggTtttAaaaRrrr -> group, take, action, repetition (docs/sources.md §2.2)."""
    if len(seq) != 16 or [seq[i] for i in (0, 4, 8, 12)] != list("GTAR") or not all(
            seq[i:i + 3].isdigit() for i in (1, 5, 9, 13)):
        raise InputFormatError(f"sequence id {seq!r} is not GgggTtttAaaaRrrr", path=seq,
                               fix="keep the official folder names under motions/")
    return {"group": int(seq[1:4]), "take": int(seq[5:8]), "action": int(seq[9:12]), "repetition": int(seq[13:16])}


def read_person(path: Path) -> dict[str, Any]:
    """One Inter-X person file -> root_orient (T, 3), pose_body (T, 63), trans (T, 3), betas (10,),
    gender str, all checked (keys, shapes, equal frame counts, finite values, gender string)."""
    raw = read_npz(path, what="Inter-X motion file")
    out: dict[str, Any] = {}
    frames = None
    for key, width in NPZ_KEYS.items():
        if key not in raw:
            raise InputFormatError(f"has no key '{key}' (keys: {', '.join(sorted(raw))})", path=path,
                                   fix="re-extract motions.zip; every P1/P2.npz holds root_orient, pose_body, "
                                       "trans, betas, gender")
        arr = np.asarray(raw[key])
        if arr.dtype.kind not in "fiu" or arr.ndim < 2 or int(np.prod(arr.shape[1:])) != width:
            raise InputFormatError(f"key '{key}' has shape {arr.shape} dtype {arr.dtype}, expected (T, {width})",
                                   path=path, fix="re-extract motions.zip")
        check_frame_count(len(arr), path=path, fix="re-extract motions.zip, or exclude the sequence")
        arr = arr.reshape(len(arr), width).astype(np.float64)
        if frames is not None and len(arr) != frames:
            raise InputFormatError(f"key '{key}' has {len(arr)} frames, root_orient has {frames}", path=path,
                                   fix="re-extract motions.zip")
        frames = len(arr)
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            raise MotionError(f"key '{key}' has NaN/inf in {int(bad.sum())} frame(s) (first: frame "
                              f"{int(np.flatnonzero(bad)[0])})", path=path,
                              fix="exclude this sequence or repair the frames")
        out[key] = arr
    for key in ("betas", "gender"):
        if key not in raw:
            raise InputFormatError(f"has no key '{key}'", path=path, fix="re-extract motions.zip")
    betas = np.asarray(raw["betas"], dtype=np.float64).reshape(-1)
    if betas.size < 1 or betas.size > 300 or not np.isfinite(betas).all():
        raise InputFormatError(f"key 'betas' has shape {np.shape(raw['betas'])} or non-finite values, "
                               "expected (1, 10)", path=path, fix="re-extract motions.zip")
    out["betas"] = betas[:NUM_BETAS]
    g = raw["gender"]
    gender = g.decode() if isinstance(g, bytes) else str(np.asarray(g).item() if isinstance(g, np.ndarray) else g)
    gender = gender.strip().lower()
    if gender not in GENDERS:
        raise InputFormatError(f"key 'gender' is {gender!r}, expected one of {', '.join(GENDERS)}", path=path,
                               fix="fix the gender string or convert with --neutral")
    out["gender"] = gender
    return out


_MODELS: dict[tuple[str, str], Any] = {}


def _model(folder: Path, gender: str):
    """Body models are loaded once per worker process."""
    from vimo.pipelines.body import load_body_model

    key = (str(folder), gender)
    if key not in _MODELS:
        _MODELS[key] = load_body_model(folder, BODY_MODEL, gender)
    return _MODELS[key]


@register_source("interx")
class InterXSource(Source):
    config_class = InterXConfig
    summary = ("Inter-X: SMPL-X two-person MoCap, 120 fps, Y up (needs SMPL-X model files); clips whose labelled "
               "reactor moves first are flagged order_suspect, labels kept")
    licence = LICENCE
    expected_tree = EXPECTED_TREE
    config: InterXConfig

    def _genders_needed(self) -> tuple[str, ...]:
        return ("neutral",) if self.config.neutral else ("male", "female")

    def preflight(self) -> list[str]:
        from vimo.pipelines.body import body_model_problems

        problems = []
        if not self.root.is_dir():
            return [f"{self.root}: the Inter-X root folder does not exist"]
        for rel, kind in (("motions", "dir"), ("annots/interaction_order.pkl", "file"),
                          ("annots/action_setting.txt", "file")):
            p = self.root / rel
            if not (p.is_dir() if kind == "dir" else p.is_file()):
                problems.append(f"{p}: missing")
        if self.config.split != "all" and not (self.root / "splits" / f"{self.config.split}.txt").is_file():
            problems.append(f"{self.root / 'splits' / (self.config.split + '.txt')}: missing (asked for --split "
                            f"{self.config.split})")
        if self.config.actor_order not in (0, 1):
            problems.append(f"--actor-order must be 0 or 1, got {self.config.actor_order}")
        if self.config.body_models is None:  # genders are read from the tree only when models are given
            return problems + body_model_problems(None, BODY_MODEL, (), source="Inter-X")
        return problems + body_model_problems(self.config.body_models, BODY_MODEL, self._genders_needed(),
                                              source="Inter-X")

    def discover(self) -> list[ClipRef]:
        motions = self.root / "motions"
        seqs = sorted(p.name for p in motions.iterdir() if p.is_dir() or p.is_symlink())
        if self.config.split != "all":
            listed = set(read_text_lenient(self.root / "splits" / f"{self.config.split}.txt")[0].split())
            seqs = [s for s in seqs if s in listed]
        return [ClipRef(key=printable_name(s), sequence_id=s, paths=(f"motions/{s}/P1.npz", f"motions/{s}/P2.npz"))
                for s in seqs]

    # -- per-run annotations, read once per process
    def _orders(self) -> dict[str, Any]:
        if not hasattr(self, "_order_cache"):
            path = self.inside_root("annots/interaction_order.pkl")
            data = read_pickle(path, what="Inter-X interaction_order.pkl")
            if not isinstance(data, dict):
                raise InputFormatError(f"holds a {type(data).__name__}, expected a dict seq_id -> 0/1", path=path,
                                       fix="restore annots/interaction_order.pkl from the download")
            self._order_cache = data
        return self._order_cache

    def _actions(self) -> tuple[list[str], str | None]:
        """The action names (line i = action i) and the encoding note of the file (None: UTF-8)."""
        if not hasattr(self, "_action_cache"):
            text, note = read_text_lenient(self.inside_root("annots/action_setting.txt"))
            self._action_cache = ([ln.strip() for ln in text.splitlines() if ln.strip()], note)
        return self._action_cache

    def _splits(self) -> dict[str, str]:
        if not hasattr(self, "_split_cache"):
            self._split_cache = {}
            for name in ("train", "val", "test"):
                p = self.root / "splits" / f"{name}.txt"
                if p.is_file():
                    for s in read_text_lenient(p)[0].split():
                        self._split_cache[s] = name
        return self._split_cache

    def load(self, ref: ClipRef) -> list[TwoPersonMotion]:
        from vimo.pipelines.body import forward_joints, rest_joints

        self.check_names(ref)
        seq = ref.sequence_id
        ids = parse_sequence_id(seq)
        paths = [self.inside_root(p) for p in ref.paths]
        people = [read_person(p) for p in paths]
        if len(people[0]["trans"]) != len(people[1]["trans"]):
            raise InputFormatError(f"P1 has {len(people[0]['trans'])} frames, P2 has {len(people[1]['trans'])}",
                                   path=paths[1], fix="both persons of a sequence must have the same frame count; "
                                                      "exclude the sequence or re-extract it")
        orders = self._orders()
        if seq not in orders:
            raise InputFormatError(f"has no entry for {seq}", path=self.inside_root("annots/interaction_order.pkl"),
                                   fix="restore the official interaction_order.pkl, or exclude the sequence")
        raw_order = orders[seq]
        if raw_order not in (0, 1):
            raise InputFormatError(f"entry {seq} is {raw_order!r}, expected 0 or 1",
                                   path=self.inside_root("annots/interaction_order.pkl"), fix="restore the file")
        frames = len(people[0]["trans"])
        keep = np.arange(0, frames, STRIDE)
        joints = []
        for person, path in zip(people, paths):
            gender = "neutral" if self.config.neutral else person["gender"]
            model = _model(Path(self.config.body_models), gender)
            betas = None if self.config.neutral else person["betas"]
            rest = rest_joints(model, betas)
            j = forward_joints(model, rest, person["root_orient"][keep], person["pose_body"][keep],
                               person["trans"][keep])
            canonical.check_units(j, FPS / STRIDE, path=path, who=path.stem)
            joints.append(j)
        canonical.check_declared_up(joints, UP_AXIS, path=paths[0])
        actor_is_p1 = int(raw_order) == int(self.config.actor_order)
        a, r = (0, 1) if actor_is_p1 else (1, 0)
        actions, action_note = self._actions()
        action = actions[ids["action"]] if ids["action"] < len(actions) else None
        encodings = [f"annots/action_setting.txt: {action_note}"] if action_note else []
        texts_path = self.root / "texts" / f"{seq}.txt"
        texts: list[str] = []
        if texts_path.is_file():
            text, note = read_text_lenient(self.inside_root(f"texts/{seq}.txt"))
            texts = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if note:
                encodings.append(f"texts/{seq}.txt: {note}")
        rule = (f"actor_is_p1 = (interaction_order == {self.config.actor_order})")
        provenance = {
            "source": self.name, "sequence_id": seq, "source_fps": FPS, "stride": STRIDE,
            "files": list(ref.paths), "actor_reactor_rule": rule, "raw_label": {"interaction_order": int(raw_order)},
            "licence": LICENCE, "redistributable": REDISTRIBUTABLE, "split": self._splits().get(seq),
            "body_model": {"type": BODY_MODEL, "genders": [p["gender"] for p in people],
                           "neutral": self.config.neutral, "betas": not self.config.neutral},
            "up_axis": {"declared": UP_AXIS},
            "interx": ids,
        }
        if encodings:  # label files that are not UTF-8, read as shipped
            provenance["text_encodings"] = encodings
        audit = order_audit.audit_order(joints[a], joints[r], FPS / STRIDE)
        provenance["order_audit"] = audit_record(audit, PERSONS[a], PERSONS[r])
        labels = {"action_id": ids["action"], "action": action, "texts": texts}
        return [TwoPersonMotion(
            reactor=joints[r].astype(np.float32), actor=joints[a].astype(np.float32), fps=FPS / STRIDE,
            source_frames=keep, direction="", persons={"reactor": PERSONS[r], "actor": PERSONS[a]},
            provenance=provenance, labels=labels, qa_flags=[order_audit.ORDER_FLAG] if audit.suspect else [])]


def audit_record(audit: order_audit.OrderAudit, actor: str, reactor: str) -> dict[str, Any]:
    """The clip provenance entry of an order audit: onsets as rows of the 20 fps sequence and as
    120 fps source frames, the lead in seconds, the verdict and its reason, the thresholds."""
    rec = audit.as_dict()
    for who in ("actor", "reactor"):
        row = rec[f"{who}_onset_frame"]
        rec[f"{who}_onset_source_frame"] = None if row is None else row * STRIDE
    rec.update(actor=actor, reactor=reactor, label_kept=True, reason=audit.reason(actor, reactor))
    return rec
