"""The ``quantum-trader`` console script's entry point: the CLI is imported when it is called.

A process started by the console script has that script as its ``__main__`` file, and
multiprocessing's spawn start method runs the parent's ``__main__`` file again in every process
it starts (as ``__mp_main__``, before the child's task). The script's only top-level statement
is the import of its entry point; with the CLI there (``app/cli/main.py``, which imports every
command: the HTTP API, scipy.stats, alembic …), each training, report or fold process of a run
spent ~4 s of CPU importing it before its task (a probe here: a spawned child of such a script
3.8–4.7 s to its first task and 284 MB resident then, against 0.06–0.11 s and 16 MB with this
module as the entry point; a task then imports what it needs itself, so what the child keeps
for good is the part of the CLI its task does not use). This module imports nothing at its top
level.
"""

from __future__ import annotations


def main() -> None:
    """Run the CLI (``app/cli/main.py``'s ``main``)."""
    from quantum_trader.app.cli.main import main as cli_main

    cli_main()
