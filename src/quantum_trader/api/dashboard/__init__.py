"""The operator's dashboard: a small single-page app of static HTML, JS and CSS served by the
API application, reading the ``/api/v1`` routes with the browser's cookie session and
following the live event stream (``/api/v1/events``) for its updates.

No front-end library: the charts are a few hundred lines of plain JS drawing SVG
(``static/charts.js``). The pages draw at most a few thousand points (the equity route thins
its curve to 2,000; the candles page draws at most 2,000 candles), which SVG handles well
under the first-paint target, and nothing has to be installed, audited or served beside the
Python package: the dashboard works offline by construction (docs/api.md, "Dashboard").
"""

from __future__ import annotations

from quantum_trader.api.dashboard.routes import dashboard_routes

__all__ = ["dashboard_routes"]
