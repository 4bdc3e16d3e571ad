"""What a run id may be: it names the run's folder (``HOME/runs/RUN_ID``, ``reports/RUN_ID``) and
its rows, so a given one (``paper --run-id``, ``backtest --run-id``) may not hold a ``/``, a
space or start with a dot: ``--run-id '../../x'`` wrote the report outside the home.

>>> checked_run_id("paper-2024-01.a_1")
'paper-2024-01.a_1'
>>> checked_run_id("../x")
Traceback (most recent call last):
...
quantum_trader.domain.errors.ConfigError: run id '../x': use 1 to 64 letters, digits, '.', '_' or '-', the first a letter or digit (it names the run's folder)
"""

from __future__ import annotations

import re

from quantum_trader.domain.errors import ConfigError

#: 64: the longest the event outbox stores (``adapters/sql/event_outbox.py``)
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def checked_run_id(run_id: str, what: str = "run id") -> str:
    """``run_id`` when it can name a folder and a run; else ``ConfigError`` naming it."""
    if _RUN_ID.fullmatch(run_id) is None:
        raise ConfigError(
            f"{what} {run_id!r}: use 1 to 64 letters, digits, '.', '_' or '-', the first a"
            " letter or digit (it names the run's folder)"
        )
    return run_id
