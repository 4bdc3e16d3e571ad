"""Sample-ratio mismatch: did the arms get the decisions the allocation meant them to get?

An assignment that drifts from its probabilities (a bug that re-draws on restart, an arm that
silently refuses its units) biases every comparison built on it, and a good-looking result is
the last place one would look. Each unit was drawn with known probabilities, so the expected
count of an arm is the sum of its probabilities over the units; a chi-square goodness-of-fit
test of the observed counts against those expectations (R. Kohavi et al., 2020, "Trustworthy
Online Controlled Experiments", ch. 21) raises the alarm at p < 0.001, the threshold that keeps
false alarms rare over an experiment that is checked often.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scipy import stats

#: alarm threshold of the chi-square p-value
SRM_ALARM_P = 0.001
#: fewer units than this: no verdict (the chi-square approximation wants ~5 expected per arm)
SRM_MIN_UNITS = 20


@dataclass(frozen=True, slots=True)
class SrmCheck:
    units: int
    observed: dict[str, int]
    expected: dict[str, float]
    p_value: float | None  # None under SRM_MIN_UNITS units
    alarm: bool

    def summary(self) -> str:
        if self.p_value is None:
            return f"sample ratio: {self.units} units, too few to check"
        verdict = "MISMATCH" if self.alarm else "ok"
        shares = ", ".join(
            f"{a} {self.observed[a]} (expected {self.expected[a]:.1f})" for a in self.observed
        )
        return f"sample ratio {verdict} (chi-square p={self.p_value:.3g}): {shares}"


def srm_check(observed: Mapping[str, int], expected: Mapping[str, float]) -> SrmCheck:
    """The check of ``observed`` unit counts per arm against ``expected`` (the sums of the
    arms' allocation probabilities over the same units).

    >>> srm_check({"a": 500, "b": 500}, {"a": 500.0, "b": 500.0}).alarm
    False
    >>> srm_check({"a": 600, "b": 400}, {"a": 500.0, "b": 500.0}).alarm
    True
    """
    arms = list(expected)
    units = sum(observed.get(a, 0) for a in arms)
    counts = {a: int(observed.get(a, 0)) for a in arms}
    if units < SRM_MIN_UNITS:
        return SrmCheck(units, counts, dict(expected), None, False)
    exp = [max(float(expected[a]), 1e-9) for a in arms]
    scale = units / sum(exp)  # the sums of probabilities add up to the units, up to rounding
    result = stats.chisquare([counts[a] for a in arms], [e * scale for e in exp])
    p = float(result.pvalue)
    return SrmCheck(units, counts, dict(expected), p, p < SRM_ALARM_P)
