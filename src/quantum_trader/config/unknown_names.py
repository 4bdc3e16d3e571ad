"""Names no setting reads, which pydantic-settings ignores: a typo did nothing, silently.

- The keys of the ``QT_CONFIG_FILE`` TOML file are all ours: :func:`refuse_unknown_keys` refuses
  every key no setting reads (``taker_fe = 0.001``, a table), naming the closest setting.
- The environment is shared with other software (Qt reads ``QT_QPA_PLATFORM``, ``QT_SCALE_FACTOR``
  …): :func:`refuse_misspelt_variables` refuses only a ``QT_`` variable that is a near miss of a
  setting's (``QT_TAKER_FE``). Measured with difflib's ratio: typos of settings score 0.93–0.97,
  Qt's own variables and this project's other ones (tests, benches) at most 0.83; the cut is 0.88.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import AliasChoices
from pydantic.fields import FieldInfo

from quantum_trader.domain.errors import ConfigError

#: how close (difflib's ratio) a ``QT_`` variable must be to a setting's name to be a typo of it
NEAR_MISS = 0.88
#: variables of this project that are no setting: the config file, the tests' and benches' own
_NOT_SETTINGS = ("QT_CONFIG_FILE", "QT_SHARED_DATA", "QT_TEST_", "QT_BENCH_")


def _names(fields: Mapping[str, FieldInfo]) -> set[str]:
    """Every name a setting is read by: its field name and its aliases (variables)."""
    known: set[str] = set()
    for name, info in fields.items():
        known.add(name)
        if isinstance(info.validation_alias, AliasChoices):
            known.update(c for c in info.validation_alias.choices if isinstance(c, str))
    return known


def refuse_misspelt_variables(variables: Iterable[str], fields: Mapping[str, FieldInfo]) -> None:
    """ConfigError naming each ``QT_`` variable of ``variables`` that no setting reads but that
    is a near miss of one that does, with that one."""
    known = _names(fields)
    ours = sorted(n for n in known if n.startswith("QT_"))
    misses = []
    for name in sorted(variables):
        if not name.startswith("QT_") or name in known or name.startswith(_NOT_SETTINGS):
            continue
        close = difflib.get_close_matches(name, ours, n=1, cutoff=NEAR_MISS)
        if close:
            misses.append(f"{name} is not a setting (did you mean {close[0]}?)")
    if misses:
        raise ConfigError("; ".join(misses) + ": it would be ignored; correct or unset it")


def refuse_unknown_keys(path: Path, fields: Mapping[str, FieldInfo]) -> None:
    """ConfigError naming every top-level key of ``path`` that none of ``fields`` reads (by
    its name or an alias), each with the closest field name."""
    try:
        keys = list(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"QT_CONFIG_FILE={path}: not valid TOML: {exc}") from None
    known = _names(fields)
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
