"""The experiment declaration of ``experiments/spec.py``: a JSON round trip, and a spec that
cannot run refused with the field that is wrong (built in code, or read back from storage)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Any

import pytest

from quantum_trader.experiments.allocation import AllocationConfig
from quantum_trader.experiments.spec import ArmSpec, ExperimentSpec, SpecError

SPEC = ExperimentSpec(
    "ppo_vs_rules@2024-01",
    (
        ArmSpec("rules", "strategy", "rules:v3"),
        ArmSpec("ppo", "policy", "ppo@12"),
        ArmSpec("xgb.v2", "model", "registry:xgb/2"),
    ),
    guardrails={"max_drawdown": 0.15},
    allocation=AllocationConfig(
        kind="fixed", weights=(2.0, 1.0, 1.0), floor=0.02, discount=0.99, min_samples=40, draws=500
    ),
    alpha=0.01,
    horizon=2500,
    min_samples=60,
    mode="route",
    seed=2**40 + 1,
)


def test_a_spec_comes_back_from_json_as_it_was() -> None:
    for spec in (SPEC, ExperimentSpec("plain", (ArmSpec("a"), ArmSpec("b")))):
        back = ExperimentSpec.from_json(spec.to_json())
        assert back == spec
        assert back.to_json() == spec.to_json()
        assert isinstance(back.allocation.weights, tuple) and isinstance(back.arms, tuple)
    assert SPEC.control == "rules" and SPEC.arm_names == ("rules", "ppo", "xgb.v2")


def _raw(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(SPEC.to_json())
    raw.update(changes)
    return raw


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "has space"}, "experiment name"),
        ({"name": ""}, "experiment name"),
        ({"arms": [{"name": "only"}]}, "arms"),
        ({"arms": [{"name": "a"}, {"name": "a"}]}, "arms"),
        ({"arms": [{"name": "a"}, {"name": "b/c"}]}, "arm name"),
        ({"arms": [{"name": "a"}, {"name": "b", "kind": "oracle"}]}, "kind 'oracle'"),
        ({"metric": "sharpe"}, "metric 'sharpe'"),
        ({"guardrails": {"max_loss": 0.1}}, "guardrail max_loss"),
        ({"guardrails": {"max_drawdown": 0.0}}, "guardrail max_drawdown"),
        ({"guardrails": {"max_drawdown": 1.5}}, "guardrail max_drawdown"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 0.5}, "alpha"),
        ({"min_samples": 1}, "min_samples"),
        ({"min_samples": 3000}, "min_samples"),
        ({"mode": "live"}, "mode 'live'"),
        ({"seed": -1}, "seed=-1 must be 0 or more"),
    ],
)
def test_a_spec_that_cannot_run_is_refused_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    if "arms" in changes:  # SPEC's three weights would not fit other arms
        changes = {**changes, "allocation": json.loads(json.dumps(asdict(AllocationConfig())))}

    def build() -> ExperimentSpec:
        raw = _raw(**changes)
        arms = tuple(ArmSpec(**a) for a in raw.pop("arms"))
        allocation = AllocationConfig(**{**raw.pop("allocation"), "weights": ()})
        return ExperimentSpec(arms=arms, allocation=allocation, **raw)

    with pytest.raises(SpecError, match=field):
        build()
    # stored as JSON, the same spec is refused by from_json, with the same field
    with pytest.raises(SpecError, match=f"^stored spec 'x': .*{field}"):
        ExperimentSpec.from_json(json.dumps(_raw(**changes)), where="stored spec 'x'")


def test_a_bad_allocation_in_stored_json_is_a_spec_error() -> None:
    raw = _raw(allocation={**_raw()["allocation"], "kind": "ucb"})
    with pytest.raises(SpecError, match="stored: allocation kind 'ucb'"):
        ExperimentSpec.from_json(json.dumps(raw), where="stored")
    raw = _raw(allocation={**_raw()["allocation"], "draws": 10})
    with pytest.raises(SpecError, match="draws=10"):
        ExperimentSpec.from_json(json.dumps(raw))


@pytest.mark.parametrize(
    "text",
    [
        SPEC.to_json()[:-7],  # truncated
        "",
        "{",
        "[]",
        json.dumps({k: v for k, v in _raw().items() if k != "arms"}),
        json.dumps({k: v for k, v in _raw().items() if k != "allocation"}),
        json.dumps(_raw(surplus=1)),
        json.dumps(_raw(arms=None)),
        json.dumps(_raw(arms=[{"name": "a"}, {"name": 5}])),
        json.dumps(_raw(alpha="0.05")),
        json.dumps(_raw(horizon="many")),
        json.dumps(_raw(allocation="fixed")),
        json.dumps(_raw(allocation={"weights": None})),
        json.dumps(_raw(guardrails={"max_drawdown": "a quarter"})),
    ],
)
def test_corrupted_json_is_a_spec_error(text: str) -> None:
    with pytest.raises(SpecError, match=r"^stored spec: "):
        ExperimentSpec.from_json(text, where="stored spec")


@pytest.mark.parametrize(
    "text",
    ["null", "3", '"spec"', json.dumps(_raw(guardrails=None))],
    ids=["null", "number", "string", "guardrails-null"],
)
def test_corrupted_json_of_the_wrong_shape_is_a_spec_error_too(text: str) -> None:
    """JSON of the wrong shape (not an object, guardrails null) is a SpecError naming where,
    never an AttributeError from deep inside."""
    try:
        ExperimentSpec.from_json(text, where="stored spec")
    except SpecError:
        pass
    except Exception as exc:
        pytest.fail(
            f"ExperimentSpec.from_json({text!r}) raised {type(exc).__name__}: "
            f"{exc} instead of SpecError"
        )
    else:
        pytest.fail(f"ExperimentSpec.from_json({text!r}) accepted it")


@pytest.mark.parametrize(
    "allocation",
    [AllocationConfig(weights=(1.0, 2.0, 3.0)), AllocationConfig(floor=0.4)],
    ids=["three-weights-for-two-arms", "floor-too-high-for-three-arms"],
)
def test_an_allocation_that_cannot_fit_the_arms_is_refused_when_declared(
    allocation: AllocationConfig,
) -> None:
    """An allocation that cannot fit the arms (weights for another number of arms, a floor
    too high for them) is refused when the spec is declared."""
    arms = (ArmSpec("a"), ArmSpec("b"), ArmSpec("c"))[: 2 if allocation.weights else 3]
    try:
        spec = ExperimentSpec("bad_allocation", arms, allocation=allocation)
    except SpecError as exc:
        assert "allocation" in str(exc)
    else:
        pytest.fail(
            f"ExperimentSpec accepted allocation {allocation} for arms "
            f"{spec.arm_names}, which Allocation() refuses"
        )


def test_replace_revalidates() -> None:
    with pytest.raises(SpecError, match="alpha"):
        replace(SPEC, alpha=0.7)
