"""The validation gate's trading replays (``learning/trading_check.py``) through the engine.

For a candidate and its validation window, two replays of the window by ``replay``:
:func:`~quantum_trader.app.system_evaluation.replay_window`, the main job's replay that
``evaluate --system`` runs per fold: the whole decision path on the engine's trading session
(exchange, fees, slippage, funding), offline. (The entry points hand it down to the run's
composition, ``run_main_job(gate_replay=…)``: the main job cannot import what calls it.) Each replay runs in a scratch home of its own
under ``<home>/validations/<run id>/``, whose registry holds the PRODUCTION version of every
line the run serves, copied from the run's registry (same lineage, same artifact, hard-linked
from the run's store); in the candidate's replay the candidate takes its line's place. Nothing
is trained there: a served line without a PRODUCTION version is a
:class:`~quantum_trader.learning.trading_check.TradingReplayError`, never a bootstrap. Continuous
learning and the shadow are off inside a replay, so a validation never starts another. The
scratch home goes once its replay is read; the figures live on in the trial ledger.

Both arms start flat from the initial balance with the intelligence modules fresh (state is
scoped to a run): the replays compare two versions of one line, not the run's state at the
trigger. Two candidates of one symbol judged at one check (xgb and lgbm) share the window and
the production versions, so the champion's replay is made once for both.

No look-ahead: the window's candles all closed before the trigger (the held-out rows' labels
were known at it), and the candidate was fitted only on rows whose labels were known before the
window opens (the gate checks its lineage). The other members and the champion serve as they do
in production; one that continuous learning promoted may have been fitted on part of the window,
which can only favour the champion's arm.

The replays run on the engine thread: in a replay the engine waits for them at that engine time
(deterministic), live its decisions wait for them too (see docs/learning.md).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.training import FORECAST_SCOPE
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.config.settings import Settings
from quantum_trader.domain.time import fmt
from quantum_trader.evaluation.system import VariantRun, run_performance
from quantum_trader.learning.gate import GATE_ACTOR
from quantum_trader.learning.registry import ModelKey, ModelRegistry, ModelVersion, Stage
from quantum_trader.learning.trading_check import (
    TradingReplay,
    TradingReplayError,
    TradingReplays,
)
from quantum_trader.learning.trainers import FamilyKind, names_of
from quantum_trader.models.ensemble.loading import ArtifactSource
from quantum_trader.observability.logging import get_logger
from quantum_trader.performance.metrics import bar_returns

log = get_logger(__name__)

#: what a replay serves: each line → the version (of the run's registry) that serves it
Served = Mapping[ModelKey, ModelVersion]
#: the main job's replay of a window: (settings of its home, run id, [start, end)) → its record
WindowReplay = Callable[[Settings, str, tuple[int, int]], VariantRun]


class EngineTradingScorer:
    """The gate's :class:`~quantum_trader.learning.trading_check.TradingScorer` for one run
    (see the module docstring). ``settings``: the run's; ``symbols``: those it trades."""

    def __init__(
        self,
        replay: WindowReplay,
        settings: Settings,
        registry: ModelRegistry,
        artifacts: ArtifactSource,
        symbols: Sequence[str],
        folder: Path,
        run_id: str,
    ) -> None:
        self.replay = replay
        self.settings = settings
        self.registry = registry
        self.artifacts = artifacts
        self.symbols = list(symbols)
        self.folder = folder
        self.run_id = run_id
        self._champion: tuple[object, TradingReplay] | None = None  # the last one, by its key
        self.replays = 0  # made (evidence for the docs' figures and the tests)

    def lines(self) -> list[ModelKey]:
        """Every line the run serves: each tabular model per symbol, each forecaster global."""
        forecasters = names_of(FamilyKind.FORECASTER)
        horizon = self.settings.label_horizon
        return [
            ModelKey(model, scope, horizon)
            for model in self.settings.ensemble_models
            for scope in ([FORECAST_SCOPE] if model in forecasters else self.symbols)
        ]

    def production(self) -> dict[ModelKey, ModelVersion]:
        served = {}
        for key in self.lines():
            version = self.registry.production(key)
            if version is None:
                raise TradingReplayError(f"{key} has no PRODUCTION version to replay with")
            served[key] = version
        return served

    def __call__(self, candidate: ModelVersion, window: tuple[int, int]) -> TradingReplays:
        started = time.perf_counter()
        production = self.production()
        if candidate.key not in production:
            raise TradingReplayError(f"{candidate.key} is not a line this run serves")
        name = f"{candidate.key.model}-{candidate.key.scope}-v{candidate.version}"
        cache_key = (window, tuple(sorted((str(k), v.version) for k, v in production.items())))
        if self._champion is not None and self._champion[0] == cache_key:
            champion = self._champion[1]
        else:
            champion = self._arm(self._replay(production, window, f"{name}-champion"))
            self._champion = (cache_key, champion)
        run = self._replay({**production, candidate.key: candidate}, window, f"{name}-candidate")
        seconds = time.perf_counter() - started  # the scratch homes' set-up included
        log.info(
            "validation.replayed",
            line=str(candidate.key),
            version=candidate.version,
            window=f"{fmt(window[0])} → {fmt(window[1])}",
            seconds=round(seconds, 1),
        )
        return TradingReplays(champion, self._arm(run), seconds)

    def _replay(self, served: Served, window: tuple[int, int], name: str) -> VariantRun:
        home = self.folder / name
        shutil.rmtree(home, ignore_errors=True)  # what a crashed replay left
        settings = self._settings(home)
        self._seed(settings, served, window[0])
        try:
            run = self.replay(settings, f"{self.run_id}-{name}", window)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        self.replays += 1
        if run.retrained_at or len(run.training_windows) != len(served):
            raise RuntimeError(
                f"the validation replay {name} served other versions than it was given: "
                f"{sorted(run.training_windows)}"
            )
        return run

    def _settings(self, home: Path) -> Settings:
        """The run's settings, in the scratch home, offline, learning off, this run's symbols
        (a synthetic run's are the store's SYN twins)."""
        return self.settings.model_copy(
            update={
                "home": home,
                "database_url": f"sqlite:///{(home / 'quantum_trader.sqlite').as_posix()}",
                "artifacts_dir": home / "artifacts",
                "store_dir": self.settings.effective_store_dir,
                "symbols": list(self.symbols),
                "offline": True,
                "continuous_learning_enabled": False,
                "model_supervisor_enabled": False,
                "qlearning": False,  # the Q-learner's shadow pair judges nothing here
                # nor do the PPO agents: their daemon would train and register policies in the
                # scratch registry, which serves the versions it was given and nothing else
                "rl_agents": False,
                "prune_artifacts": False,  # the scratch home goes whole once read
            }
        )

    def _seed(self, settings: Settings, served: Served, at: int) -> None:
        """The scratch registry: each served version, in PRODUCTION, its artifact linked."""
        home_artifacts = settings.effective_artifacts_dir
        home_artifacts.mkdir(parents=True, exist_ok=True)
        db = open_database(settings.effective_database_url)
        try:
            registry = ModelRegistry(SqlRegistryRepository(db), SimulatedClock(at))
            for key, version in served.items():
                _link(self.artifacts.open(version.artifact_hash), home_artifacts)
                reason = f"v{version.version} of run {self.run_id}, replayed by the gate"
                copy = registry.register(
                    version.lineage, version.artifact_hash, actor=GATE_ACTOR, reason=reason
                )
                registry.promote(
                    key, copy.version, actor=GATE_ACTOR, reason=reason, to=Stage.PRODUCTION
                )
        finally:
            db.dispose()

    def _arm(self, run: VariantRun) -> TradingReplay:
        return TradingReplay(
            times=tuple(run.times[1:]),
            returns=bar_returns(run.equity),
            performance=run_performance(run, self.settings.timeframe),
        )


def _link(source: Path, root: Path) -> None:
    """The artifact folder ``source`` under ``root`` (same name: its content hash), as hard
    links; copied where the filesystem cannot link (another device)."""
    target = root / source.name
    if target.exists():
        return
    try:
        shutil.copytree(source, target, copy_function=os.link)
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
