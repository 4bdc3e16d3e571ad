"""The sample-ratio check of ``experiments/srm.py``: fair counts pass, skewed counts raise the
alarm, too few units give no verdict."""

from __future__ import annotations

import pytest
from scipy import stats

from quantum_trader.experiments.srm import SRM_ALARM_P, SRM_MIN_UNITS, srm_check


def test_counts_that_follow_their_probabilities_raise_no_alarm() -> None:
    check = srm_check({"a": 510, "b": 490}, {"a": 500.0, "b": 500.0})
    assert check.p_value is not None and check.p_value > 0.5 and not check.alarm
    assert check.units == 1000 and check.observed == {"a": 510, "b": 490}
    assert "sample ratio ok" in check.summary()
    # unequal probabilities: 3 arms expected 200 / 300 / 500 over 1000 units
    check = srm_check({"a": 210, "b": 290, "c": 500}, {"a": 200.0, "b": 300.0, "c": 500.0})
    assert check.p_value is not None and not check.alarm


def test_skewed_counts_raise_the_alarm_with_the_chi_square_p_value() -> None:
    check = srm_check({"a": 560, "b": 440}, {"a": 500.0, "b": 500.0})
    expected_p = float(stats.chisquare([560, 440], [500.0, 500.0]).pvalue)
    assert check.p_value == pytest.approx(expected_p) and expected_p < SRM_ALARM_P
    assert check.alarm and "MISMATCH" in check.summary()
    # the same counts are fair when the probabilities said 56 / 44
    assert not srm_check({"a": 560, "b": 440}, {"a": 560.0, "b": 440.0}).alarm
    # an arm that got no unit at all though it should have had a third
    check = srm_check({"a": 30, "b": 30}, {"a": 20.0, "b": 20.0, "c": 20.0})
    assert check.observed == {"a": 30, "b": 30, "c": 0} and check.alarm


def test_expected_sums_off_by_rounding_are_rescaled_to_the_units() -> None:
    check = srm_check({"a": 500, "b": 500}, {"a": 500.0000001, "b": 499.9999998})
    assert check.p_value == pytest.approx(1.0, abs=1e-6) and not check.alarm


def test_too_few_units_give_no_verdict() -> None:
    few = SRM_MIN_UNITS - 1
    check = srm_check({"a": few, "b": 0}, {"a": few / 2, "b": few / 2})
    assert check.p_value is None and not check.alarm and check.units == few
    assert "too few to check" in check.summary()
    check = srm_check({"a": SRM_MIN_UNITS, "b": 0}, {"a": 10.0, "b": 10.0})
    assert check.p_value is not None and check.alarm
    empty = srm_check({}, {"a": 0.0, "b": 0.0})
    assert empty.p_value is None and empty.observed == {"a": 0, "b": 0}
