from pathlib import Path

import pytest

from quantum_trader.config import load_settings, module_enabled, redacted
from quantum_trader.config.settings import load_storage_settings
from quantum_trader.domain import ConfigError

pytestmark = pytest.mark.usefixtures("clean_env")


def test_defaults_enable_all_four_models() -> None:
    s = load_settings()
    assert s.ensemble_models == ["xgb", "lgbm", "nhits", "patchtst"]
    assert s.min_consensus == 2
    assert s.effective_database_url.startswith("sqlite:///")


def test_legacy_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_ENGINE_ENSEMBLE_MODELS", '["xgb","lgbm"]')
    monkeypatch.setenv("AI_ENGINE_MIN_CONSENSUS", "1")
    monkeypatch.setenv("ENABLE_DRIFT_DETECTION", "false")
    monkeypatch.setenv("META_STRATEGY_ENABLED", "0")
    monkeypatch.setenv("QT_SYMBOLS", "BTCUSDT,SOLUSDT")
    s = load_settings()
    assert s.ensemble_models == ["xgb", "lgbm"]
    assert s.symbols == ["BTCUSDT", "SOLUSDT"]
    assert module_enabled(s, "drift_detection") == (False, "ENABLE_DRIFT_DETECTION=false")
    assert module_enabled(s, "meta_strategy_controller") == (False, "META_STRATEGY_ENABLED=false")
    assert module_enabled(s, "nhits") == (
        False,
        "AI_ENGINE_ENSEMBLE_MODELS=xgb,lgbm does not include nhits",
    )


def test_consensus_above_model_count_fails_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AI_ENGINE_ENSEMBLE_MODELS", '["xgb","lgbm"]')
    monkeypatch.setenv("AI_ENGINE_MIN_CONSENSUS", "3")
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "AI_ENGINE_MIN_CONSENSUS=3" in text
    assert 'AI_ENGINE_ENSEMBLE_MODELS=["xgb", "lgbm"]' in text


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"AI_ENGINE_ENSEMBLE_MODELS": '["xgb","lstm"]'}, "unknown model(s) ['lstm']"),
        (
            {"AI_ENGINE_ENSEMBLE_MODELS": '["xgb"]', "AI_ENGINE_MIN_CONSENSUS": "1"},
            "ENABLE_REINFORCEMENT=true",
        ),
        ({"QT_TIMEFRAME": "7m"}, "unknown timeframe '7m'"),
        ({"QT_INITIAL_BALANCE": "-5"}, "QT_INITIAL_BALANCE='-5': out of range"),
        ({"QT_SLIPPAGE_BPS": "-50"}, "QT_SLIPPAGE_BPS='-50': out of range; accepted: a finite"),
        ({"QT_TAKER_FEE": "nan"}, "QT_TAKER_FEE='nan': not finite"),
        (
            {"QT_REDUCING_COOLDOWN_HOURS": "0"},
            "QT_REDUCING_COOLDOWN_HOURS='0': out of range; accepted: a finite number > 0 and "
            "<= 8760",
        ),
        ({"QT_REDUCING_COOLDOWN_HOURS": "9000"}, "QT_REDUCING_COOLDOWN_HOURS='9000': out of"),
        ({"QT_EXPECTANCY_WINDOW": "2"}, "QT_EXPECTANCY_WINDOW='2': out of range"),
        ({"QT_EXPECTANCY_MIN_TRADES": "1"}, "QT_EXPECTANCY_MIN_TRADES='1': out of range"),
        ({"QT_EXPECTANCY_ALPHA": "0"}, "QT_EXPECTANCY_ALPHA='0': out of range"),
        ({"QT_EXPECTANCY_BENCH_HOURS": "-1"}, "QT_EXPECTANCY_BENCH_HOURS='-1': out of range"),
        (
            {"QT_EXPECTANCY_WINDOW": "20", "QT_EXPECTANCY_MIN_TRADES": "25"},
            "QT_EXPECTANCY_MIN_TRADES=25 can never be reached in a window of "
            "QT_EXPECTANCY_WINDOW=20 trades",
        ),
        ({"QT_SYMBOLS": "BTCUSDT,ETHUSDT,BTCUSDT"}, "repeats BTCUSDT: give each symbol once"),
        (
            {"QT_LABEL": "barrier", "AI_ENGINE_ENSEMBLE_MODELS": "xgb,nhits"},
            "nhits forecast closes and learn the sign label",
        ),
        (
            {"QT_FEATURES": "universe", "QT_RL_AGENTS": "true"},
            "the PPO selector's training environment (QT_RL_AGENTS=true) replays one symbol",
        ),
        (
            {"QT_META_FILTER": "true", "QT_RL_AGENTS": "true"},
            "QT_META_FILTER=true filters production's entries through a model learned from",
        ),
        (
            {"QT_SELECTOR": "fixed:CrossSectional"},
            "QT_SELECTOR=fixed:CrossSectional trades the symbols' momentum ranks",
        ),
    ],
)
def test_contradictions_fail_at_startup(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], words: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match="invalid configuration") as err:
        load_settings()
    assert words in str(err.value)


