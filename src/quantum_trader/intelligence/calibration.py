"""Live calibration of each (symbol, member) on its matured labels: discounted ECE, Brier score
and log-loss, updated in O(1) per label.

The figures are those of ``models/metrics.py`` (top-class ECE over ten equal-width confidence
bins of [0, 1], multi-class Brier, log-loss with the probability floored at ``PROB_FLOOR``),
with every label weighed ``discount ** age`` (age 0 for the newest, as reinforcement's
log-loss), so they follow the recent regime instead of the whole run. With a discount of 1 they
are the plain figures over every label seen.

Why per (symbol, member) and not per member: reinforcement keeps its log-loss per pair and
``/metrics`` already labels the recent log-loss by both; a member can be well calibrated on one
symbol and not on another, and the pair's accumulators add up to a member's figure should one
want it pooled.

How ECE stays O(1): ``ECE · N = Σ_b |correct_b − confidence_b|`` (the sums of bin ``b``), and a
label decays every bin by the same factor, so that sum ``G`` decays as a whole: ``G ← γ·G``, then
only the bin the label falls in changes, ``G += |gap_b after| − |gap_b before|``. A bin's own
sums are decayed lazily, by ``γ ** (labels since it was last touched)``, when the next label
falls in it. Rounding in ``G`` is forgotten at the rate of the discount (clamped at 0).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: confidence bins of the ECE, as ``models.metrics.expected_calibration_error``'s default
BINS = 10


@dataclass(slots=True)
class CalibrationEvidence:
    """One (symbol, member)'s discounted sums; every sum decays by the discount per label."""

    step: int = 0  # labels seen: the clock of the lazy bin decay
    count: float = 0.0  # N
    loss_sum: float = 0.0  # Σ log-loss
    brier_sum: float = 0.0  # Σ Brier score
    gap_sum: float = 0.0  # G = Σ_b |correct_b − confidence_b| = ECE · N
    # per bin, as of the bin's last label (``touched``): predictions, confidence sum, hits
    n: list[float] = field(default_factory=lambda: [0.0] * BINS)
    confidence: list[float] = field(default_factory=lambda: [0.0] * BINS)
    correct: list[float] = field(default_factory=lambda: [0.0] * BINS)
    touched: list[int] = field(default_factory=lambda: [0] * BINS)

    @property
    def ece(self) -> float:
        return self.gap_sum / self.count

    @property
    def brier(self) -> float:
        return self.brier_sum / self.count

    @property
    def log_loss(self) -> float:
        return self.loss_sum / self.count


class CalibrationFigures(NamedTuple):
    symbol: str
    model: str
    ece: float
    brier: float
    log_loss: float
    weight: float  # N, the discounted number of labels behind them


class ReliabilityBin(NamedTuple):
    """One confidence bin decayed to now: its weight, mean confidence and accuracy."""

    n: float
    confidence: float
    accuracy: float


