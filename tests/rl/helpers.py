"""A small synthetic market and two trained tree members for the environment's tests."""

from __future__ import annotations

from functools import cache

import pandas as pd

from quantum_trader.data.synthetic import SyntheticConfig, generate_market
from quantum_trader.features.dataset import make_dataset
from quantum_trader.features.series import CandleSeries
from quantum_trader.models.ensemble.ensemble import EnsembleConfig
from quantum_trader.models.ensemble.member import Member, TabularMember
from quantum_trader.models.tabular.lgbm import LgbmModel
from quantum_trader.models.tabular.xgb import XgbModel
from quantum_trader.rl.env import EnvConfig
from quantum_trader.rl.parts import EnvPartsConfig

SYMBOL = "SYNBTCUSDT"
#: candles the members are trained on, before every episode's window
TRAIN_CANDLES = 1_000


@cache
def market(candles: int = 2_200, seed: int = 3) -> pd.DataFrame:
    """An hourly synthetic market (about three months)."""
    (series,) = generate_market(SyntheticConfig(seed=seed, candles=candles), ["BTCUSDT"])
    return series.frame


@cache
def members(seed: int = 3) -> tuple[Member, ...]:
    """LightGBM and XGBoost members trained on the market's first candles (few rounds)."""
    frame = market(seed=seed).iloc[:TRAIN_CANDLES].reset_index(drop=True)
    data = make_dataset(CandleSeries.from_frame(SYMBOL, "1h", frame))
    out: list[Member] = []
    rounds = {LgbmModel: {"num_threads": 1}, XgbModel: {"nthread": 1}}
    for cls, threads in rounds.items():
        model = cls(
            scope=SYMBOL,
            horizon=data.label_spec.horizon,
            features=data.names,
            params={"num_boost_round": 20, **threads},
            timeframe="1h",
            dead_zone=data.label_spec.dead_zone,
        )
        model.fit(data.x, data.y)
        out.append(TabularMember(model))
    return tuple(out)


def env_config(**changes: object) -> EnvConfig:
    base = {
        "symbol": SYMBOL,
        "parts": EnvPartsConfig(EnsembleConfig(("lgbm", "xgb"), min_consensus=1)),
        "episode_candles": 96,
        "warm_up_candles": 300,
    }
    return EnvConfig(**(base | changes))  # type: ignore[arg-type]
