"""The event log's hash does not depend on where a checkpoint fell: the unfolded events a
checkpoint carries come back from its JSON exactly (types and mapping order included), so a
session resumed from it folds the same bytes as one that ran through."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.engine.checkpoint import EventLog

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
        st.dictionaries(st.integers(-5, 5), inner, max_size=3),
    ),
    max_leaves=12,
)
events = st.lists(
    st.tuples(
        st.sampled_from(["order.placed", "risk.checked", "policy.updated"]),
        st.integers(0, 2**42),
        st.sampled_from(["engine", "risk"]),
        st.lists(values, min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=40,
)


def record(log: EventLog, batch: list[tuple[str, int, str, list[Any]]]) -> None:
    for type_, time, source, payload in batch:
        keys = tuple(f"k{i}" for i in range(len(payload)))
        log.record(type_, time, source, keys, tuple(payload))


def through_checkpoint(log: EventLog) -> EventLog:
    """What a resumed session has: the state written as the checkpoint writes it, read back."""
    stored = json.dumps(log.state(), sort_keys=True, separators=(",", ":"))
    resumed = EventLog(fold_every=16)
    resumed.restore(json.loads(stored))
    return resumed


@settings(max_examples=200, deadline=None)
@given(events, st.integers(0, 40))
def test_a_resumed_log_folds_to_the_uninterrupted_hash(
    batch: list[tuple[str, int, str, list[Any]]], cut: int
) -> None:
    cut = min(cut, len(batch))
    straight = EventLog(fold_every=16)
    record(straight, batch)

    first = EventLog(fold_every=16)
    record(first, batch[:cut])
    resumed = through_checkpoint(first)
    record(resumed, batch[cut:])

    assert resumed.final() == straight.final()


def test_mappings_and_tuples_in_a_payload_keep_their_order_and_types() -> None:
    # the case the sorted-key JSON got wrong: a mapping out of key order, a tuple in a list
    payload = [{"zeta": 1, "alpha": (2.5, "x")}, [(1, 2)], -0.0]
    straight = EventLog()
    record(straight, [("policy.updated", 7, "engine", payload)])

    resumed = through_checkpoint(straight)

    assert resumed.buffer == straight.buffer
    assert list(resumed.buffer[0][4][0]) == ["zeta", "alpha"]
    assert resumed.final() == straight.final()


def test_a_checkpoint_written_before_the_tagged_encoding_still_restores() -> None:
    # the 2026-12-02 format (values as plain JSON) and the older one (key, value pairs)
    log = EventLog()
    log.restore(
        {
            "event_hash": "abc",
            "event_buffer": [
                ["order.placed", 5, "engine", ["a", "b"], [1, [2, 3]]],
                ["risk.checked", 6, "risk", [["a", 1.5], ["b", "x"]]],
            ],
        }
    )

    assert log.digest == "abc"
    assert log.buffer == [
        ("order.placed", 5, "engine", ("a", "b"), (1, [2, 3])),
        ("risk.checked", 6, "risk", ("a", "b"), (1.5, "x")),
    ]
