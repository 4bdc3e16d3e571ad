"""Execution: order management and venues (simulated USDT-M futures exchange, ccxt live)."""
