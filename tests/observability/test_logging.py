import json

import pytest
from pydantic import SecretStr

from quantum_trader.observability.logging import configure_logging, get_logger


def test_json_lines_carry_run_id_and_never_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(run_id="abc123", fmt="json")
    get_logger("t").info(
        "connect", api_secret="s3cr3t", url="postgresql://u:hunter2@db/x", key=SecretStr("k")
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["run_id"] == "abc123"
    assert "s3cr3t" not in line and "hunter2" not in line and '"k"' not in line


def test_logs_follow_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    configure_logging(run_id="r2", fmt="json")
    replacement = io.StringIO()
    monkeypatch.setattr(sys, "stderr", replacement)  # e.g. a test harness swapping streams
    get_logger("t").info("after swap")
    assert '"after swap"' in replacement.getvalue()
