"""The keys of the ``QT_CONFIG_FILE`` TOML file: each must be a setting's.

pydantic-settings ignores keys no field reads, so a typo (``taker_fe = 0.001``) or a table did
nothing, silently. :func:`refuse_unknown_keys` names them, with the closest setting.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pydantic import AliasChoices
from pydantic.fields import FieldInfo

from quantum_trader.domain.errors import ConfigError


def refuse_unknown_keys(path: Path, fields: Mapping[str, FieldInfo]) -> None:
    """ConfigError naming every top-level key of ``path`` that none of ``fields`` reads (by
    its name or an alias), each with the closest field name."""
    try:
        keys = list(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"QT_CONFIG_FILE={path}: not valid TOML: {exc}") from None
    known: set[str] = set()
    for name, info in fields.items():
        known.add(name)
        if isinstance(info.validation_alias, AliasChoices):
            known.update(c for c in info.validation_alias.choices if isinstance(c, str))
    unknown = [k for k in keys if k not in known]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(fields), n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ConfigError(
        f"QT_CONFIG_FILE={path}: no setting is named {', '.join(hints)}; the keys are the "
        "settings' field names (README, Configuration)"
    )
