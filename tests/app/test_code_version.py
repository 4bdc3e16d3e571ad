"""``code_version``: the short commit of the running source, ``-dirty`` with changes, the
package version where there is no git work tree (or no git)."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from quantum_trader.app.code_version import DISTRIBUTION, code_version


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _package_version() -> str:
    try:
        return f"v{metadata.version(DISTRIBUTION)}"
    except metadata.PackageNotFoundError:
        return "unknown"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("X = 1\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "first")
    return root


def test_a_clean_checkout_is_its_short_commit(repo: Path) -> None:
    expected = _git(repo, "rev-parse", "--short", "HEAD")
    assert code_version(repo / "src" / "pkg") == expected
    _git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    assert code_version(repo / "src" / "pkg") == _git(repo, "rev-parse", "--short", "HEAD")
    assert code_version(repo / "src" / "pkg") != expected


def test_changes_make_it_dirty(repo: Path) -> None:
    commit = _git(repo, "rev-parse", "--short", "HEAD")
    (repo / "src" / "pkg" / "mod.py").write_text("X = 2\n")
    assert code_version(repo / "src" / "pkg") == f"{commit}-dirty"
    _git(repo, "checkout", "--", ".")
    (repo / "notes.txt").write_text("untracked, not ignored\n")
    assert code_version(repo / "src" / "pkg") == f"{commit}-dirty"
    (repo / ".gitignore").write_text("notes.txt\n.gitignore\n")
    assert code_version(repo / "src" / "pkg") == commit  # ignored files are not changes


def test_without_a_work_tree_it_is_the_package_version(tmp_path: Path) -> None:
    assert code_version(tmp_path) == _package_version()


def test_a_package_inside_someone_elses_checkout_is_not_that_checkout(repo: Path) -> None:
    installed = repo / ".venv" / "site-packages" / "pkg"  # not tracked by the repo
    installed.mkdir(parents=True)
    (installed / "mod.py").write_text("X = 1\n")
    (repo / ".gitignore").write_text(".venv/\n")
    _git(repo, "add", ".gitignore")
    _git(repo, "commit", "-qm", "ignore the venv")
    assert code_version(installed) == _package_version()


def test_without_git_it_never_fails(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert code_version(repo / "src" / "pkg") == _package_version()
    assert code_version(repo / "no" / "such" / "folder") == _package_version()


def test_this_checkout_has_a_version() -> None:
    version = code_version()
    assert version and version != "unknown"
