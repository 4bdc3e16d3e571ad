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
from collections.abc import Collection, Iterable
from pathlib import Path

from quantum_trader.domain.errors import ConfigError

#: how close (difflib's ratio) a ``QT_`` variable must be to a setting's name to be a typo of it
NEAR_MISS = 0.88
#: variables of this project that are no setting: the config file, the tests' and benches' own
_NOT_SETTINGS = ("QT_CONFIG_FILE", "QT_SHARED_DATA", "QT_TEST_", "QT_BENCH_")


def refuse_misspelt_variables(variables: Iterable[str], known: Collection[str]) -> None:
    """ConfigError naming each ``QT_`` variable of ``variables`` that is not in ``known`` (the
    names the settings are read by) but is a near miss of one that is, with that one."""
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


def refuse_unknown_keys(path: Path, known: Collection[str], fields: Collection[str]) -> None:
    """ConfigError naming every top-level key of ``path`` that is not in ``known`` (the names
    the settings are read by), each with the closest of ``fields`` (the settings' names)."""
    try:
        keys = list(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"QT_CONFIG_FILE={path}: not valid TOML: {exc}") from None
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
