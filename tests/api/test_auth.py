"""Authentication: every route but ping and health is closed to missing, expired, unsigned,
tampered and foreign tokens (generated from the route table); login, bearer and cookie
access, CSRF on state changes, the login rate limit."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from quantum_trader.clock.clock import SimulatedClock
from tests.api.conftest import PASSWORD, SECRET, START_MS, USERNAME, login

PUBLIC = {"/api/v1/ping", "/api/v1/health", "/api/v1/auth/login"}
KILL = "/api/v1/risk/kill-switch"


def closed_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route that must authenticate, path parameters filled in."""
    found = []
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path not in PUBLIC:
            path = route.path.replace("{name}", "some-name")
            found.extend((method, path) for method in sorted(route.methods))
    return found


def _claims(exp_s: int) -> dict[str, object]:
    return {"sub": USERNAME, "iat": exp_s - 3600, "exp": exp_s, "csrf": "x"}


def _tampered() -> str:
    head, payload, signature = jwt.encode(
        _claims(START_MS // 1000 + 3600), SECRET, algorithm="HS256"
    ).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "intruder"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


BAD_TOKENS = {
    "expired": jwt.encode(_claims(START_MS // 1000 - 1), SECRET, algorithm="HS256"),
    "alg_none": jwt.encode(_claims(START_MS // 1000 + 3600), None, algorithm="none"),
    "tampered": _tampered(),
    "other_secret": jwt.encode(
        _claims(START_MS // 1000 + 3600), "another-secret-of-32-characters!", algorithm="HS256"
    ),
    "garbage": "not.a.token",
}


def test_the_route_table_has_the_closed_routes(app: FastAPI) -> None:
    paths = {path for _, path in closed_routes(app)}
    assert {"/metrics", "/api/v1/status", KILL, "/api/v1/openapi.json"} <= paths
    assert len(paths) >= 13


def test_every_closed_route_answers_401_without_credentials(
    client: TestClient, app: FastAPI
) -> None:
    for method, path in closed_routes(app):
        response = client.request(method, path)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_every_closed_route_refuses_a_bad_token(
    client: TestClient, app: FastAPI, kind: str
) -> None:
    token = BAD_TOKENS[kind]
    for method, path in closed_routes(app):
        as_bearer = client.request(method, path, headers={"Authorization": f"Bearer {token}"})
        client.cookies.set("qt_session", token)
        as_cookie = client.request(method, path, headers={"X-CSRF-Token": "x"})
        client.cookies.clear()
        assert (as_bearer.status_code, as_cookie.status_code) == (401, 401), (kind, method, path)


def test_a_token_expires_on_the_clock(client: TestClient, clock: SimulatedClock) -> None:
    headers = {"Authorization": f"Bearer {login(client)['access_token']}"}
    client.cookies.clear()
    assert client.get("/api/v1/status", headers=headers).status_code == 200
    clock.advance_to(START_MS + 60 * 60_000)
    assert client.get("/api/v1/status", headers=headers).status_code == 401


def test_wrong_credentials_are_refused(client: TestClient) -> None:
    for body in (
        {"username": USERNAME, "password": "wrong"},
        {"username": "x", "password": PASSWORD},
    ):
        response = client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 401
        assert "qt_session" not in response.cookies


def test_login_gives_a_bearer_token_and_a_strict_http_only_session(client: TestClient) -> None:
    response = client.post("/api/v1/auth/login", json={"username": USERNAME, "password": PASSWORD})
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("qt_session="))
    csrf = next(c for c in cookies if c.startswith("qt_csrf="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    assert "HttpOnly" not in csrf and "SameSite=strict" in csrf  # the page's script reads it
    token = response.json()["access_token"]
    client.cookies.clear()
    bearer = client.get("/api/v1/risk", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200


def test_cookie_session_reads_and_needs_csrf_to_change_state(client: TestClient) -> None:
    csrf = login(client)["csrf_token"]  # the client now holds both cookies
    assert client.get("/api/v1/risk/kill-switch").status_code == 200
    body = {"on": True, "reason": "csrf test"}
    assert client.post(KILL, json=body).status_code == 403
    assert client.post(KILL, json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.get("/api/v1/risk/kill-switch").json()["engaged"] is False
    accepted = client.post(KILL, json=body, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 200 and accepted.json()["engaged"] is True


def test_a_bearer_token_needs_no_csrf(client: TestClient, bearer: dict[str, str]) -> None:
    response = client.post(KILL, json={"on": True, "reason": "bearer"}, headers=bearer)
    assert response.status_code == 200


def test_login_attempts_are_rate_limited_per_minute(
    client: TestClient, clock: SimulatedClock
) -> None:
    wrong = {"username": USERNAME, "password": "wrong"}
    codes = [client.post("/api/v1/auth/login", json=wrong).status_code for _ in range(5)]
    assert codes == [401] * 5
    right = {"username": USERNAME, "password": PASSWORD}
    assert client.post("/api/v1/auth/login", json=right).status_code == 429
    clock.advance_to(START_MS + 61_000)
    assert client.post("/api/v1/auth/login", json=right).status_code == 200
