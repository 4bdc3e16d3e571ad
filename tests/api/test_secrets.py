"""The canary password and secret appear in no response body or header, nor in the log."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.api.conftest import ENDLESS, PASSWORD, SECRET, USERNAME


def test_no_route_reveals_the_password_or_the_secret(
    client: TestClient,
    app: FastAPI,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen = []
    streamed = []  # the endless routes' headers (their bodies never end)
    for password in ("wrong", PASSWORD):  # a refused and an accepted login
        login = client.post("/api/v1/auth/login", json={"username": USERNAME, "password": password})
        seen.append(login)
    token = seen[-1].json()["access_token"]
    client.cookies.clear()
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        path = route.path.replace("{name}", "x")
        for method in route.methods:
            auth = {"Authorization": f"Bearer {token}"}
            if (method, path) in ENDLESS:
                with client.stream(method, path, headers=auth) as response:
                    streamed.append(repr(response.headers.raw))
                continue
            body = {"on": False, "reason": "canary check"} if method == "POST" else None
            seen.append(
                client.request(
                    method, path, json=body, headers={"Authorization": f"Bearer {token}"}
                )
            )
    assert len(seen) > 15
    for response in seen:
        exposed = response.text + repr(response.headers.raw)
        assert PASSWORD not in exposed and SECRET not in exposed, response.url
    assert streamed and all(PASSWORD not in h and SECRET not in h for h in streamed)
    logged = capsys.readouterr()
    for text in (logged.out, logged.err, caplog.text):
        assert PASSWORD not in text and SECRET not in text
