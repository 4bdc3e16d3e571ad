"""Return quantiles a forecaster already computed, by window: for a process that asks the same
model about the same windows again and again.

The PPO training daemon's worker (``rl/jobs.py``) is one: each run replays episodes drawn from
the last 90 days through the decision path, and each episode prepares its members' votes in
batch (``DecisionPipeline.prepare_replay``). Runs a day apart share all but a day of their
windows, and episodes within a run overlap; a sampling profile of a 30-day replay put 45 of the
worker's 102 s in those batch votes. Of the members' model calls over a 720-candle episode the
forecasters take about four fifths (N-HiTS 54 ms, PatchTST 72 ms, XGBoost 14 ms, LightGBM 13 ms,
the main job's members, measured once on this machine).

A forecaster's return quantiles are a function of its model and the window alone: the float32
closes it reads (``ForecastMember._quantiles``), bit for bit whatever else shares the model call
(``OnnxForecaster.predict_batch``). So a row kept here, keyed by those closes' bytes, is the row a
new call would give, and a vote made from it is the same vote. The tree members are not kept:
they read the feature row, whose long-memory indicators differ in their last bits with where an
episode's warm-up began, so a key would never match (and their calls are cheap).

Not thread-safe: for a process whose batch votes are made and used on one thread (the RL
environment prepares without a background thread). Bounded: the least recently used rows go
first, and only the newest few models keep a memo.
"""

from __future__ import annotations

from collections import OrderedDict

from quantum_trader.models.base import FloatArray

#: rows kept per model: two symbols' 90-day training windows, their warm-ups and held-out
#: weeks are about 5,700 windows; at about 1 kB a row (the key is the window's bytes), 10 MB
ROWS_PER_MODEL = 10_000
#: models with a memo in one process (a promotion brings a new artifact; older ones go)
MODELS_KEPT = 4


class QuantileMemo:
    """Rows of return quantiles by window key, least recently used first out."""

    def __init__(self, capacity: int = ROWS_PER_MODEL) -> None:
        if capacity < 1:
            raise ValueError(f"QuantileMemo capacity {capacity}: must be >= 1")
        self.capacity = capacity
        self._rows: OrderedDict[bytes, FloatArray] = OrderedDict()
        self.hits = 0  # rows found (what the memo saved)

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: bytes) -> FloatArray | None:
        row = self._rows.get(key)
        if row is None:
            return None
        self._rows.move_to_end(key)
        self.hits += 1
        return row

    def put(self, key: bytes, row: FloatArray) -> None:
        self._rows[key] = row
        self._rows.move_to_end(key)
        while len(self._rows) > self.capacity:
            self._rows.popitem(last=False)


_MEMOS: OrderedDict[tuple[str, int], QuantileMemo] = OrderedDict()


def process_memo(artifact_hash: str, horizon: int) -> QuantileMemo:
    """This process's memo of the model stored at ``artifact_hash`` read at ``horizon`` (the
    quantiles are of the return ``horizon`` candles ahead): one per pair, the newest
    :data:`MODELS_KEPT` kept."""
    key = (artifact_hash, horizon)
    memo = _MEMOS.get(key)
    if memo is None:
        memo = _MEMOS[key] = QuantileMemo()
    _MEMOS.move_to_end(key)
    while len(_MEMOS) > MODELS_KEPT:
        _MEMOS.popitem(last=False)
    return memo
