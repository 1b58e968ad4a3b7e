"""Inter-X actor/reactor order audit: movement onsets, the order_suspect flag on a fake Inter-X tree, its count
in the convert summary, its provenance and `vimo clips list`."""
from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from vimo.pipelines import order_audit
from vimo.pipelines.body import load_body_model
from vimo.pipelines.convert import ConvertOptions, convert, list_clips
from vimo.pipelines.samples.sources import INTERX_ACTIONS, write_body_models, write_interx_person
from vimo.pipelines.sources import get_source
from vimo.synthetic import generate
from vimo.workspace import Workspace

FPS = 20.0
SECONDS = 4.0


def standing_poses() -> tuple[np.ndarray, np.ndarray]:
    """Two people standing face to face, (22, 3) each, metres, Y up."""
    x = generate("wave", seed=0, fps=20, duration_s=2.0)
    return x.actor[0].astype(np.float64), x.reactor[0].astype(np.float64)


def moving_forearm(pose: np.ndarray, fps: float, onset_s: float | None, seconds: float = SECONDS) -> np.ndarray:
    """(T, 22, 3): `pose` held still, then from `onset_s` the right forearm swings about the elbow
    (1.2 rad amplitude, 4 rad/s: the wrist starts at about 1 m/s); the rest of the body stays still."""
    n = int(round(seconds * fps))
    t = np.arange(n) / fps
    joints = np.repeat(pose[None], n, axis=0)
    if onset_s is None:
        return joints
    elbow, forearm = pose[19], pose[21] - pose[19]
    axis = np.cross(forearm, [0.0, 1.0, 0.0])
    axis /= np.linalg.norm(axis)
    theta = np.where(t >= onset_s, 1.2 * np.sin(4.0 * (t - onset_s)), 0.0)
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    rotated = forearm * c + np.cross(axis, forearm) * s + axis * (axis @ forearm) * (1 - c)  # Rodrigues
    joints[:, 21] = elbow + rotated
    return joints


# ----------------------------------------------------------------------------- the pure audit

@pytest.mark.parametrize("actor_s, reactor_s, suspect", [
    (2.0, 0.75, True),    # labelled reactor moves 1.25 s first: mislabelled
    (0.75, 1.5, False),   # actor first, reactor 0.75 s later: a reaction
    (1.0, 1.0, False),    # simultaneous start
    (1.3, 1.0, False),    # reactor 0.3 s ahead: within SUSPECT_LEAD_S, borderline, not flagged
    (None, 1.0, True),    # labelled actor never moves, labelled reactor does
    (1.0, None, False),   # reactor never moves
    (None, None, False),  # nobody moves
])
def test_onsets_and_verdict(actor_s, reactor_s, suspect):
    a_pose, r_pose = standing_poses()
    audit = order_audit.audit_order(moving_forearm(a_pose, FPS, actor_s), moving_forearm(r_pose, FPS, reactor_s), FPS)
    assert audit.suspect is suspect
    for measured, true in ((audit.actor_onset_frame, actor_s), (audit.reactor_onset_frame, reactor_s)):
        if true is None:
            assert measured is None
        else:  # the 3-frame smoothing may move an onset one frame earlier
            assert true * FPS - 1 <= measured <= true * FPS
    if actor_s is not None and reactor_s is not None:
        assert audit.lead_s == pytest.approx(actor_s - reactor_s, abs=1.0 / FPS)
    else:
        assert audit.lead_s is None


def test_a_short_fidget_is_not_an_onset():
    _, pose = standing_poses()
    still = moving_forearm(pose, FPS, None)
    fidget = still.copy()
    fidget[10:12, 21] += [0.0, 0.03, 0.0]  # a 0.1 s twitch of the wrist (0.6 m/s for one frame each way)
    assert order_audit.activity(fidget, FPS).max() > order_audit.ONSET_SPEED_MPS
    assert order_audit.onset_frame(fidget, FPS) is None
    steady = moving_forearm(pose, FPS, 1.0)
    assert order_audit.onset_frame(steady, FPS) in (19, 20)


def test_lead_threshold_is_the_documented_constant():
    a_pose, r_pose = standing_poses()
    lead = order_audit.SUSPECT_LEAD_S
    just_over = order_audit.audit_order(moving_forearm(a_pose, FPS, 1.0 + lead), moving_forearm(r_pose, FPS, 1.0),
                                        FPS)
    just_under = order_audit.audit_order(moving_forearm(a_pose, FPS, 1.0 + lead - 2 / FPS),
                                         moving_forearm(r_pose, FPS, 1.0), FPS)
    assert just_over.suspect and just_over.lead_s == pytest.approx(lead)
    assert not just_under.suspect
    assert just_over.as_dict()["thresholds"]["suspect_lead_s"] == lead


