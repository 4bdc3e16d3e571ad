"""Which code produced a result: the git commit of the running source, for the trial ledger.

``abc1234`` is a clean checkout of that commit; ``abc1234-dirty`` has changes git sees (edited
tracked files or untracked, not ignored ones), so the commit alone does not reproduce it. Where
the package does not run from a git work tree (an installed wheel) or git is missing, it is the
installed package's version (``v0.1.0``), else ``unknown``. Never raises: a result must be
recordable wherever it was produced.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

#: the distribution whose version stands in where git cannot say
DISTRIBUTION = "quantum-trader"
_GIT_TIMEOUT_S = 10.0


def code_version(source: Path | None = None) -> str:
    """The short commit (+ ``-dirty``) of the git work tree holding ``source`` (by default this
    package), or the package version when that is no git work tree."""
    package = source or Path(__file__).resolve().parents[1]
    commit = _git(package, "rev-parse", "--short", "HEAD")
    if commit is None or not _tracked(package):
        return _package_version()
    changes = _git(package, "status", "--porcelain")
    if changes is None:
        return _package_version()
    return f"{commit}-dirty" if changes else commit


def _tracked(package: Path) -> bool:
    """Whether the package's files belong to the work tree git found: a package installed
    inside some other repository (a virtual environment in a checkout) is not that checkout's
    code."""
    listed = _git(package, "ls-files", "--", ".")
    return bool(listed)


def _package_version() -> str:
    try:
        return f"v{metadata.version(DISTRIBUTION)}"
    except metadata.PackageNotFoundError:
        return "unknown"


def _git(where: Path, *args: str) -> str | None:
    """``git args`` run in ``where``; its stripped output, or None on any failure."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # no git, no such folder, too slow
        return None
    return done.stdout.strip() if done.returncode == 0 else None
