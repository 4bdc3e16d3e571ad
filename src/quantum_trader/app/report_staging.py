"""Where a run's report is staged before it is published, and the runs whose report is still
there (``app/run_report.py`` writes it; ``app/report_recovery.py`` writes it again).

Kept apart from both so that ``quantum-trader status``, which names a run killed while its
report was written, imports only this (the writer imports the whole report and its training
figures: ~1.9 s of the command's start, ``python -X importtime``).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

from quantum_trader.adapters.sql.run_lock import LockHolder
from quantum_trader.app.run_lock import gone_from_this_host

#: the folder of ``runs/<run id>/`` a report is written in before it is published
STAGING = ".report.partial"
#: in the staging folder: who writes the report (pid, host) and what produced the run
WRITER = "writer.json"


@dataclass(frozen=True, slots=True)
class UnwrittenReport:
    """A run's report left in its staging folder: by a dead writer, or one writing it now."""

    run_id: str
    folder: Path  # runs/<run id>/
    writer: str  # "pid N on HOST", or "its writer" when not known
    writing: bool  # its writer is alive on this host: the report is being written
    produced_by: str  # "run" or "backtest": the report's title

    def line(self) -> str:
        if self.writing:
            return f"run {self.run_id}: its report is being written ({self.writer})"
        return (
            f"run {self.run_id}: its report was not written ({self.writer} stopped before "
            f"it ended): `quantum-trader report {self.run_id}` writes it"
        )


def unwritten_reports(home: Path) -> list[UnwrittenReport]:
    """The runs under ``home/runs`` whose report is staged and not published, by run id."""
    return [unwritten_at(staging) for staging in sorted((home / "runs").glob(f"*/{STAGING}"))]


def unwritten_at(staging: Path) -> UnwrittenReport:
    """The report staged in ``staging`` (``runs/<run id>/STAGING``) and who writes it."""
    folder = staging.parent
    try:
        note = json.loads((staging / WRITER).read_text(encoding="utf-8"))
        pid, host = int(note["pid"]), str(note["host"])
    except (OSError, ValueError, KeyError, TypeError):  # killed before its note was whole
        return UnwrittenReport(folder.name, folder, "its writer", False, "run")
    here = host == socket.gethostname()
    # a writer on another host cannot be seen from here: not known to be alive
    writing = here and not gone_from_this_host(LockHolder(folder.name, pid, host, 0, 0))
    writer = f"pid {pid} on {host}" + ("" if here else ", another host")
    return UnwrittenReport(
        folder.name, folder, writer, writing, str(note.get("produced_by", "run"))
    )
