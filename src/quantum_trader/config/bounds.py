"""The accepted range of every numeric setting, and the names an experiment may have: checked at
start by :mod:`quantum_trader.config.settings`, so that a typo fails loudly."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    """The accepted range of a numeric setting; NaN and infinities are always refused."""

    low: float
    high: float
    low_open: bool = False  # True: ``low`` itself is refused (> instead of >=)

    def accepts(self, value: float) -> bool:
        if not math.isfinite(value) or value > self.high:
            return False
        return value > self.low if self.low_open else value >= self.low

    def describe(self, integer: bool) -> str:
        kind = "an integer" if integer else "a finite number"
        low = ">" if self.low_open else ">="
        return f"{kind} {low} {_number(self.low)} and <= {_number(self.high)}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


#: every numeric setting's accepted range, checked at start. The upper bounds only refuse
#: values that cannot be meant (a 10 % fee, 10 years of replay), so that typos fail loudly.
#: the names ``experiments/spec.py`` accepts (the settings may not import a module)
EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$")
#: a Ray cluster's address as ``ray.init`` takes it: ``auto``, ``host:port``, ``ray://host:port``
#: QT_REDIS_URL: a URL redis-py's ``from_url`` takes (the password, if any, inside it)
REDIS_URL = re.compile(r"^(redis|rediss|unix)://\S+$")
RAY_ADDRESS = re.compile(r"^(auto|(ray://)?[A-Za-z0-9][A-Za-z0-9.-]{0,252}:[0-9]{1,5})$")

NUMERIC_BOUNDS: dict[str, Bounds] = {
    "ab_horizon": Bounds(100, 10_000_000),
    "maker_fee": Bounds(0.0, 0.1),
    "taker_fee": Bounds(0.0, 0.1),
    "slippage_bps": Bounds(0.0, 1000.0),
    "entry_margin_bps": Bounds(0.0, 10_000.0),
    "default_funding_rate": Bounds(-0.05, 0.05),  # per 8 h; exchanges cap far below 5 %
    "initial_balance": Bounds(0.0, 1e12, low_open=True),
    "live_poll_seconds": Bounds(0.0, 3600.0, low_open=True),
    "live_max_order_notional": Bounds(0.0, 1e9, low_open=True),  # USDT per order
    "live_max_daily_notional": Bounds(0.0, 1e10, low_open=True),  # USDT per UTC day
    "venue_requests_per_minute": Bounds(1, 2400),
    "reconcile_minutes": Bounds(
        1, 1440
    ),  # at least daily  # Binance's weight limit is 2,400 a minute
    "replay_days": Bounds(1, 3650),
    "train_days": Bounds(30, 3650),
    "label_horizon": Bounds(1, 1000),
    "barrier_upper": Bounds(0.0, 100.0, low_open=True),  # candle volatilities
    "barrier_lower": Bounds(0.0, 100.0, low_open=True),
    "seed": Bounds(0, 2**32 - 1),  # numpy's seed range
    "reducing_cooldown_hours": Bounds(0.0, 8760.0, low_open=True),  # at most a year flat
    "expectancy_window": Bounds(5, 1000),
    "expectancy_min_trades": Bounds(3, 1000),
    "expectancy_alpha": Bounds(0.0, 0.5, low_open=True),
    "expectancy_bench_hours": Bounds(0.0, 8760.0, low_open=True),
    "retrain_check_minutes": Bounds(1, 7 * 24 * 60),  # at most weekly
    "retrain_schedule_days": Bounds(0.0, 365.0),  # 0: no scheduled retraining
    "retrain_min_gap_hours": Bounds(0.0, 8760.0),
    "forecaster_warm_epochs": Bounds(1, 100),
    "forecaster_warm_days": Bounds(0, 3650),
    "rl_training_interval_minutes": Bounds(1, 366 * 24 * 60),  # at most yearly
    "rl_bootstrap_episodes": Bounds(1, 10_000),
    "rl_train_days": Bounds(31, 3650),  # more than one 720-candle episode of 1h candles
    "rl_held_out_days": Bounds(1, 365),
    "training_processes": Bounds(1, 64),
    "api_port": Bounds(1, 65535),
    "api_token_minutes": Bounds(1, 7 * 24 * 60),  # an access token lives at most a week
}
