"""``quantum-trader experiments``: declare, list, show and stop A/B experiments
(``experiments/``). A declared experiment is fed by the runs started with
``QT_AB_EXPERIMENT=<name>`` (``app/ab_testing.py``), each continuing where the last one stopped;
the main job also declares one of its own per run, and the PPO training daemon one per candidate
it puts in the shadow (``experiments/candidates.py``). ``list`` and ``show`` say who created
each (``experiments/creators.py``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.app.cli.audit import audited_reason
from quantum_trader.app.storage import open_settings_database
from quantum_trader.clock.clock import WallClock
from quantum_trader.config.settings import load_storage_settings
from quantum_trader.domain.time import to_datetime
from quantum_trader.experiments.allocation import AllocationConfig
from quantum_trader.experiments.creators import OPERATOR, creator_of, record_creator
from quantum_trader.experiments.experiment import Experiment
from quantum_trader.experiments.records import StoredExperiment
from quantum_trader.experiments.spec import (
    ARM_KINDS,
    MIN_SAMPLES,
    ArmSpec,
    ExperimentSpec,
    SpecError,
)

ARM_HELP = f"name[:kind[:ref]], kind one of {', '.join(ARM_KINDS)}; the first is the control"
app = typer.Typer(help="A/B experiments: declare, list, show, stop.", no_args_is_help=True)


def _store() -> SqlExperimentStore:
    return SqlExperimentStore(open_settings_database(load_storage_settings()))


def _arm(text: str) -> ArmSpec:
    """``name[:kind[:ref]]``."""
    name, _, rest = text.partition(":")
    kind, _, ref = rest.partition(":")
    return ArmSpec(name, kind or "policy", ref)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="the experiment's name")],
    arms: Annotated[list[str], typer.Option("--arm", help=ARM_HELP)],
    allocation: str = typer.Option("thompson", help="thompson or fixed"),
    weights: str = typer.Option("", help="fixed split, comma-separated in arm order"),
    alpha: float = typer.Option(0.05, help="the sequential test's error rate"),
    horizon: int = typer.Option(4000, help="paired candles; no verdict by then: no difference"),
    min_samples: int = typer.Option(MIN_SAMPLES, help="no verdict before this many paired candles"),
    max_drawdown: float = typer.Option(0.25, help="an arm past this drawdown is broken"),
    seed: int = typer.Option(0, help="the assignment's seed"),
    mode: str = typer.Option(
        "shadow", help="shadow: no arm trades the real account; route: the allocated arm does"
    ),
) -> None:
    """Declare an experiment (one decision metric, net_return_bp; guardrail max_drawdown)."""
    try:
        split = tuple(float(w) for w in weights.split(",")) if weights else ()
        spec = ExperimentSpec(
            name,
            tuple(_arm(a) for a in arms),
            guardrails={"max_drawdown": max_drawdown},
            allocation=AllocationConfig(kind=allocation, weights=split),
            alpha=alpha,
            horizon=horizon,
            min_samples=min_samples,
            mode=mode,
            seed=seed,
        )
        store, now = _store(), WallClock().now()
        store.create(spec, now)
        record_creator(store, name, now, OPERATOR)
    except (SpecError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(
        f"experiment {name} declared; feed it with QT_AB_EXPERIMENT={name} quantum-trader run"
    )


@app.command("list")
def list_experiments() -> None:
    """Every experiment: status, arms, samples, allocation, verdict, who created it."""
    store = _store()
    table = Table(title="Experiments")
    names = store.names()
    # the name whole (the other columns fold first): it is what ``show`` and ``stop`` take
    table.add_column("name", overflow="fold", min_width=min(max(map(len, names), default=4), 40))
    for column in ("status", "arms", "samples", "units", "allocation", "verdict", "created by"):
        table.add_column(column, overflow="fold")
    for name in names:
        stored = _load(store, name)
        e = Experiment(stored, store)
        r = e.result
        table.add_row(
            escape(name),
            e.status.value,
            ", ".join(e.spec.arm_names),
            str(r.samples),
            str(sum(e.counts.values())),
            ", ".join(f"{a} {p:.0%}" for a, p in r.probabilities.items()),
            escape(r.verdict.value if r.arm is None else f"{r.verdict.value}: {r.arm}"),
            escape(creator_of(stored)),
        )
    Console().print(table)


@app.command("show")
def show(
    name: str = typer.Argument(...), audit: int = typer.Option(20, min=1, help="audit lines")
) -> None:
    """One experiment: its declaration, where its test stands, its units and audit trail."""
    store = _store()
    stored = _load(store, name)
    e = Experiment(stored, store)
    console = Console()
    console.print(escape(e.spec.to_json()), highlight=False)
    console.print(f"created by: {escape(creator_of(stored))}", highlight=False)
    console.print(escape(e.summary()), highlight=False)
    for arm, reading in e.result.comparisons.items():
        console.print(f"  {escape(arm)} - {escape(e.spec.control)}: {reading}", highlight=False)
    console.print(escape(e.result.srm.summary()), highlight=False)
    for entry in stored.audit[-audit:]:
        console.print(f"  {to_datetime(entry.at)} {entry.event}: {escape(entry.detail)}",
                      highlight=False)  # fmt: skip


@app.command("stop")
def stop(
    name: str = typer.Argument(...),
    reason: str = typer.Option(..., "--reason", help="why (audited)"),
) -> None:
    """Stop an experiment: no more observations or units; its evidence stays. A run feeding it
    takes the stop up within a day of candles."""
    reason = audited_reason(reason, "say why the experiment stops")
    store = _store()
    try:
        Experiment(_load(store, name), store).stop(WallClock().now(), reason)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"experiment {name} stopped")


def _load(store: SqlExperimentStore, name: str) -> StoredExperiment:
    stored = store.load(name)
    if stored is None:
        raise typer.BadParameter(f"no experiment {name!r} (quantum-trader experiments list)")
    return stored
