"""Backtester: replays history through the same engine, simulated exchange and portfolio."""