class LiveCalibration:
    """Discounted calibration sums per (symbol, member), and the mean ECE and Brier over the
    pairs with enough evidence (the module's status gauges), kept up to date in O(1).

    >>> cal = LiveCalibration(discount=1.0)
    >>> cal.update("BTCUSDT", "xgb", (0.1, 0.2, 0.7), 2, 0.36)
    >>> cal.update("BTCUSDT", "xgb", (0.6, 0.3, 0.1), 1, 1.2)
    >>> [round(v, 6) for v in cal.figures("BTCUSDT", "xgb")[2:]]  # ECE, Brier, log-loss, N
    [0.45, 0.5, 0.78, 2.0]
    """

    def __init__(self, discount: float) -> None:
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"LiveCalibration.discount={discount}: must be in (0, 1]")
        self.discount = discount
        #: a pair counts in the means once its labels weigh half a full memory, 1 / (2 (1 − γ))
        #: (10 at 0.95), or 10 labels when nothing is discounted: a newcomer's first few labels
        #: would swing a mean of ECEs the most
        self.mature_at = 10.0 if discount == 1.0 else 0.5 / (1.0 - discount)
        self._pairs: dict[str, dict[str, CalibrationEvidence]] = {}
        self._ece_total = 0.0
        self._brier_total = 0.0
        self.mature = 0

    def update(
        self, symbol: str, model: str, probs: tuple[float, float, float], label: int, loss: float
    ) -> None:
        """Add one matured label; ``loss`` is its log-loss (``ResolvedPrediction.loss``)."""
        by_model = self._pairs.get(symbol)
        if by_model is None:
            by_model = self._pairs[symbol] = {}
        ev = by_model.get(model)
        if ev is None:
            ev = by_model[model] = CalibrationEvidence()
        was_mature = ev.count >= self.mature_at
        if was_mature:
            self._ece_total -= ev.gap_sum / ev.count
            self._brier_total -= ev.brier_sum / ev.count
        gamma = self.discount
        p0, p1, p2 = probs
        top = max(p0, p1, p2)
        # the first of a tie is the predicted class, as ResolvedPrediction.hit has it
        predicted = 0 if p0 == top else 1 if p1 == top else 2
        hit = 1.0 if predicted == label else 0.0
        b = int(top * BINS)
        if b == BINS:  # a confidence of 1 goes in the last bin, as models.metrics has it
            b = BINS - 1
        ev.step = t = ev.step + 1
        n, confidence, correct, touched = ev.n, ev.confidence, ev.correct, ev.touched
        decay = gamma ** (t - touched[b])
        conf_b = confidence[b] * decay
        correct_b = correct[b] * decay
        before = abs(correct_b - conf_b)
        n[b] = n[b] * decay + 1.0
        confidence[b] = conf_b = conf_b + top
        correct[b] = correct_b = correct_b + hit
        touched[b] = t
        gap = gamma * ev.gap_sum - before + abs(correct_b - conf_b)
        ev.gap_sum = gap if gap > 0.0 else 0.0
        # Σ_k (p_k − y_k)² = Σ_k p_k² − 2 p_label + 1
        p_label = p0 if label == 0 else p1 if label == 1 else p2
        ev.brier_sum = gamma * ev.brier_sum + (p0 * p0 + p1 * p1 + p2 * p2 - 2.0 * p_label + 1.0)
        ev.loss_sum = gamma * ev.loss_sum + loss
        ev.count = gamma * ev.count + 1.0
        if ev.count >= self.mature_at:
            self._ece_total += ev.gap_sum / ev.count
            self._brier_total += ev.brier_sum / ev.count
            self.mature += not was_mature
        elif was_mature:  # only with a state saved under a longer memory
            self.mature -= 1

    def figures(self, symbol: str, model: str) -> CalibrationFigures | None:
        ev = self._pairs.get(symbol, {}).get(model)
        if ev is None or ev.count <= 0:
            return None
        return CalibrationFigures(symbol, model, ev.ece, ev.brier, ev.log_loss, ev.count)

    def snapshot(self) -> Iterator[CalibrationFigures]:
        """Every pair with evidence, by symbol then member."""
        for symbol in sorted(self._pairs):
            for model in sorted(self._pairs[symbol]):
                figures = self.figures(symbol, model)
                if figures is not None:
                    yield figures

    def reliability(self, symbol: str, model: str) -> list[ReliabilityBin | None]:
        """The pair's bins decayed to now (None for an empty one): a reliability diagram, and
        the ECE again as ``Σ_b n_b · |accuracy_b − confidence_b| / N``."""
        ev = self._pairs[symbol][model]
        out: list[ReliabilityBin | None] = []
        for b in range(BINS):
            n = ev.n[b] * self.discount ** (ev.step - ev.touched[b])
            if n <= 0:
                out.append(None)
                continue
            scale = n / ev.n[b]  # the same decay for the three sums
            out.append(ReliabilityBin(n, ev.confidence[b] * scale / n, ev.correct[b] * scale / n))
        return out

    def mean_ece(self) -> float | None:
        """Mean live ECE over the pairs with enough evidence (None while there are none)."""
        return self._ece_total / self.mature if self.mature else None

    def mean_brier(self) -> float | None:
        return self._brier_total / self.mature if self.mature else None

    # --- persistence ------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            s: {
                m: {
                    "step": ev.step,
                    "count": ev.count,
                    "loss": ev.loss_sum,
                    "brier": ev.brier_sum,
                    "gap": ev.gap_sum,
                    "bins": [ev.n, ev.confidence, ev.correct, ev.touched],
                }
                for m, ev in ms.items()
            }
            for s, ms in self._pairs.items()
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Load what :meth:`to_state` wrote; the means are rebuilt from the pairs."""
        pairs: dict[str, dict[str, CalibrationEvidence]] = {}
        for s, ms in state.items():
            pairs[s] = {}
            for m, v in ms.items():
                n, confidence, correct, touched = v["bins"]
                if not len(n) == len(confidence) == len(correct) == len(touched) == BINS:
                    raise ValueError(f"LiveCalibration state of ({s}, {m}): not {BINS} bins")
                pairs[s][m] = CalibrationEvidence(
                    int(v["step"]), float(v["count"]), float(v["loss"]), float(v["brier"]),
                    float(v["gap"]), [float(x) for x in n], [float(x) for x in confidence],
                    [float(x) for x in correct], [int(x) for x in touched],
                )  # fmt: skip
        self._pairs = pairs
        mature = [ev for ms in pairs.values() for ev in ms.values() if ev.count >= self.mature_at]
        self.mature = len(mature)
        self._ece_total = sum(ev.ece for ev in mature)
        self._brier_total = sum(ev.brier for ev in mature)
