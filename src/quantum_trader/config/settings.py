"""Typed, validated settings: the one place where environment variables and files are read.

Names compatible with the deployment this system replaces (``AI_ENGINE_*``, ``ENABLE_*``,
``META_STRATEGY_ENABLED`` …) are read without prefix; everything else is ``QT_``-prefixed.
An optional TOML file (``QT_CONFIG_FILE``) gives defaults under the environment. Settings that
contradict each other fail at startup, naming the variables and their values.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUseDefault
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from quantum_trader.config import bounds as bounds_module
from quantum_trader.config.api_settings import API_ACCEPTED, ApiSettings
from quantum_trader.config.bounds import EXPERIMENT_NAME, NUMERIC_BOUNDS, Bounds  # noqa: F401
from quantum_trader.config.unknown_names import refuse_misspelt_variables, refuse_unknown_keys
from quantum_trader.config.venue_settings import VENUE_ACCEPTED, VenueSettings
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import TIMEFRAMES, timeframe_ms

#: the model names settings accept; the trainer port's family table (learning/trainers.py,
#: which config sits below and cannot import) must list exactly these (tests/learning)
KNOWN_MODELS = ("xgb", "lgbm", "nhits", "patchtst")

#: Settings of parts that are not built yet, and the issue each waits for. Turning one on is
#: refused at start, so that nothing documented is accepted and then silently ignored. None
#: now: ``QT_REDIS_URL`` waited for issue 21 and is the service commands' Redis since 2026-12-08.
NOT_BUILT: dict[str, str] = {}


def _qt(name: str) -> Any:
    """A field read from ``QT_<NAME>`` (and, in the TOML file, from the field's own name)."""
    return AliasChoices(f"QT_{name.upper()}", name)


def _legacy(var: str, name: str) -> Any:
    """A field read from the replaced deployment's variable name."""
    return AliasChoices(var, name)


class StorageSettings(BaseSettings):
    """Where the database lives, and nothing else: what the kill switch needs, so that an
    operator can stop trading while any other setting is invalid. Build it with
    :func:`load_storage_settings`; :class:`Settings` extends it."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        case_sensitive=True,
    )

    home: Path = Field(Path(".qt"), validation_alias=_qt("home"))
    database_url: str | None = Field(None, validation_alias=_qt("database_url"))

    @field_validator("home", mode="before")
    @classmethod
    def _empty_home_is_unset(cls, value: object) -> object:
        """``QT_HOME=`` means unset (the default), not the current folder."""
        if isinstance(value, str) and not value.strip():
            raise PydanticUseDefault()
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'quantum_trader.sqlite').as_posix()}"

    @property
    def database_setting(self) -> str:
        """The variable that chose the database (for messages): QT_DATABASE_URL or QT_HOME."""
        return "QT_DATABASE_URL" if self.database_url else "QT_HOME"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("QT_CONFIG_FILE")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)


class Settings(StorageSettings, ApiSettings, VenueSettings):
    """Effective configuration. Build it with :func:`load_settings`."""

    # --- ensemble (legacy names) -------------------------------------------------------
    ensemble_models: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(KNOWN_MODELS),
        validation_alias=_legacy("AI_ENGINE_ENSEMBLE_MODELS", "ensemble_models"),
    )
    min_consensus: int = Field(
        2, validation_alias=_legacy("AI_ENGINE_MIN_CONSENSUS", "min_consensus")
    )

    # --- module switches (legacy names) -------------------------------------------------
    enable_memory_states: bool = Field(
        True, validation_alias=_legacy("ENABLE_MEMORY_STATES", "enable_memory_states")
    )
    enable_reinforcement: bool = Field(
        True, validation_alias=_legacy("ENABLE_REINFORCEMENT", "enable_reinforcement")
    )
    enable_drift_detection: bool = Field(
        True, validation_alias=_legacy("ENABLE_DRIFT_DETECTION", "enable_drift_detection")
    )
    enable_covariate_shift: bool = Field(
        True, validation_alias=_legacy("ENABLE_COVARIATE_SHIFT", "enable_covariate_shift")
    )
    meta_strategy_enabled: bool = Field(
        True, validation_alias=_legacy("META_STRATEGY_ENABLED", "meta_strategy_enabled")
    )
    #: module 15: production's sizer is the RL sizer, serving the rl_sizer line's PRODUCTION
    #: policy (f of QT_SIZER's size; none: QT_SIZER sizes as alone; app/rl_serving.py)
    rl_sizing_enabled: bool = Field(
        True, validation_alias=_legacy("RL_SIZING_ENABLED", "rl_sizing_enabled")
    )
    regime_detection_enabled: bool = Field(
        True, validation_alias=_legacy("REGIME_DETECTION_ENABLED", "regime_detection_enabled")
    )
    continuous_learning_enabled: bool = Field(
        True,
        validation_alias=_legacy("CONTINUOUS_LEARNING_ENABLED", "continuous_learning_enabled"),
    )
    model_supervisor_enabled: bool = Field(
        True, validation_alias=_legacy("MODEL_SUPERVISOR_ENABLED", "model_supervisor_enabled")
    )

    # --- decision path: which implementation serves each port (app/compose.py) ----------
    #: the strategy selector: the regime rules; or a baseline of the system evaluation (a
    #: seeded random draw, or one strategy always — ``fixed:Neutral`` never trades); or the
    #: cross-sectional configuration, ``fixed:CrossSectional`` (long the universe's strongest,
    #: short its weakest; needs QT_FEATURES=universe for the ranks)
    selector: Literal[
        "regime_rules",
        "random",
        "fixed:TrendFollowing",
        "fixed:MeanReversion",
        "fixed:Breakout",
        "fixed:Neutral",
        "fixed:CrossSectional",
        "ppo",
    ] = Field("regime_rules", validation_alias=_qt("selector"))
    sizer: Literal["fixed_fractional", "volatility_target"] = Field(
        "fixed_fractional", validation_alias=_qt("sizer")
    )
    #: open a position only where the expected edge over the label horizon (calibrated
    #: probabilities × measured move sizes) covers fees, slippage and funding by
    #: ``entry_margin_bps`` (strategy/cost_gate.py); false: every strategy entry goes to sizing
    entry_cost_gate: bool = Field(True, validation_alias=_qt("entry_cost_gate"))
    entry_margin_bps: float = Field(5.0, validation_alias=_qt("entry_margin_bps"))
    #: who picks an entry's side: the strategy's rule with the ensemble's direction ("signal"),
    #: or the rule alone, the ensemble filtering it through the cost gate ("primary":
    #: meta-labelling, docs/research.md; with QT_ENTRY_COST_GATE=false the rules trade alone)
    entry_rule: Literal["signal", "primary"] = Field("signal", validation_alias=_qt("entry_rule"))
    #: size each entry by the ensemble's probability that its side wins (López de Prado's bet
    #: size, 2Φ(z) − 1: strategy/bet_sizing.py): meta-labelling's sizing; false: the sizer's size
    bet_sizing: bool = Field(False, validation_alias=_qt("bet_sizing"))
    #: meta-labelling's secondary model: a classifier learned from the rules' own entries and
    #: their outcomes after costs filters each entry (strategy/meta_filter.py); false: none
    meta_filter: bool = Field(False, validation_alias=_qt("meta_filter"))

    # --- risk ---------------------------------------------------------------------------
    #: engine hours flat after which a drawdown REDUCING is released and the breaker's peak
    #: re-baselined to the equity at release (risk/state.py); HALTED never releases by itself
    reducing_cooldown_hours: float = Field(72.0, validation_alias=_qt("reducing_cooldown_hours"))

    # --- per-strategy expectancy (strategy/expectancy.py) ---------------------------------
    #: bench a strategy in a regime where its net expectancy over its last closed trades is
    #: significantly negative (Neutral trades in its place); false: never bench
    expectancy_benching: bool = Field(True, validation_alias=_qt("expectancy_benching"))
    #: closed trades per (strategy, regime) in the rolling window
    expectancy_window: int = Field(30, validation_alias=_qt("expectancy_window"))
    #: fewest trades in the window before a strategy can be benched
    expectancy_min_trades: int = Field(10, validation_alias=_qt("expectancy_min_trades"))
    #: one-sided significance level of the t-test, per look (it is re-run after every trade)
    expectancy_alpha: float = Field(0.01, validation_alias=_qt("expectancy_alpha"))
    #: engine hours of the first bench (each later bench of the same cell lasts twice as long,
    #: up to 8 times); then the strategy is re-admitted on probation with an empty window
    expectancy_bench_hours: float = Field(168.0, validation_alias=_qt("expectancy_bench_hours"))

    # --- storage and data (home and database_url: StorageSettings) ------------------------
    data_dir: Path | None = Field(None, validation_alias=_qt("data_dir"))
    store_dir: Path | None = Field(None, validation_alias=_qt("store_dir"))
    artifacts_dir: Path | None = Field(None, validation_alias=_qt("artifacts_dir"))
    prune_artifacts: bool = Field(True, validation_alias=_qt("prune_artifacts"))  # at a run's end
    redis_url: str | None = Field(None, validation_alias=_qt("redis_url"))

    # --- market and run -----------------------------------------------------------------
    symbols: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["BTCUSDT", "ETHUSDT"], validation_alias=_qt("symbols")
    )
    timeframe: str = Field("1h", validation_alias=_qt("timeframe"))
    replay_days: int = Field(90, validation_alias=_qt("replay_days"))
    # a replay's batch work: votes computed in batch before it (used only where inputs equal the
    # live path's) and risk decisions journalled in batches; false: both candle by candle, as live
    replay_batch_votes: bool = Field(True, validation_alias=_qt("replay_batch_votes"))
    train_days: int = Field(730, validation_alias=_qt("train_days"))
    seed: int = Field(7, validation_alias=_qt("seed"))
    label_horizon: int = Field(4, validation_alias=_qt("label_horizon"))
    #: what the members learn from and learn (issue 24, docs/research.md): the 41 base features,
    #: the extended set (base + funding z-score, volatility regime, higher timeframes) or
    #: "universe" (extended + the market's return and ranks across the run's symbols); the
    #: sign of the return over the horizon or a volatility-scaled triple barrier (take-profit
    #: and stop-loss in multiples of the candle volatility, the horizon as time limit)
    features: Literal["base", "extended", "universe"] = Field(
        "base", validation_alias=_qt("features")
    )
    label: Literal["sign", "barrier"] = Field("sign", validation_alias=_qt("label"))
    barrier_upper: float = Field(2.0, validation_alias=_qt("barrier_upper"))
    barrier_lower: float = Field(2.0, validation_alias=_qt("barrier_lower"))
    # continuous learning (CONTINUOUS_LEARNING_ENABLED): how often the daemon looks (engine
    # time), the schedule of retrainings and the least time between two of one line
    retrain_check_minutes: int = Field(30, validation_alias=_qt("retrain_check_minutes"))
    retrain_schedule_days: float = Field(7.0, validation_alias=_qt("retrain_schedule_days"))
    retrain_min_gap_hours: float = Field(24.0, validation_alias=_qt("retrain_min_gap_hours"))
    #: shadow trading: each challenger (and its champion twin) trades a virtual account beside
    #: production while it is judged (app/shadow_trading.py); two extra pipelines per line
    shadow_trading: bool = Field(True, validation_alias=_qt("shadow_trading"))
    #: module 14, the Q-learning strategy selector, as a challenger: it picks the strategies of
    #: a shadow account for the whole replay, paired with a twin account on production's
    #: selector (app/qlearning_shadow.py); its table is kept in the database across runs
    qlearning: bool = Field(True, validation_alias=_qt("qlearning"))
    #: modules 13 and 16 (app/rl_agents.py): production's selector serves the PPO selector's
    #: PRODUCTION policy (QT_SELECTOR decides while there is none), a shadow account trades
    #: its SHADOW policy, and the training daemon trains it on the policy store's schedule
    rl_agents: bool = Field(True, validation_alias=_qt("rl_agents"))
    #: module 18 (app/ab_testing.py): an experiment between the selector challengers' shadow
    #: accounts (PPO's against the Q-learner's), its allocation and its horizon (paired
    #: candles; at the horizon without a verdict it ends "no difference")
    ab_testing: bool = Field(True, validation_alias=_qt("ab_testing"))
    ab_allocation: Literal["thompson", "fixed"] = Field(
        "thompson", validation_alias=_qt("ab_allocation")
    )
    ab_horizon: int = Field(4000, validation_alias=_qt("ab_horizon"))
    #: feed this stored experiment (quantum-trader experiments create) instead of the run's own;
    #: it stays running after the run, and the next run with it continues it
    ab_experiment: str = Field("", validation_alias=_qt("ab_experiment"))
    #: the policy store's first rl.v3.training interval, written when the key was never set
    #: (the store's own default is the issue's 30 minutes); a day, as a replay waits for each
    #: landing and 30 minutes would train 4,320 times in make run (docs/agents.md)
    rl_training_interval_minutes: int = Field(
        1440, validation_alias=_qt("rl_training_interval_minutes")
    )
    #: episodes of the first policy, trained before the replay when the line has none
    rl_bootstrap_episodes: int = Field(8, validation_alias=_qt("rl_bootstrap_episodes"))
    #: each run's training window and held-out window (days of candles before its time)
    rl_train_days: int = Field(90, validation_alias=_qt("rl_train_days"))
    rl_held_out_days: int = Field(7, validation_alias=_qt("rl_held_out_days"))
    # forecaster retraining fine-tunes PRODUCTION's weights: docs/learning.md has the evidence
    forecaster_warm_start: bool = Field(True, validation_alias=_qt("forecaster_warm_start"))
    forecaster_warm_epochs: int = Field(3, validation_alias=_qt("forecaster_warm_epochs"))
    forecaster_warm_days: int = Field(0, validation_alias=_qt("forecaster_warm_days"))
    #: where training jobs and walk-forward folds run (app/training_backend.py): spawned
    #: low-priority processes here (continuous learning's check fits its lines side by side
    #: in QT_TRAINING_PROCESSES), or Ray (the ``ray`` extra), local or at QT_RAY_ADDRESS
    training_backend: Literal["process", "ray"] = Field(
        "process", validation_alias=_qt("training_backend")
    )
    ray_address: str | None = Field(None, validation_alias=_qt("ray_address"))
    training_processes: int = Field(1, validation_alias=_qt("training_processes"))
    #: stop the training workers while a paced or live candle is decided (clock/pause.py)
    training_pause: bool = Field(True, validation_alias=_qt("training_pause"))

    # --- simulated exchange -------------------------------------------------------------
    initial_balance: float = Field(10_000.0, validation_alias=_qt("initial_balance"))
    maker_fee: float = Field(0.0002, validation_alias=_qt("maker_fee"))
    taker_fee: float = Field(0.0005, validation_alias=_qt("taker_fee"))
    slippage_bps: float = Field(1.0, validation_alias=_qt("slippage_bps"))
    default_funding_rate: float = Field(0.0001, validation_alias=_qt("default_funding_rate"))

    # --- live trading -------------------------------------------------------------------
    offline: bool = Field(False, validation_alias=_qt("offline"))  # never reach the network
    #: how often ``run``'s live phase asks the exchange for newly closed candles
    live_poll_seconds: float = Field(10.0, validation_alias=_qt("live_poll_seconds"))
    # (which venue takes the live candles' orders: config/venue_settings.py)

    # --- logging --------------------------------------------------------------------------
    log_format: Literal["console", "json"] = Field("console", validation_alias=_qt("log_format"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_qt("log_level")
    )

    @field_validator("ensemble_models", "symbols", mode="before")
    @classmethod
    def _json_or_csv_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"not a JSON list: {text!r} ({exc.msg})") from None
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("ab_experiment")
    @classmethod
    def _experiment_name(cls, value: str) -> str:
        if value and not EXPERIMENT_NAME.match(value):
            raise ValueError("not an experiment name")  # what it accepts: _describe
        return value

    @field_validator("ray_address")
    @classmethod
    def _ray_address_form(cls, value: str | None) -> str | None:
        if value is not None and not bounds_module.RAY_ADDRESS.match(value):
            raise ValueError("not a Ray address")  # what it accepts: _describe
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_form(cls, value: str | None) -> str | None:
        if value is not None and not bounds_module.REDIS_URL.match(value):
            raise ValueError("not a Redis URL")  # what it accepts: _describe
        return value

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        if value not in TIMEFRAMES:
            raise ValueError(f"unknown timeframe {value!r}")  # the accepted ones: _describe
        return value

    @field_validator(
        "data_dir", "store_dir", "artifacts_dir", "ray_address", "redis_url", mode="before"
    )
    @classmethod
    def _empty_folder_is_unset(cls, value: object) -> object:
        """An empty folder (or address) setting means unset: ``make`` exports ``QT_DATA_DIR=``
        where there is no shared data, which must not mean the current folder."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator(*NUMERIC_BOUNDS)
    @classmethod
    def _in_bounds(cls, value: float | None, info: ValidationInfo) -> float | None:
        field = str(info.field_name)
        if value is not None and not NUMERIC_BOUNDS[field].accepts(value):
            raise ValueError("not finite" if not math.isfinite(value) else "out of range")
        return value

    @model_validator(mode="after")
    def _nothing_unbuilt(self) -> Settings:
        """Refuse settings of parts not built yet (:data:`NOT_BUILT`), naming the issue."""
        refused = []
        for field, why in NOT_BUILT.items():
            value = getattr(self, field)
            if value is None or value is False:
                continue
            fix = "unset it or set false" if isinstance(value, bool) else "unset it"
            refused.append(f"{env_name(field)}: {why}; {fix}")
        if refused:
            raise ValueError(" | ".join(refused))
        return self

    @model_validator(mode="after")
    def _no_contradictions(self) -> Settings:
        problems: list[str] = []
        if not self.ensemble_models:
            # said once, instead of a consensus "between 1 and 0" and a reinforcement without
            # models to weigh
            raise ValueError(
                f"AI_ENGINE_ENSEMBLE_MODELS is empty; accepted: {_ACCEPTED['ensemble_models']}"
            )
        unknown = [m for m in self.ensemble_models if m not in KNOWN_MODELS]
        if unknown:
            problems.append(
                f"AI_ENGINE_ENSEMBLE_MODELS={json.dumps(self.ensemble_models)} names unknown "
                f"model(s) {unknown}; accepted: {_ACCEPTED['ensemble_models']}"
            )
        if len(set(self.ensemble_models)) != len(self.ensemble_models):
            problems.append(
                f"AI_ENGINE_ENSEMBLE_MODELS={json.dumps(self.ensemble_models)} repeats a model; "
                f"accepted: {_ACCEPTED['ensemble_models']}"
            )
        if not 1 <= self.min_consensus <= len(self.ensemble_models):
            problems.append(
                f"AI_ENGINE_MIN_CONSENSUS={self.min_consensus} cannot be met with "
                f"{len(self.ensemble_models)} model(s) enabled "
                f"(AI_ENGINE_ENSEMBLE_MODELS={json.dumps(self.ensemble_models)}); "
                f"accepted: an integer from 1 to {len(self.ensemble_models)}"
            )
        if self.selector == "ppo" and not self.rl_agents:
            problems.append(
                "QT_SELECTOR=ppo serves the PPO selector's policy, which QT_RL_AGENTS=false "
                "switches off; set QT_RL_AGENTS=true or choose another selector"
            )
        forecasters = [m for m in self.ensemble_models if m in ("nhits", "patchtst")]
        if self.label == "barrier" and forecasters:
            # not built: the live ledger scores every member on one label (issue 24 notes)
            problems.append(
                f"QT_LABEL=barrier trains xgb and lgbm on the triple barrier, but "
                f"{', '.join(forecasters)} forecast closes and learn the sign label, and live "
                "scoring (drift, decay, weights) reads one label for every member; use "
                "QT_LABEL=barrier with AI_ENGINE_ENSEMBLE_MODELS from xgb, lgbm only"
            )
        if self.features == "universe" and self.rl_agents:
            problems.append(
                "QT_FEATURES=universe ranks each symbol among the run's symbols, but the PPO "
                "selector's training environment (QT_RL_AGENTS=true) replays one symbol alone "
                "and cannot compute them; set QT_RL_AGENTS=false or another QT_FEATURES"
            )
        if self.meta_filter and self.rl_agents:
            problems.append(
                "QT_META_FILTER=true filters production's entries through a model learned from "
                "them, which the PPO training environments (QT_RL_AGENTS=true) do not have: their "
                "policies would learn on another decision path; set QT_RL_AGENTS=false"
            )
        if self.selector == "fixed:CrossSectional" and self.features != "universe":
            problems.append(
                "QT_SELECTOR=fixed:CrossSectional trades the symbols' momentum ranks in the "
                f"universe, which only QT_FEATURES=universe computes (QT_FEATURES={self.features}); "
                "set QT_FEATURES=universe"
            )
        if self.ray_address and self.training_backend != "ray":
            problems.append(
                f"QT_RAY_ADDRESS={self.ray_address} is set but QT_TRAINING_BACKEND="
                f"{self.training_backend}: set QT_TRAINING_BACKEND=ray or unset QT_RAY_ADDRESS"
            )
        if self.training_backend == "ray" and importlib.util.find_spec("ray") is None:
            problems.append(
                "QT_TRAINING_BACKEND=ray but Ray is not installed: pip install '.[ray]' "
                "(or set QT_TRAINING_BACKEND=process)"
            )
        if self.enable_reinforcement and len(self.ensemble_models) < 2:
            problems.append(
                "ENABLE_REINFORCEMENT=true learns weights between models but "
                f"AI_ENGINE_ENSEMBLE_MODELS={json.dumps(self.ensemble_models)} has fewer than two"
            )
        if not self.symbols:
            problems.append(
                f"QT_SYMBOLS is empty: give at least one symbol; accepted: {_ACCEPTED['symbols']}"
            )
        repeated = sorted({sym for sym in self.symbols if self.symbols.count(sym) > 1})
        if repeated:
            problems.append(
                f"QT_SYMBOLS={','.join(self.symbols)} repeats {','.join(repeated)}: "
                f"give each symbol once; accepted: {_ACCEPTED['symbols']}"
            )
        if self.expectancy_min_trades > self.expectancy_window:
            problems.append(
                f"QT_EXPECTANCY_MIN_TRADES={self.expectancy_min_trades} can never be reached in a "
                f"window of QT_EXPECTANCY_WINDOW={self.expectancy_window} trades"
            )
        if problems:
            raise ValueError("contradictory settings: " + " | ".join(problems))
        return self

    # --- derived locations ----------------------------------------------------------------
    @property
    def effective_store_dir(self) -> Path:
        return self.store_dir or self.home / "store"

    @property
    def effective_artifacts_dir(self) -> Path:
        return self.artifacts_dir or self.home / "artifacts"


_S = TypeVar("_S", bound="StorageSettings")


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and ``QT_CONFIG_FILE``); raise ConfigError if invalid."""
    return _build(Settings, overrides)


def load_storage_settings() -> StorageSettings:
    """Read only where the database lives (QT_HOME, QT_DATABASE_URL): other settings may be
    invalid. Raise ConfigError if these two are."""
    return _build(StorageSettings, {})


def _build(cls: type[_S], overrides: dict[str, Any]) -> _S:
    toml_path = os.environ.get("QT_CONFIG_FILE")
    if toml_path and not Path(toml_path).is_file():
        raise ConfigError(f"QT_CONFIG_FILE={toml_path}: no such file")
    if issubclass(cls, Settings):  # the storage settings read where the database is, only
        known = Settings.model_fields.keys() | _FIELD_OF_VARIABLE.keys()
        refuse_misspelt_variables(os.environ, known)
        if toml_path:
            refuse_unknown_keys(Path(toml_path), known, Settings.model_fields)
    try:
        return cls(**overrides)
    except ValidationError as exc:
        lines = [_describe(err) for err in exc.errors()]
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"QT_CONFIG_FILE={toml_path}: not valid TOML: {exc}") from None
    except SettingsError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


def _describe(err: Any) -> str:
    """One validation error as ``VARIABLE=value: what is wrong; accepted: …``."""
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"]:
        return msg
    where = str(err["loc"][0])
    field = _FIELD_OF_VARIABLE.get(where, where)
    if field not in Settings.model_fields:
        return f"{where}: {msg}"
    shown = env_name(field)
    if shown not in os.environ and os.environ.get("QT_CONFIG_FILE"):  # it came from the file
        shown = f"{field} in QT_CONFIG_FILE={os.environ['QT_CONFIG_FILE']}"
    if field in NUMERIC_BOUNDS:  # never echo other values: they may be secrets
        shown += f"={err['input']!r}"
    accepted = accepted_values(field)
    if accepted is not None and "accepted:" not in msg:
        msg += f"; accepted: {accepted}"
    return f"{shown}: {msg}"


def accepted_values(field: str) -> str | None:
    """What a setting accepts, in words, for its error message; None where pydantic's own
    message lists it (the choices of a ``Literal``) or any text is accepted."""
    bounds = NUMERIC_BOUNDS.get(field)
    annotation = Settings.model_fields[field].annotation
    if bounds is not None:
        return bounds.describe(annotation is int)
    if annotation is bool and field not in _ACCEPTED:
        return "true or false (also 1/0, yes/no, on/off)"
    return _ACCEPTED.get(field)


#: the accepted values of the settings that are neither numbers in bounds, switches nor choices
_ACCEPTED = {
    "timeframe": ", ".join(sorted(TIMEFRAMES, key=timeframe_ms)),
    "symbols": "symbols separated by commas (BTCUSDT,ETHUSDT) or a JSON list, each once",
    "ensemble_models": (
        f"model names from {', '.join(KNOWN_MODELS)}, each once, separated by commas or as a "
        "JSON list"
    ),
    "min_consensus": "an integer from 1 to the number of models in AI_ENGINE_ENSEMBLE_MODELS",
    "ab_experiment": "an experiment's name (quantum-trader experiments list): letters, digits and "
    "_.:@- only, 1 to 100 characters; empty for the run's own",
    "ray_address": "auto, host:port or ray://host:port (a Ray cluster's head); unset for a "
    "local Ray",
    "redis_url": "redis://[:PASSWORD@]HOST:PORT[/DB], rediss://… or unix://PATH: the Redis of "
    "`up`, `service` and `dead-letters` when their --redis-url is not given",
    **API_ACCEPTED,
    **VENUE_ACCEPTED,
}


def env_name(field: str) -> str:
    """The environment variable that sets ``field`` (for messages and docs)."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        return str(first)
    return field.upper()


#: field name of each variable (``QT_SLIPPAGE_BPS`` -> ``slippage_bps``), to name errors
_FIELD_OF_VARIABLE = {env_name(field): field for field in Settings.model_fields}