# ----------------------------------------------------------------------------- through the Inter-X converter

#: sequence -> (labelled actor onset, labelled reactor onset), seconds; P1 is the labelled actor (order 1)
SEQUENCES = {
    "G001T000A007R000": (2.0, 0.75),   # Push, mislabelled: the labelled reactor moves first
    "G001T001A007R001": (0.75, 1.5),   # Push, correct
    "G001T002A001R002": (1.0, 1.0),    # Handshake, simultaneous
}


@pytest.fixture(scope="module")
def interx_root(tmp_path_factory):
    """A fake Inter-X tree of the three SEQUENCES (120 fps SMPL-X files fitted to the tracks above)."""
    tmp = tmp_path_factory.mktemp("ix-order")
    models = write_body_models(tmp / "models", "smplx", ("male", "female"))
    root = tmp / "Inter-X_Dataset"
    a_pose, r_pose = standing_poses()
    rng = np.random.default_rng(0)
    for seq, (actor_s, reactor_s) in SEQUENCES.items():
        for name, pose, onset, gender in (("P1", a_pose, actor_s, "male"), ("P2", r_pose, reactor_s, "female")):
            model = load_body_model(models, "smplx", gender)
            write_interx_person(root / "motions" / seq / f"{name}.npz", moving_forearm(pose, 120.0, onset), model,
                                rng.normal(0.0, 0.3, 10), gender, rng=rng)
    (root / "annots").mkdir(parents=True)
    (root / "annots" / "interaction_order.pkl").write_bytes(pickle.dumps({s: 1 for s in SEQUENCES}, protocol=2))
    (root / "annots" / "action_setting.txt").write_text("\n".join(INTERX_ACTIONS) + "\n")
    return root, models


@pytest.fixture(scope="module")
def converted(interx_root, tmp_path_factory):
    root, models = interx_root
    cls = get_source("interx")
    ws = tmp_path_factory.mktemp("ix-ws") / "ws"
    summary = convert(cls(root, cls.config_class(body_models=models)), ConvertOptions(workspace=ws))
    return ws, summary


def test_mislabelled_sequence_is_flagged_and_the_label_kept(converted):
    ws, summary = converted
    assert summary.converted == 3 and summary.quarantined == 0
    clips = {c["sequence_id"]: c for c in list_clips(ws)}
    assert set(clips) == set(SEQUENCES)
    for seq, (actor_s, reactor_s) in SEQUENCES.items():
        c = clips[seq]
        audit = c["provenance"]["order_audit"]
        flagged = seq == "G001T000A007R000"
        assert ("order_suspect" in c["qa"]["flags"]) is flagged
        # never flipped: P1 stays the actor as interaction_order says
        assert c["persons"] == {"actor": "P1", "reactor": "P2"}
        assert c["provenance"]["raw_label"] == {"interaction_order": 1} and audit["label_kept"] is True
        assert audit["lead_s"] == pytest.approx(actor_s - reactor_s, abs=1.0 / FPS)
        assert actor_s * FPS - 1 <= audit["actor_onset_frame"] <= actor_s * FPS
        assert audit["actor_onset_source_frame"] == 6 * audit["actor_onset_frame"]
        assert audit["suspect"] is flagged
    with Workspace.open(ws) as w:
        rows = {r["sequence_id"]: r for r in w.catalog.clips(source="interx")}
    assert rows["G001T000A007R000"]["status"] == "flagged"
    assert "order_suspect" in rows["G001T000A007R000"]["reason"]
    assert {rows[s]["status"] for s in ("G001T001A007R001", "G001T002A001R002")} == {"ok"}


def test_flag_counted_in_the_convert_summary_also_when_skipped(converted, interx_root):
    ws, summary = converted
    assert summary.flags == {"order_suspect": 1}
    assert summary.as_dict()["flags"] == {"order_suspect": 1}
    root, models = interx_root
    cls = get_source("interx")
    again = convert(cls(root, cls.config_class(body_models=models)), ConvertOptions(workspace=ws))
    assert again.skipped == 3 and again.flags == {"order_suspect": 1}


def test_clips_list_shows_the_flag_its_lead_and_its_meaning(converted):
    from vimo.cli.clips import app

    ws, _ = converted
    res = CliRunner().invoke(app, ["list", "--workspace", str(ws)], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    text = re.sub(r"\s+", " ", res.output)
    lead = next(c for c in list_clips(ws) if c["qa"]["flags"])["provenance"]["order_audit"]["lead_s"]
    assert f"order_suspect (reactor leads {lead:.2f} s)" in text
    assert "order_suspect (1 clip(s)): the labelled reactor starts moving clearly before the labelled actor" in text
    assert text.count("order_suspect (reactor leads") == 1
