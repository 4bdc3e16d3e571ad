"""The operator's HTTP API (issue 20, first slice): versioned read routes, the kill switch,
JWT and cookie authentication, Prometheus metrics. ``quantum-trader serve`` (app/cli/serve.py)
builds :class:`ApiConfig` from the settings and runs :func:`create_app` under uvicorn."""

from quantum_trader.api.app import create_app
from quantum_trader.api.config import ApiConfig

__all__ = ["ApiConfig", "create_app"]
