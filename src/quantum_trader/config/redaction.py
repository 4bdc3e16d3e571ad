"""Settings as an operator may see them: secrets replaced by a mark (``config show``, the API's
``/config``), and the password hidden in a database or Redis URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from quantum_trader.config.settings import StorageSettings

SECRET_MARK = "**********"


def redacted(settings: StorageSettings) -> dict[str, Any]:
    """The effective settings as a dict, secrets replaced by a mark (for ``config show``)."""
    out: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            out[name] = SECRET_MARK
        elif isinstance(value, Path):
            out[name] = str(value)
        elif name in ("database_url", "redis_url") and value and "@" in value:
            out[name] = redact_url(value)
        else:
            out[name] = value
    out["effective_database_url"] = redact_url(settings.effective_database_url)
    return out


def redact_url(url: str) -> str:
    """Hide the password in ``scheme://user:password@host``."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:{SECRET_MARK}@{host}" if ":" in creds else url
