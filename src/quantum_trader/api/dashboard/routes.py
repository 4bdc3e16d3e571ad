"""The dashboard's routes: its pages (``/``, ``/dashboard/``, ``/dashboard/login``) and its
static files (``/dashboard/static/…``).

They are plain Starlette routes, not API operations: they are not in the OpenAPI document,
and they answer no data. The login page and the static files (code and styles, the same for
every visitor) are public; the app shell needs the session cookie and sends a browser without
a valid one to the login page (303). Every datum the pages show comes from the authenticated
``/api/v1`` routes.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from quantum_trader.api.auth import SESSION_COOKIE
from quantum_trader.api.context import ApiContext

STATIC = Path(__file__).parent / "static"
DASHBOARD = "/dashboard"
LOGIN = f"{DASHBOARD}/login"
#: the shell and the login page change with the package, not per visitor: never cached stale
NO_STORE = {"Cache-Control": "no-store"}


def dashboard_routes(ctx: ApiContext) -> list[BaseRoute]:
    """The dashboard's routes for ``ctx``'s app (its token issuer checks the session)."""

    def shell(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token is None or ctx.issuer.verify(token) is None:
            return RedirectResponse(LOGIN, status_code=303)
        return FileResponse(STATIC / "index.html", headers=NO_STORE)

    def login(request: Request) -> Response:
        return FileResponse(STATIC / "login.html", headers=NO_STORE)

    def root(request: Request) -> Response:
        return RedirectResponse(f"{DASHBOARD}/", status_code=303)

    return [
        Route("/", root, methods=["GET"]),
        Route(DASHBOARD, root, methods=["GET"]),
        Route(f"{DASHBOARD}/", shell, methods=["GET"]),
        Route(LOGIN, login, methods=["GET"]),
        Mount(f"{DASHBOARD}/static", StaticFiles(directory=STATIC), name="dashboard-static"),
    ]