def test_toml_file_under_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "qt.toml"
    path.write_text('symbols = ["SOLUSDT"]\nseed = 11\nmin_consensus = 3\n')
    monkeypatch.setenv("QT_CONFIG_FILE", str(path))
    monkeypatch.setenv("QT_SEED", "12")
    s = load_settings()
    assert (s.symbols, s.seed, s.min_consensus) == (["SOLUSDT"], 12, 3)
    monkeypatch.setenv("QT_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="no such file"):
        load_settings()


def test_secrets_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_DATABASE_URL", "postgresql://trader:hunter2@db/qt")
    monkeypatch.setenv("QT_BINANCE_API_KEY", "key-123")
    monkeypatch.setenv("QT_BINANCE_API_SECRET", "secret-456")
    shown = repr(redacted(load_settings()))
    for secret in ("key-123", "secret-456", "hunter2"):
        assert secret not in shown
    assert "postgresql://trader:**********@db/qt" in shown


def test_the_defaults_turn_on_nothing_that_is_not_built_and_trade_on_paper() -> None:
    s = load_settings()
    assert (s.redis_url, s.live, s.venue) == (None, False, "paper")


def test_the_rl_sizer_is_on_by_default_and_its_switch_names_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert module_enabled(load_settings(), "rl_position_sizing") == (True, "RL_SIZING_ENABLED=true")
    monkeypatch.setenv("RL_SIZING_ENABLED", "false")
    s = load_settings()
    assert module_enabled(s, "rl_position_sizing") == (False, "RL_SIZING_ENABLED=false")


def test_the_qlearning_challenger_is_on_by_default_and_its_switch_names_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert module_enabled(load_settings(), "rl_v2_qlearning") == (True, "QT_QLEARNING=true")
    monkeypatch.setenv("QT_QLEARNING", "false")
    assert module_enabled(load_settings(), "rl_v2_qlearning") == (False, "QT_QLEARNING=false")


@pytest.mark.parametrize(
    "url", ["redis://localhost:6379/0", "rediss://:pw@cache.example:6380", "unix:///run/r.sock"]
)
def test_qt_redis_url_takes_what_redis_py_takes_and_config_show_hides_its_password(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """It was refused whatever its value until the roles used Redis (issue 21)."""
    monkeypatch.setenv("QT_REDIS_URL", url)
    settings = load_settings()
    assert settings.redis_url == url
    shown = redacted(settings)["redis_url"]
    assert "pw" not in shown and (shown == url or "**********@cache.example" in shown)


@pytest.mark.parametrize("url", ["localhost:6379", "http://x", "redis://has space", "pw-4711"])
def test_a_malformed_qt_redis_url_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("QT_REDIS_URL", url)
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "QT_REDIS_URL: not a Redis URL; accepted: redis://" in text and "\n" not in text
    assert url not in text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"QT_LIVE": "1"}, "QT_LIVE: only the exact word true switches real money on"),
        ({"QT_LIVE": "yes"}, "QT_LIVE: only the exact word true"),
        ({"QT_LIVE": "true"}, "QT_LIVE=true asks for real orders but QT_VENUE=paper"),
        ({"QT_VENUE": "live"}, "QT_VENUE=live (real money) also needs QT_LIVE=true"),
        (
            {"QT_VENUE": "live", "QT_LIVE": "true", "QT_LIVE_MAX_ORDER_NOTIONAL": "50"},
            "also needs QT_LIVE_MAX_DAILY_NOTIONAL",
        ),
        ({"QT_BINANCE_API_KEY": "   "}, "QT_BINANCE_API_KEY: blank"),
        ({"QT_BINANCE_API_SECRET": "\t"}, "QT_BINANCE_API_SECRET: blank"),
    ],
)
def test_the_live_gate_refuses_what_is_not_exactly_meant(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_live_gate_passes_with_every_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {
        "QT_VENUE": "live",
        "QT_LIVE": "true",
        "QT_LIVE_MAX_ORDER_NOTIONAL": "50",
        "QT_LIVE_MAX_DAILY_NOTIONAL": "500",
    }.items():
        monkeypatch.setenv(k, v)
    s = load_settings()
    assert (s.venue, s.live, s.live_max_order_notional) == ("live", True, 50.0)


def test_switching_an_unbuilt_part_off_explicitly_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RL_SIZING_ENABLED", "false")
    monkeypatch.setenv("QT_LIVE", "false")
    assert load_settings().rl_sizing_enabled is False


def test_a_malformed_toml_file_is_one_line_naming_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "qt.toml"
    path.write_text('seed = 3\nsymbols = ["BTCUSDT"\n')
    monkeypatch.setenv("QT_CONFIG_FILE", str(path))
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert text.startswith(f"QT_CONFIG_FILE={path}: not valid TOML: ") and "\n" not in text


def test_a_bad_value_in_the_toml_file_names_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "qt.toml"
    path.write_text("slippage_bps = -3\n")
    monkeypatch.setenv("QT_CONFIG_FILE", str(path))
    with pytest.raises(ConfigError, match=f"slippage_bps in QT_CONFIG_FILE={path}=-3: out of"):
        load_settings()


def test_the_storage_settings_ignore_every_other_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the kill switch reads: where the database is, while anything else may be invalid."""
    monkeypatch.setenv("QT_TAKER_FEE", "abc")
    monkeypatch.setenv("RL_SIZING_ENABLED", "true")
    monkeypatch.setenv("QT_HOME", "/srv/qt")
    storage = load_storage_settings()
    assert storage.effective_database_url == "sqlite:////srv/qt/quantum_trader.sqlite"
    assert storage.database_setting == "QT_HOME"
    monkeypatch.setenv("QT_DATABASE_URL", "postgresql://db/qt")
    assert load_storage_settings().database_setting == "QT_DATABASE_URL"


def test_an_empty_folder_setting_means_unset_not_the_current_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``make`` exports ``QT_DATA_DIR=`` where there is no shared data; an empty ``QT_HOME`` or
    ``QT_STORE_DIR`` put the database or the store in whatever folder the command ran in."""
    for variable in ("QT_HOME", "QT_DATA_DIR", "QT_STORE_DIR", "QT_ARTIFACTS_DIR"):
        monkeypatch.setenv(variable, "")
    s = load_settings()
    assert s.home == Path(".qt") and load_storage_settings().home == Path(".qt")
    assert s.data_dir is None and s.store_dir is None and s.artifacts_dir is None
    assert s.effective_store_dir == Path(".qt") / "store"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("taker_fe = 0.001\n", "no setting is named 'taker_fe' (did you mean 'taker_fee'?)"),
        ("seed = 3\n[risk]\nmax_leverage = 2\n", "no setting is named 'risk'"),
        ("sed = 3\n", "no setting is named 'sed' (did you mean 'seed'?)"),
    ],
)
def test_a_key_of_the_toml_file_that_no_setting_reads_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, named: str
) -> None:
    """pydantic ignores keys no field reads: a typo in the file did nothing, silently."""
    path = tmp_path / "qt.toml"
    path.write_text(text)
    monkeypatch.setenv("QT_CONFIG_FILE", str(path))
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith(f"QT_CONFIG_FILE={path}: {named}")
    # the field names and the replaced deployment's variable names are keys of the file
    path.write_text("taker_fee = 0.0004\nAI_ENGINE_MIN_CONSENSUS = 1\n")
    settings = load_settings()
    assert (settings.taker_fee, settings.min_consensus) == (0.0004, 1)
    # the kill switch's settings read only where the database is, whatever else the file says
    path.write_text(text)
    assert load_storage_settings().database_setting == "QT_HOME"


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("QT_TAKER_FE", "QT_TAKER_FEE"),
        ("QT_SLIPAGE_BPS", "QT_SLIPPAGE_BPS"),
        ("QT_SYMBOL", "QT_SYMBOLS"),
    ],
)
def test_a_misspelt_qt_variable_is_refused_naming_the_setting_it_misses(
    monkeypatch: pytest.MonkeyPatch, variable: str, meant: str
) -> None:
    """It was ignored silently: the run used the default the operator meant to change."""
    monkeypatch.setenv(variable, "5")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value) == (
        f"{variable} is not a setting (did you mean {meant}?): it would be ignored; "
        "correct or unset it"
    )
    assert load_storage_settings().database_setting == "QT_HOME"  # the kill switch still reads


def test_other_softwares_qt_variables_and_the_projects_own_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Qt reads QT_* variables too; the tests and benches have their own."""
    for name in ("QT_QPA_PLATFORM", "QT_SCALE_FACTOR", "QT_HASH_SEED", "QT_LOGGING_RULES",
                 "QT_TEST_REDIS_URL", "QT_BENCH_REDIS_URL", "QT_FILL_REPLAY_EXAMPLES",
                 "QT_SHARED_DATA", "QT_REQUIRE_SERVICES"):  # fmt: skip
        monkeypatch.setenv(name, "1")
    load_settings()  # refused nothing
