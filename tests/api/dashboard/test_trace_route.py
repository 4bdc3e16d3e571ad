"""``GET /api/v1/trades/{trade_id}/trace`` and the dashboard's pages, without a browser: the
trace as the database holds it, schemathesis over the route on the seeded database, and the
pages' access rules (the shell needs the session; the login page and static files hold no
data)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.generation.case import Case
from sqlalchemy import Engine

from quantum_trader.api.dashboard.routes import STATIC
from tests.api.conftest import login
from tests.api.dashboard.seed import (
    MEMBERS,
    SIGNAL,
    TRACED,
    TRACED_REGIME,
    TRACED_STRATEGY,
    UNVOTED,
    VOTES,
    seed,
)
from tests.api.schema_checks import check_operations, operations

TRACE = "/api/v1/trades/{trade_id}/trace"


@pytest.fixture
def seeded(app: FastAPI, sqlite_engine: Engine) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client of the app over the seeded database, and a bearer header (no cookie kept)."""
    seed(sqlite_engine)
    with TestClient(app) as client:
        token = login(client)["access_token"]
        client.cookies.clear()
        yield client, {"Authorization": f"Bearer {token}"}


def test_the_trace_is_what_the_database_holds(seeded: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = seeded
    body = client.get(f"/api/v1/trades/{TRACED}/trace", headers=auth).json()
    decision = body["decision"]
    assert (decision["strategy"], decision["regime"]) == (TRACED_STRATEGY, TRACED_REGIME)
    assert decision["members"] == list(MEMBERS) and decision["sizer"] == "fixed_fractional"
    assert [(o["side"], o["reduce_only"]) for o in body["orders"]] == [
        (body["trade"]["side"], False),
        ("BUY" if body["trade"]["side"] == "SELL" else "SELL", True),
    ]
    assert all(o["decision"]["decision_id"] == decision["decision_id"] for o in body["orders"])
    [verdict] = body["risk"]
    assert (verdict["outcome"], verdict["risk_mode"], verdict["intent"]["leverage"]) == (
        "APPROVED", "MODERATE", 2.0,
    )  # fmt: skip
    assert body["votes_recorded"] is True and body["note"] == ""
    assert [
        (v["member"], v["p_down"], v["p_flat"], v["p_up"], v["weight"]) for v in decision["votes"]
    ] == [(m, *v) for m, v in zip(MEMBERS, VOTES, strict=True)]
    assert tuple(decision["signal"].values()) == SIGNAL
    older = client.get(f"/api/v1/trades/{UNVOTED}/trace", headers=auth).json()
    assert older["decision"]["votes"] == [] and older["decision"]["signal"] is None
    assert older["votes_recorded"] is False and "stored before" in older["note"]
    assert client.get("/api/v1/trades/nope/trace", headers=auth).status_code == 404
    assert client.get(f"/api/v1/trades/{TRACED}/trace").status_code == 401


def test_the_trace_keeps_its_documented_schema(
    app: FastAPI, seeded: tuple[TestClient, dict[str, str]]
) -> None:
    auth = seeded[1]
    [operation] = [op for op in operations(app, auth) if op.path == TRACE]

    def traced_half(case: Case) -> None:
        if case.path_parameters and len(case.path_parameters["trade_id"]) % 2 == 0:
            case.path_parameters = {"trade_id": TRACED}  # half the cases answer with content

    check_operations([operation], auth, traced_half)


def test_the_shell_needs_a_session_and_the_public_files_hold_no_data(client: TestClient) -> None:
    for path in ("/", "/dashboard", "/dashboard/"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/dashboard")
    assert client.get("/dashboard/", follow_redirects=False).headers["location"] == (
        "/dashboard/login"
    )
    client.cookies.set("qt_session", "not.a.token")
    assert client.get("/dashboard/", follow_redirects=False).status_code == 303
    client.cookies.clear()
    login_page = client.get("/dashboard/login")
    assert login_page.status_code == 200 and "login-form" in login_page.text
    for path in sorted(STATIC.iterdir()):  # code and styles, the same bytes for everyone
        served = client.get(f"/dashboard/static/{path.name}")
        assert served.status_code == 200 and served.content == path.read_bytes(), path.name
    login(client)  # sets the session cookie
    shell = client.get("/dashboard/", follow_redirects=False)
    assert shell.status_code == 200 and 'id="page"' in shell.text


def test_no_page_loads_anything_from_another_origin() -> None:
    """Offline by construction: no script, style or font from a CDN."""
    for path in STATIC.iterdir():
        text = path.read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), path.name
        assert "https://" not in text and "//cdn" not in text, path.name
