"""A policy line's canary rule, for any line whose shadow pair compares its SHADOW policy with
production's base: a CANARY policy decides a share of production's decisions, and steps on, or
is retired, on the pair's evidence.

The rule is told in full in ``rl/sizer_canary.py``'s docstring (the first line to have one);
each line names itself with a :class:`CanaryNames`: the audit's actor (``rule:<line>_canary``),
the status counters (``<line>_canary_*``) and what a decision is called. Every line draws its
share with :func:`canary_draw`, so a replay hands the same decisions to a canary each time.
The sizer line (``rl/sizer_canary.py``) and the selector line (``rl/selector_canary.py``) are
its two subclasses.

A run that starts with a CANARY an earlier run left in the line (killed, or ended before the
canary was judged) serves it again (:meth:`PolicyCanary.resume`), unless serving it would look
ahead or its bundle is refused: then it is retired, audited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import BundleSource
from quantum_trader.domain.time import fmt
from quantum_trader.engine.engine import BarColumns
from quantum_trader.experiments.feed import BP
from quantum_trader.experiments.sequential import MixtureSequentialTest, SequentialReading
from quantum_trader.experiments.spec import MIN_SAMPLES
from quantum_trader.learning.policies import serving_policy, trained_after
from quantum_trader.learning.registry import (
    ModelKey,
    ModelRegistry,
    ModelVersion,
    Stage,
    StageChange,
)
from quantum_trader.learning.rollout import RolloutConfig
from quantum_trader.observability.logging import get_logger
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.status.registry import ModuleHandle

log = get_logger(__name__)


def canary_draw(seed: int, symbol: str, time: int) -> float:
    """The entry's draw in [0, 1): fixed by the seed, the symbol and the engine time, so every
    replay of the same candles hands the same entries to the canary.

    >>> canary_draw(5, "BTCUSDT", 1_700_000_000_000) == canary_draw(5, "BTCUSDT", 1_700_000_000_000)
    True
    >>> 0.0 <= canary_draw(5, "ETHUSDT", 0) < 1.0
    True
    """
    digest = hashlib.blake2b(f"{seed}:{symbol}:{time}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


@dataclass(frozen=True, slots=True)
class CanaryConfig:
    shares: tuple[float, ...] = RolloutConfig().shares  # the model rollout's steps
    alpha: float = 0.05  # a candidate experiment's (``experiments/spec.py``)
    min_samples: int = MIN_SAMPLES
    horizon: int = 4_000  # candles a step may take; then it ends inconclusive

    def __post_init__(self) -> None:
        RolloutConfig(shares=self.shares)  # the same checks: each in (0, 1), increasing


@dataclass(slots=True)
class CanaryServing:
    """The canary serving now, in its current step."""

    policy: OnnxPolicy
    version: int
    steps: int  # canary steps taken (the share's index)
    share: float
    production: int | None  # the line's PRODUCTION version when it was admitted
    test: MixtureSequentialTest
    next: int  # the first equity point of the pair not yet observed
    broken: str | None = None


@dataclass(frozen=True, slots=True)
class CanaryNames:
    """How a line's canary names itself in the audit and in its module's status."""

    line: str  # "selector": actor ``rule:selector_canary``, counters ``selector_canary_*``
    unit: str  # what production hands it: "decisions" (``selector_canary_decisions``)
    work: str  # what the control does, for the audit: "selection" ("… QT_SELECTOR's selection")

    @property
    def actor(self) -> str:
        return f"rule:{self.line}_canary"

    def counter(self, name: str) -> str:
        return f"{self.line}_canary_{name}"


class PolicyCanary:
    """The canary rule of one policy line (see the module docstring): a route for production's
    decider (``route``, ``broken``), told of CANARY promotions by the line's listeners
    (``on_stage``) and a follower of the session after the line's shadow pair (``twin``,
    ``challenger``). A line's subclass names it (:attr:`names`)."""

    names: ClassVar[CanaryNames]

    def __init__(
        self,
        registry: ModelRegistry,
        key: ModelKey,
        twin: Portfolio,
        challenger: Portfolio,
        *,
        control: str,
        seed: int = 0,
        config: CanaryConfig | None = None,
        handle: ModuleHandle | None = None,
        serve_production: Callable[[OnnxPolicy], object] | None = None,
        on_release: Callable[[], object] | None = None,
    ) -> None:
        self._registry = registry
        self.key = key
        self._twin = twin
        self._challenger = challenger
        self.control = control  # who decides in the twin (``QT_SELECTOR``'s name)
        self.seed = seed
        self.config = config or CanaryConfig()
        self._handle = handle
        self._serve_production = serve_production  # production serves a promoted one
        self._on_release = on_release  # the shadow account is free for the line's SHADOW again
        self.serving: CanaryServing | None = None
        self._cursor = 0  # the registry's change log read so far
        self.offered = 0  # decisions made while a canary served
        self.taken = 0  # of those, the canary's
        self.moves: list[str] = []  # this rule's registry moves, as audited

    @property
    def actor(self) -> str:
        return self.names.actor

    @property
    def holds_shadow(self) -> bool:
        """Whether the line's shadow account serves the canary now."""
        return self.serving is not None

    # --- the route: production's decider asks per decision ----------------------------------
    def route(self, symbol: str, time: int) -> OnnxPolicy | None:
        """The CANARY policy when the decision of ``symbol`` at engine ``time`` is the
        canary's (its draw falls below the share); None: production decides."""
        serving = self.serving
        if serving is None or serving.broken is not None:
            return None
        self.offered += 1
        if canary_draw(self.seed, symbol, time) >= serving.share:
            return None
        self.taken += 1
        self._gauge(self.names.unit, self.taken)
        return serving.policy

    def broken(self, policy: OnnxPolicy, why: str) -> None:
        """``policy`` failed on a decision it was handed (production made it instead)."""
        serving = self.serving
        if serving is not None and serving.policy is policy and serving.broken is None:
            serving.broken = why
            self._count("broken")

    # --- admission: the line's listeners hear a promotion to CANARY ---------------------------
    def on_stage(self, stage: Stage, policy: OnnxPolicy) -> None:
        """A policy of the line entered ``stage``: a CANARY one serves from the next decision."""
        version = policy.registry_version
        if stage is not Stage.CANARY or version is None or self.serving is not None:
            return
        if self._registry.get(self.key, version).stage is not Stage.CANARY:
            return
        self._cursor = self._read_changes()[0]
        production = self._registry.production(self.key)
        self._start(policy, version, None if production is None else production.version)

    # --- a run's start: the CANARY an earlier run left ----------------------------------------
    def resume(self, start: int, store: BundleSource) -> OnnxPolicy | None:
        """The CANARY policy an earlier run left in the line (killed, or ended before its canary
        was judged), to serve again in the run that starts its replay at engine time ``start``;
        None: none to serve. The caller serves it through the line's listeners, which admit it
        (:meth:`on_stage`) at the share its ``canary_steps`` gives, judged by the same rule on
        this run's evidence alone: the earlier run's test is not kept (it was never stored).

        Retired instead, audited with this rule's actor: a canary trained after ``start`` (the
        daemon's look-ahead rule, ``rl/daemon.py``: it would trade on what it learned of the
        candles ahead), one whose last move into or within CANARY came after ``start`` (it was
        chosen on candles this replay trades again), and one whose bundle is refused. With
        several CANARY versions left (an operator's promotions) the newest is served, and the
        others stay as they are (logged): the line serves one canary at a time."""
        if self.serving is not None:
            return None
        found: OnnxPolicy | None = None
        for version in reversed(self._registry.versions(self.key)):  # newest first
            if version.stage is not Stage.CANARY:
                continue
            ahead = self._looks_ahead(version, start)
            if ahead is not None:
                self._retire_left(version.version, f"{ahead}: serving it would look ahead")
                self._count("looked_ahead")
                continue
            if found is not None:
                log.warning("policy_canary.left_unserved", line=str(self.key),
                            version=version.version, serving=found.registry_version)  # fmt: skip
                continue
            served = serving_policy(self._registry, store, version)
            if served.policy is None:
                self._retire_left(version.version, f"broken: {served.refusal}")
                continue
            found = served.policy
            self._count("resumed")
            log.info("policy_canary.resumed", line=str(self.key), version=version.version,
                     steps=self._registry.canary_steps(self.key, version.version))  # fmt: skip
        return found

    def _looks_ahead(self, version: ModelVersion, start: int) -> str | None:
        """Why serving ``version`` from ``start`` would look ahead (None: it would not)."""
        trained = trained_after(version, start)
        if trained is not None:
            return trained
        moves = [c for c in self._registry.history(self.key) if c.version == version.version]
        moved_at = moves[-1].at if moves else None
        if moved_at is not None and moved_at > start:
            return (f"its CANARY move at {fmt(moved_at)} was decided on candles after this "
                    f"replay's start {fmt(start)}")  # fmt: skip
        return None

    def _retire_left(self, version: int, reason: str) -> None:
        left = f"left in CANARY by an earlier run, {reason}"
        self._registry.retire(self.key, version, actor=self.actor, reason=left)
        self._moved(f"v{version} RETIRED: {left}", "retired")

    def _start(self, policy: OnnxPolicy, version: int, production: int | None) -> None:
        cfg = self.config
        steps = self._registry.canary_steps(self.key, version)
        share = cfg.shares[min(steps, len(cfg.shares) - 1)]
        test = MixtureSequentialTest(
            1, alpha=cfg.alpha, horizon=cfg.horizon, min_samples=cfg.min_samples
        )
        start = max(1, len(self._twin.equity_times))  # from the candle after this one
        self.serving = CanaryServing(policy, version, steps, share, production, test, start)
        self._gauge("share_ppm", round(share * 1_000_000))
        self._gauge("version", version)

    # --- the session's follower ---------------------------------------------------------------
    def on_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None:
        """After the pair acted on the candle: take up others' moves, observe, judge."""
        serving = self.serving
        if serving is None or self._moved_elsewhere(serving):
            return
        self._observe(serving)
        self._judge(serving)

    def quiet_until(self, symbol: str, bars: BarColumns, start: int, stop: int) -> int:
        """Without a canary nothing is read: the engine may fast-forward."""
        return start if self.serving is not None else stop

    def skip_bars(self, symbol: str, bars: BarColumns, start: int, stop: int) -> None:
        """Nothing to apply: the pair's equity points are read when a canary serves."""

    def _observe(self, serving: CanaryServing) -> None:
        twin, challenger = self._twin, self._challenger
        end = len(twin.equity_times) - 1  # the last point is complete when the next begins
        while serving.next < end:
            i = serving.next
            if challenger.equity_times[i] != twin.equity_times[i]:
                raise ValueError(
                    f"{self.key} canary: the challenger's equity point {i} is at "
                    f"{challenger.equity_times[i]}, the twin's at {twin.equity_times[i]}: the "
                    "pair must follow the same candles"
                )
            diff = _ret(challenger, i) - _ret(twin, i)
            serving.test.update(np.array([diff]))
            serving.next = i + 1

    def _judge(self, serving: CanaryServing) -> None:
        if serving.broken is not None:
            self._retire(serving, f"broken: {serving.broken}")
            return
        reading = serving.test.reading()
        if reading.rejected and reading.mean < 0:
            self._retire(serving, f"worse than {self.control}: {self._text(serving, reading)}")
        elif reading.rejected:
            self._advance(serving, f"better than {self.control}: {self._text(serving, reading)}")
        elif reading.samples >= self.config.horizon:
            self._retire(serving, f"inconclusive: {self._text(serving, reading)}")

    def _text(self, serving: CanaryServing, r: SequentialReading) -> str:
        interval = "" if r.low is None or r.high is None else f" [{r.low:+.2f}, {r.high:+.2f}]"
        level = round((1.0 - self.config.alpha) * 100)
        return (
            f"the shadow pair's paired net return {r.mean:+.2f} bp a candle over {r.samples} "
            f"candles, always-valid {level} % interval{interval}, at share {serving.share:.0%}"
        )

    # --- registry moves -------------------------------------------------------------------------
    def _advance(self, serving: CanaryServing, reason: str) -> None:
        key, version, actor = self.key, serving.version, self.actor
        if serving.steps < len(self.config.shares) - 1:
            self._registry.step_canary(key, version, actor=actor, reason=reason)
            self._moved(f"v{version} canary step: {reason}", "steps")
            self._start(serving.policy, version, serving.production)
            return
        self._registry.promote(key, version, actor=actor, reason=reason, to=Stage.PRODUCTION)
        self._moved(f"v{version} to PRODUCTION: {reason}", "promoted")
        self._end()
        if self._serve_production is not None:
            self._serve_production(serving.policy)

    def _retire(self, serving: CanaryServing, reason: str) -> None:
        self._registry.retire(self.key, serving.version, actor=self.actor, reason=reason)
        self._moved(f"v{serving.version} RETIRED: {reason}", "retired")
        self._end()

    def _moved(self, text: str, counter: str) -> None:
        self.moves.append(text)
        self._count(counter)

    def _end(self) -> None:
        self.serving = None
        self._gauge("share_ppm", 0)
        if self._on_release is not None:
            self._on_release()

    def _moved_elsewhere(self, serving: CanaryServing) -> bool:
        """Take up a move of the line someone else made (an operator, the daemon); True when
        the canary no longer serves."""
        self._cursor, changes = self._read_changes()
        if not any(c.key == self.key for c in changes):
            return False
        stage = self._registry.get(self.key, serving.version).stage
        if stage is Stage.PRODUCTION:
            self._end()
            if self._serve_production is not None:
                self._serve_production(serving.policy)
            return True
        if stage is not Stage.CANARY:
            self._end()
            return True
        production = self._registry.production(self.key)
        now = None if production is None else production.version
        if now != serving.production:
            self._retire(serving, f"the line's production changed to v{now} while it was in "
                         f"CANARY: its evidence is against {self.control}'s "
                         f"{self.names.work}")  # fmt: skip
            return True
        if self._registry.canary_steps(self.key, serving.version) != serving.steps:
            self._start(serving.policy, serving.version, serving.production)
        return False

    def _read_changes(self) -> tuple[int, list[StageChange]]:
        found = self._registry.changes_after(self._cursor)
        return (found[-1][0] if found else self._cursor), [c for _, c in found]

    def _count(self, name: str) -> None:
        if self._handle is not None:
            self._handle.count(self.names.counter(name))

    def _gauge(self, name: str, value: int) -> None:
        if self._handle is not None:
            self._handle.gauge(self.names.counter(name), value)


def _ret(book: Portfolio, i: int) -> float:
    before, now = book.equity_values[i - 1], book.equity_values[i]
    return (now / before - 1.0) * BP if before > 0 else 0.0
