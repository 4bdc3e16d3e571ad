"""The simulated USDT-M perpetual futures exchange used by backtests and paper trading."""
