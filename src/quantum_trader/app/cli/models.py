"""``quantum-trader models``: the model registry (list, show, promote, rollback, prune).

Training lives in ``quantum-trader train`` (:mod:`quantum_trader.app.cli.train`), one command for
all four members, which registers each new version here as a CANDIDATE.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.table import Table

from quantum_trader.adapters.artifacts import ArtifactCheck, LocalArtifactStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.cli.audit import actor_name, audited_reason
from quantum_trader.app.cli.render import console
from quantum_trader.app.run_lock import hold_run_lock
from quantum_trader.app.storage import open_settings_database
from quantum_trader.clock.clock import WallClock
from quantum_trader.config.settings import Settings, load_settings
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.time import fmt
from quantum_trader.learning.lineage import MODEL_KIND
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage, StageChange
from quantum_trader.learning.retention import prune as prune_store
from quantum_trader.learning.retention import retention

app = typer.Typer(help="Model registry: list, show, promote, rollback.", no_args_is_help=True)


def _model_key(text: str) -> ModelKey:
    """``text`` as a model key; a malformed one is one line (exit 2), not a traceback."""
    try:
        return ModelKey.parse(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def open_registry(settings: Settings) -> ModelRegistry:
    """The registry in the configured database."""
    engine = open_settings_database(settings)
    return ModelRegistry(SqlRegistryRepository(engine), WallClock())


#: how each artifact check shows (a version whose artifact does not verify cannot serve)
CHECK_STYLE = {
    ArtifactCheck.OK: "green",
    ArtifactCheck.TAMPERED: "red",
    ArtifactCheck.MISSING: "red",
}


def checked(store: LocalArtifactStore, digest: str, unneeded: bool = False) -> str:
    """The artifact's hash check, coloured (``list`` and ``show`` recompute it each time). A
    missing artifact that no serving or rollback can reach (``unneeded``) reads REMOVED:
    what ``models prune`` leaves."""
    check = store.check(digest)
    if check is ArtifactCheck.MISSING and unneeded:
        return "[dim]REMOVED[/]"
    return f"[{CHECK_STYLE[check]}]{check.value}[/]"


@app.command("list")
def list_versions(
    key: str | None = typer.Argument(None, help="MODEL/SCOPE/hH, e.g. xgb/BTCUSDT/h4"),
) -> None:
    """Every registered version with its stage; the production ones are marked; each
    artifact's hash is verified (OK / TAMPERED / MISSING)."""
    settings = load_settings()
    registry = open_registry(settings)
    store = LocalArtifactStore(settings.effective_artifacts_dir)
    versions = registry.versions(_model_key(key) if key else None)
    unneeded = retention(versions, registry.history).unneeded.get
    table = Table(title="Model versions")
    columns = (
        "model line",
        "version",
        "stage",
        "prod",
        "trained on",
        "artifact",
        "check",
        "created",
    )
    for column in columns:
        table.add_column(column)
    production: dict[ModelKey, int | None] = {}
    for v in versions:
        if v.key not in production:
            current = registry.production(v.key)
            production[v.key] = None if current is None else current.version
        window = v.lineage.window  # a model's or a policy's (``metadata`` is a model's only)
        table.add_row(
            str(v.key),
            str(v.version),
            v.stage.value,
            "*" if production[v.key] == v.version else "",
            f"{fmt(window[0])[:10]} → {fmt(window[1])[:10]}" if window else "",
            v.artifact_hash[:12],
            checked(store, v.artifact_hash, v in unneeded(v.artifact_hash, ())),
            fmt(v.created_at),
        )
    console().print(table)


@app.command()
def show(key: str, version: int = typer.Argument(..., help="version number")) -> None:
    """Lineage and audit trail of one version, its artifact's hash verified."""
    settings = load_settings()
    registry = open_registry(settings)
    store = LocalArtifactStore(settings.effective_artifacts_dir)
    model_key = _model_key(key)
    v = registry.get(model_key, version)
    lineage = v.lineage
    console().print(f"[bold]{v.key} v{v.version}[/] stage {v.stage.value} ({lineage.kind})")
    if lineage.kind == MODEL_KIND:
        model_file = lineage.model_metadata().artifact_hash
        console().print(
            f"artifact sha256 {v.artifact_hash} {checked(store, v.artifact_hash)}  "
            f"model file sha256 {model_file}"
        )
    else:  # a policy bundle: its manifest and state are named in the detail below
        console().print(f"artifact sha256 {v.artifact_hash} {checked(store, v.artifact_hash)}")
    window = lineage.window
    if window:
        console().print(f"training window {fmt(window[0])} → {fmt(window[1])}")
    if lineage.trained_at is not None:
        console().print(f"trained at {fmt(lineage.trained_at)} (engine time)")
    console().print(f"data hash {lineage.data_hash}")
    if lineage.kind == MODEL_KIND:
        features = lineage.model_metadata().features
        console().print(f"features ({len(features)}): {', '.join(features)}")
    else:
        console().print(f"detail {json.dumps(lineage.detail, sort_keys=True)}")
    console().print(f"hyperparameters {json.dumps(lineage.parameters, sort_keys=True)}")
    console().print(f"metrics {json.dumps(lineage.metrics, sort_keys=True)}")
    console().print(audit_table(registry.history(model_key)))


