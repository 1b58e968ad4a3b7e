"""SIMULATED annotators, for tests and demos only: never a source of real annotations.

Each simulated annotator scores a task from its hidden true scores plus Gaussian noise and a fixed
bias, rounded and clipped to 1-5, and submits through the Label Studio API on behalf of a Label
Studio user (the admin writes with `completed_by`). Their accounts are named `simulated-*` so
their annotations can never be mistaken for human ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

SIMULATED_PREFIX = "simulated-"


@dataclass
class SimulatedAnnotator:
    """A simulated rater: score = clip(round(true + bias + N(0, noise)), 1, 5)."""

    name: str
    noise: float = 0.5
    bias: float = 0.0
    seed: int = 0
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name.startswith(SIMULATED_PREFIX):
            self.name = SIMULATED_PREFIX + self.name
        self.rng = np.random.default_rng(self.seed)

    @property
    def email(self) -> str:
        return f"{self.name}@example.com"

    def score(self, true: float) -> int:
        return int(np.clip(np.rint(true + self.bias + self.rng.normal(0.0, self.noise)), 1, 5))

    def rating_result(self, truth: Mapping[str, float], flags: list[str] | None = None,
                      comment: str | None = None) -> list[dict[str, Any]]:
        """Result regions for the rating config, from true motion_quality / reaction_plausibility."""
        result = [rating_region(dim, self.score(truth[dim])) for dim in ("motion_quality", "reaction_plausibility")]
        if flags:
            result.append(choices_region("flags", flags))
        if comment:
            result.append(text_region("comment", comment))
        return result

    def choice_result(self, control: str, choices: tuple[str, str], p_first: float,
                      to_name: str = "reaction_video") -> list[dict[str, Any]]:
        """One of two choices, the first with probability `p_first` (screening, pairing)."""
        pick = choices[0] if self.rng.random() < p_first else choices[1]
        return [choices_region(control, [pick], to_name)]


def rating_region(control: str, value: int, to_name: str = "reaction_video") -> dict[str, Any]:
    return {"from_name": control, "to_name": to_name, "type": "rating", "value": {"rating": value}}


def choices_region(control: str, choices: list[str], to_name: str = "reaction_video") -> dict[str, Any]:
    return {"from_name": control, "to_name": to_name, "type": "choices", "value": {"choices": list(choices)}}


def text_region(control: str, text: str, to_name: str = "reaction_video") -> dict[str, Any]:
    return {"from_name": control, "to_name": to_name, "type": "textarea", "value": {"text": [text]}}


def ensure_user(client: Any, annotator: SimulatedAnnotator) -> int:
    """The Label Studio user id of a simulated annotator (created on first use)."""
    for u in client.users.list():
        if u.email == annotator.email:
            return int(u.id)
    user = client.users.create(username=annotator.name, email=annotator.email, first_name="SIMULATED",
                               last_name=annotator.name)
    return int(user.id)


def submit(client: Any, ls_task_id: int, user_id: int, result: list[dict[str, Any]],
           lead_time: float = 10.0, skipped: bool = False) -> int:
    """Submit an annotation on behalf of `user_id`; returns the annotation id."""
    if skipped:
        ann = client.annotations.create(ls_task_id, result=[], was_cancelled=True, completed_by=user_id)
    else:
        ann = client.annotations.create(ls_task_id, result=result, completed_by=user_id, lead_time=lead_time)
    return int(ann.id)
