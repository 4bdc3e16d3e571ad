"""The run report's figure for many symbols: 50 symbols (53 rows) failed in plotly on a
vertical spacing above 1 / (rows - 1), after a whole replay (``bench/bench_load_50.py``)."""

from __future__ import annotations

from quantum_trader.backtester.report import build_figure
from quantum_trader.data.synthetic import SyntheticConfig, generate_market
from quantum_trader.engine.session import SessionResult


def test_the_figure_of_fifty_symbols_is_built() -> None:
    series = generate_market(
        SyntheticConfig(seed=3, candles=24), [f"S{i:02d}USDT" for i in range(50)]
    )
    frames = {s.symbol: s.frame for s in series}
    first = next(iter(frames.values()))
    times = [int(t) for t in first["open_time"]]
    result = SessionResult(
        run_id="many", metrics=None,  # type: ignore[arg-type]  # the figure does not read it
        trades=[], equity_times=times, equity_values=[10_000.0] * len(times),
        ledger_digest="", event_log_hash="", candles=len(times), resumed_from=0, elapsed_s=0.0,
    )  # fmt: skip
    fig = build_figure(result, frames)
    candles = [t for t in fig.data if t.type == "candlestick"]
    assert len(candles) == 50
