"""The PPO daemon's worker keeps a forecaster's quantiles across episodes and runs
(``models/forecasting/memo.py``): loaded through ``members_from_store``, a forecaster shares
its artifact's memo in the process, and episodes replayed with it are the episodes without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.features.labels import LabelSpec
from quantum_trader.models.ensemble.ensemble import EnsembleConfig
from quantum_trader.models.forecasting.candles import (
    CloseSeries,
    save_candle_member,
    train_candle_forecaster,
)
from quantum_trader.models.forecasting.member import ForecastVoter
from quantum_trader.rl.env import StrategySelectionEnv
from quantum_trader.rl.jobs import members_from_store
from quantum_trader.rl.parts import EnvPartsConfig
from quantum_trader.strategy.selector import STRATEGY_NAMES
from tests.rl.helpers import SYMBOL, TRAIN_CANDLES, env_config, market

LABELS = LabelSpec()
ACTIONS = (STRATEGY_NAMES.index("TrendFollowing"), STRATEGY_NAMES.index("Neutral"))


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalArtifactStore, str]:
    frame = market().iloc[:TRAIN_CANDLES]
    series = CloseSeries(SYMBOL, frame["open_time"].to_numpy(), frame["close"].to_numpy())
    model, metadata = train_candle_forecaster(
        "nhits", [series], LABELS, epochs=1, seed=5, progress=False
    )
    store = LocalArtifactStore(tmp_path_factory.mktemp("artifacts"))
    digest = store.put(lambda d: save_candle_member(model, metadata, Path(d)))
    return store, digest


def _episodes(members: list[object], starts: list[int]) -> list[list[tuple[float, ...]]]:
    """Observations and rewards of episodes that alternate TrendFollowing and Neutral."""
    config = env_config(
        parts=EnvPartsConfig(EnsembleConfig(("nhits",), min_consensus=1)),
        episode_candles=60,
        warm_up_candles=300,
    )
    env = StrategySelectionEnv(
        config, market().iloc[TRAIN_CANDLES:].reset_index(drop=True), members
    )  # type: ignore[arg-type]
    out = []
    for start in starts:
        obs, _ = env.reset(options={"start": start})
        seen = [tuple(obs.tolist())]
        done, step = False, 0
        while not done:
            obs, reward, _t, done, _ = env.step(ACTIONS[step % 2])
            seen.append((*obs.tolist(), reward))
            step += 1
        out.append(seen)
    env.close()
    return out


def test_a_forecaster_shares_its_artifacts_memo_and_episodes_are_unchanged(
    stored: tuple[LocalArtifactStore, str],
) -> None:
    store, digest = stored
    (first,) = members_from_store(store, [("nhits", digest)], LABELS)
    (again,) = members_from_store(store, [("nhits", digest)], LABELS)
    assert isinstance(first, ForecastVoter) and isinstance(again, ForecastVoter)
    memo = first.member.memo
    assert memo is not None and again.member.memo is memo  # one per artifact in the process
    starts = [300, 320, 300]  # overlapping, then the same again
    before = len(memo)
    with_memo = _episodes([first], starts)
    plain = ForecastVoter(type(first.member).load(store.open(digest), LABELS))
    assert plain.member.memo is None
    without = _episodes([plain], starts)
    assert with_memo == without  # observations and rewards, bit for bit
    assert len(memo) - before == 80  # the distinct candles of the three episodes
    assert memo.hits == 40 + 60  # the second episode's overlap, the third whole
    assert np.isfinite(np.array([r[-1] for ep in with_memo for r in ep[1:]])).all()
