"""Synthetic members whose hits and misses the test controls, and a replay driver."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from quantum_trader.intelligence import Intelligence, horizon_end_time

HOUR = 3_600_000
HORIZON = 4
DOWN, FLAT, UP = 0, 1, 2


def vote(direction: int, confidence: float = 0.7) -> tuple[float, float, float]:
    """Probabilities with ``confidence`` on ``direction`` and the rest split evenly."""
    rest = (1.0 - confidence) / 2
    probs = [rest, rest, rest]
    probs[direction] = confidence
    return (probs[0], probs[1], probs[2])


def inverted(probs: tuple[float, float, float]) -> tuple[float, float, float]:
    """Swap DOWN and UP: the member now says the opposite."""
    return (probs[2], probs[1], probs[0])


@dataclass
class Member:
    """Right with probability ``skill``; ``inverted_when(step)`` flips its vote."""

    name: str
    skill: float
    inverted_when: Callable[[int], bool] = field(default=lambda step: False)

    def predict(
        self, label: int, step: int, rng: np.random.Generator
    ) -> tuple[float, float, float]:
        right = rng.random() < self.skill
        direction = label if right else (UP if label == DOWN else DOWN)
        probs = vote(direction)
        return inverted(probs) if self.inverted_when(step) else probs


@dataclass
class Replay:
    """Hourly candles for one or more symbols; labels DOWN/UP drawn by a seeded generator."""

    members: list[Member]
    symbols: tuple[str, ...] = ("BTCUSDT",)
    seed: int = 1
    labels: dict[tuple[str, int], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def label(self, symbol: str, t: int) -> int | None:
        return self.labels.get((symbol, t))

    def step(self, intel: Intelligence, step: int) -> None:
        """Candle ``step`` closes: resolve what is due, then every member votes on it."""
        t = step * HOUR
        now = t + HOUR  # the candle opened at t has closed
        intel.resolve(now, self.label)
        for symbol in self.symbols:
            label = DOWN if self.rng.random() < 0.5 else UP
            # the label is decided now but only *known* after the horizon: the ledger may not
            # resolve it before horizon_end, which the ledger test checks separately
            self.labels[(symbol, t)] = label
            for member in self.members:
                intel.observe(
                    symbol,
                    member.name,
                    member.predict(label, step, self.rng),
                    t,
                    horizon_end_time(t, HORIZON, HOUR),
                )
