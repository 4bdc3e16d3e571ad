"""The body of the learning route: the challengers being judged now, each line's triggers and
trainings, and the rules' latest verdicts. Times are epoch milliseconds, UTC."""

from __future__ import annotations

from quantum_trader.api.schemas import Out
from quantum_trader.api.schemas_models import StageChangeOut


class ChallengerOut(Out):
    key: str  # MODEL/SCOPE/hHORIZON
    version: int
    stage: str  # SHADOW (judged beside production) or CANARY (a share of the votes)
    since: int  # engine time it entered that stage
    actor: str  # who put it there
    reason: str  # why (a rule's evidence, or a person's words)
    registered_reason: str  # why it was made: the training's trigger


class TriggerOut(Out):
    kind: str  # SCHEDULE, DRIFT, COVARIATE_SHIFT or DECAY
    model: str
    symbol: str  # a symbol, or "global" for a global line
    at: int  # engine time the trigger was raised
    detail: str


class LineLearningOut(Out):
    line: str  # MODEL/SCOPE/hHORIZON as the learning daemon names it
    last_trained: int | None  # engine time of the line's last training started
    in_flight: TriggerOut | None  # a training running now, and what asked for it
    waiting: list[TriggerOut]  # triggers waiting for the line (at most one is kept)


class VerdictOut(StageChangeOut):
    """A rule's stage change (actor ``rule:<name>``) of the line ``key``."""

    key: str


class LearningOut(Out):
    run_id: str | None  # the run whose learning daemon the lines come from
    challengers: list[ChallengerOut]
    lines: list[LineLearningOut]  # empty: no run, or a run without continuous learning
    verdicts: list[VerdictOut]  # the rules' newest stage changes, newest first
