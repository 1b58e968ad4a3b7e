"""Actor/reactor order audit: does the labelled actor start moving before the labelled reactor?

    audit = audit_order(actor_joints, reactor_joints, fps=20.0)
    if audit.suspect:
        flags.append(ORDER_FLAG)          # the label itself is kept as given

A reaction follows its stimulus, so in a correctly labelled two-person capture the actor's body
starts moving no later than the reactor's. Each person's *activity* is the largest speed, per frame,
of the root (pelvis), head, wrists and toes (world frame, m/s; a walk moves the pelvis, a push or
wave a wrist, a kick a foot, a bow the head), smoothed over `SMOOTH_S`. The *onset* is the first
frame from which the activity stays at or above `ONSET_SPEED_MPS` for `ONSET_HOLD_S`. A sequence is
suspect when the reactor's onset comes at least `SUSPECT_LEAD_S` before the actor's, or when the
reactor has an onset and the actor none. Onsets less than `SUSPECT_LEAD_S` apart (both people
moving from the start, a simultaneous start) are not flagged. Pure functions of (T, 22, 3) joints;
no I/O.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: QA flag of a clip whose labelled reactor starts moving clearly before its labelled actor
ORDER_FLAG = "order_suspect"
#: joints whose speed measures activity (SMPL order): pelvis, head, left / right wrist, left / right toe.
#: Root and wrists alone miss a bow (head and torso only) or a kick (a foot first).
ONSET_JOINTS = (0, 15, 20, 21, 10, 11)
#: activity threshold (m/s). A person standing still (sway, breathing, fitting jitter) stays below
#: about 0.1 m/s at these joints; a deliberate hand movement or a step starts well above 0.3 m/s.
ONSET_SPEED_MPS = 0.3
#: the activity must stay above the threshold this long (s) to count as an onset, so that a single
#: fidget or a tracking spike does not
ONSET_HOLD_S = 0.25
#: centred moving-average window (s) applied to the activity before thresholding (3 frames at 20 fps)
SMOOTH_S = 0.15
#: the reactor must start at least this much earlier than the actor (s) for the order to be suspect;
#: a human reaction time is 0.2-0.3 s, so a reactor half a second ahead is not reacting to the actor
SUSPECT_LEAD_S = 0.5


@dataclass(frozen=True)
class OrderAudit:
    """Result of `audit_order`. Onset frames are rows of the audited arrays (None: never moves);
    `lead_s` = (actor onset - reactor onset) / fps, positive when the reactor moves first (None when
    either onset is missing)."""

    fps: float
    actor_onset_frame: int | None
    reactor_onset_frame: int | None
    lead_s: float | None
    suspect: bool

    def as_dict(self) -> dict:
        """JSON-ready, with the thresholds the figures were measured against."""
        return {**asdict(self), "thresholds": thresholds()}

    def reason(self, actor: str = "actor", reactor: str = "reactor") -> str:
        """One line explaining the verdict, e.g. for a clip listing."""
        if self.reactor_onset_frame is None:
            return f"{reactor} never starts moving"
        r = self.reactor_onset_frame / self.fps
        if self.actor_onset_frame is None:
            return f"labelled reactor {reactor} starts moving at {r:.2f} s, labelled actor {actor} never does"
        a = self.actor_onset_frame / self.fps
        return f"labelled reactor {reactor} starts moving at {r:.2f} s, labelled actor {actor} at {a:.2f} s"


def thresholds() -> dict[str, float | list[int]]:
    return {"onset_speed_mps": ONSET_SPEED_MPS, "onset_hold_s": ONSET_HOLD_S, "smooth_s": SMOOTH_S,
            "suspect_lead_s": SUSPECT_LEAD_S, "joints": list(ONSET_JOINTS)}


def activity(joints: np.ndarray, fps: float) -> np.ndarray:
    """(T, 22, 3) metres -> (T,) m/s: the largest speed of the ONSET_JOINTS per frame, smoothed.
    Row t holds the speed between frames t and t+1 (the last row repeats the one before)."""
    j = np.asarray(joints, dtype=np.float64)[:, list(ONSET_JOINTS)]
    if len(j) < 2:
        return np.zeros(len(j))
    speed = np.linalg.norm(np.diff(j, axis=0), axis=-1).max(axis=1) * fps
    speed = np.append(speed, speed[-1])
    half = int(round(SMOOTH_S * fps)) // 2
    if half > 0:
        padded = np.pad(speed, half, mode="edge")
        speed = np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")
    return speed


def onset_frame(joints: np.ndarray, fps: float) -> int | None:
    """First row from which the activity stays >= ONSET_SPEED_MPS for ONSET_HOLD_S (None: never)."""
    above = activity(joints, fps) >= ONSET_SPEED_MPS
    hold = max(1, int(round(ONSET_HOLD_S * fps)))
    if len(above) < hold:
        return None
    runs = np.convolve(above.astype(int), np.ones(hold, dtype=int), mode="valid")
    hits = np.flatnonzero(runs == hold)
    return int(hits[0]) if len(hits) else None


def audit_order(actor: np.ndarray, reactor: np.ndarray, fps: float) -> OrderAudit:
    """Compare the movement onsets of the labelled actor and reactor, (T, 22, 3) each, one world
    frame, metres, at `fps`."""
    a, r = onset_frame(actor, fps), onset_frame(reactor, fps)
    lead = None if a is None or r is None else (a - r) / fps
    suspect = r is not None and (a is None or lead >= SUSPECT_LEAD_S - 1e-9)
    return OrderAudit(fps=float(fps), actor_onset_frame=a, reactor_onset_frame=r,
                      lead_s=None if lead is None else round(lead, 6), suspect=bool(suspect))
