"""The operator's HTTP API (issue 20, first slice): versioned read routes, the kill switch,
JWT and cookie authentication, Prometheus metrics. ``quantum-trader serve`` (app/cli/serve.py)
builds :class:`~quantum_trader.api.config.ApiConfig` from the settings and runs
:func:`~quantum_trader.api.app.create_app` under uvicorn.

Nothing is imported here: a module of the package (``backtest_jobs``, read by the CLI's
backtests) must not bring FastAPI and every route with it into each CLI command.
"""