@app.command()
def history(key: str) -> None:
    """The audit trail of a model line: every registration and stage change, with its engine
    time (a replay's candle time) and the wall-clock time it was recorded, who and why."""
    registry = open_registry(load_settings())
    console().print(audit_table(registry.history(_model_key(key))))


def audit_table(changes: Sequence[StageChange]) -> Table:
    """Stage changes as a table; rows stored before the wall-clock column existed show "-"."""
    table = Table(title="Audit trail")
    for column in (
        "engine time",
        "recorded (wall)",
        "version",
        "from",
        "to",
        "action",
        "by",
        "why",
    ):
        table.add_column(column)
    for change in changes:
        table.add_row(
            fmt(change.at),
            "-" if change.recorded_at is None else fmt(change.recorded_at),
            str(change.version),
            change.from_stage.value if change.from_stage else "",
            change.to_stage.value,
            change.action.value,
            change.actor,
            change.reason,
        )
    return table


@app.command()
def promote(
    key: str,
    version: int,
    to: Annotated[
        Stage | None, typer.Option("--to", help="target stage (default: the next one)")
    ] = None,
    reason: str = typer.Option(..., "--reason", help="why (kept in the audit trail)"),
    actor: str | None = typer.Option(None, "--by", help="who decides (default: cli:<user>)"),
) -> None:
    """Move a version forward: CANDIDATE → SHADOW → CANARY → PRODUCTION (or to RETIRED)."""
    reason = audited_reason(reason, "say why this version is promoted")
    registry = open_registry(load_settings())
    v = registry.promote(_model_key(key), version, actor=actor_name(actor), reason=reason, to=to)
    console().print(f"{v.key} v{v.version} is now {v.stage.value}")


@app.command()
def rollback(
    key: str,
    reason: str = typer.Option(..., "--reason", help="why (kept in the audit trail)"),
    actor: str | None = typer.Option(None, "--by", help="who decides (default: cli:<user>)"),
) -> None:
    """Retire the production version and restore the previous one."""
    reason = audited_reason(reason, "say why production rolls back")
    registry = open_registry(load_settings())
    v = registry.rollback(_model_key(key), actor=actor_name(actor), reason=reason)
    console().print(f"{v.key}: production is v{v.version} again")


@app.command()
def prune(
    dry_run: bool = typer.Option(False, "--dry-run", help="say what would go, remove nothing"),
) -> None:
    """Remove the artifacts no version that may serve needs: those of RETIRED versions that
    no rollback reaches (docs/learning.md, "Artifact retention"). Registry rows, lineage
    and audit trail stay. Refused while an engine runs on this database."""
    settings = load_settings()
    db = open_settings_database(settings)
    registry = ModelRegistry(SqlRegistryRepository(db), WallClock())
    store = LocalArtifactStore(settings.effective_artifacts_dir)
    # holding the engine lock, no run trains, promotes or stores meanwhile
    lock = None if dry_run else hold_run_lock(db, f"prune-{WallClock().now()}")
    try:
        pruned = prune_store(
            retention(registry.versions(), registry.history), store, dry_run=dry_run
        )
    finally:
        if lock is not None:
            lock.release()
    table = Table(title="Would remove" if dry_run else "Removed")
    for column in ("model line", "artifacts", "MiB"):
        table.add_column(column)
    for line, (count, size) in sorted(pruned.lines.items()):
        table.add_row(line, str(count), f"{size / 2**20:.1f}")
    console().print(table)
    console().print(
        f"{'would free' if dry_run else 'freed'} {pruned.freed / 2**20:.1f} MiB; kept "
        f"{len(pruned.kept)} artifacts ({sum(store.size(d) for d in pruned.kept) / 2**20:.1f} "
        "MiB) that serve, shadow, "
        "wait as candidates or are rollback targets"
    )
