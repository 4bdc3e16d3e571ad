"""Shadow → canary → production, and back on evidence: the rollout rule (``shadow_models``).

The registry is the one truth about who serves: :class:`RolloutController` reads it on every
check (a scheduler job on the engine clock), puts each line's newest SHADOW or CANARY version
into that line's slots as a challenger at the share its stage and canary steps give (0 in
SHADOW, then ``shares``), and acts on the shadow evaluator's evidence (``learning/shadow.py``)
with one audited registry move per decision, actor ``rule:rollout``, the evidence as reason:

* challenger BETTER (always-valid test) with at least ``min_matured`` paired labels in this
  step → SHADOW → CANARY at the first share → each further share (``CANARY_STEP``) →
  PRODUCTION. Each step starts a fresh test;
* no verdict after ``max_matured`` paired labels in a step → RETIRED as inconclusive (the
  line is free for a newer candidate);
* challenger WORSE, or a guardrail (a failed or non-finite vote, calibration error above
  ``max_calibration_error``, vote latency p99 above ``max_latency_ms``) → the challenger is
  RETIRED: the production pointer never left the champion, which serves at 100 % again. The
  latency guardrail acts on wall time only: on replay time (``on_replay_time``) a vote's
  latency is the machine's load, not the candles', and acting on it would make a replay's
  outcome depend on what else ran beside it; there it is logged and counted
  (``latency_guardrail_waived``), never acted on;
* the production version significantly worse than the base rate (inverted outputs, say) with
  at least ``min_matured`` labels → ``rollback``: the pointer returns to the version in
  production before it; with none to return to, the status says so and nothing moves.

A person's ``models promote|rollback`` writes the same registry: the next check (and the
production watcher, for PRODUCTION) serves what it says. Slots swap between two decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from quantum_trader.domain.errors import InvalidTransitionError
from quantum_trader.learning.challenger import Challenge, WatchedMember
from quantum_trader.learning.registry import (
    ModelKey,
    ModelRegistry,
    Stage,
    production_stack,
)
from quantum_trader.learning.sequential import Verdict
from quantum_trader.learning.serving import LoadedMember, version_in
from quantum_trader.learning.shadow import LineWatch, ShadowEvaluator
from quantum_trader.models.ensemble.ensemble import Ensemble
from quantum_trader.models.ensemble.member import Member
from quantum_trader.observability.logging import get_logger
from quantum_trader.status.registry import ModuleHandle, ModuleState

log = get_logger(__name__)

ACTOR = "rule:rollout"


@dataclass(frozen=True, slots=True)
class RolloutConfig:
    shares: tuple[float, ...] = (0.25, 0.5)  # the canary's steps of its slot's weight
    min_matured: int = 100  # paired labels in a step before a promotion (and a rollback)
    max_calibration_error: float = 0.2
    min_calibration_labels: int = 100
    max_latency_ms: float = 50.0
    #: a step that reaches no verdict in this many paired labels ends: the challenger is
    #: retired as inconclusive, and the line is free for a candidate trained on newer data
    max_matured: int = 1_000
    #: with shadow trading: closed trades of the challenger's account before each step
    min_trades: int = 10

    def __post_init__(self) -> None:
        if not self.shares or any(not 0.0 < s < 1.0 for s in self.shares):
            raise ValueError(f"RolloutConfig.shares={self.shares}: each must be in (0, 1)")
        if list(self.shares) != sorted(set(self.shares)):
            raise ValueError(f"RolloutConfig.shares={self.shares}: must increase")
        if self.min_trades < 0:
            raise ValueError(f"RolloutConfig.min_trades={self.min_trades}: must be >= 0")
        if not 1 <= self.min_matured < self.max_matured:
            raise ValueError(
                f"RolloutConfig.min_matured={self.min_matured}, max_matured={self.max_matured}:"
                " need 1 <= min_matured < max_matured"
            )


#: a registered version of a line as a member (None: it cannot be loaded)
LoadVersion = Callable[[ModelKey, Stage], LoadedMember]


@dataclass(frozen=True, slots=True)
class TradingCheck:
    """A challenger's shadow trading so far: its account against its champion twin's."""

    trades: int  # closed trades of the challenger's account
    worse: bool  # its Sharpe significantly below the twin's (the interval lies under 0)
    summary: str


#: a line's challenger's shadow trading (None: it has no account)
TradingEvidence = Callable[[str], TradingCheck | None]


class SlotBook:
    """The watched slots of every ensemble, by registry line.

    :meth:`wrap` puts a member into a :class:`WatchedMember`; :meth:`swap` is the production
    watcher's way to serve a new production version in a slot, keeping its challenge unless
    the challenger is the new champion. ``listeners`` hear ``(line, challenger version)``
    whenever a line's challenger changes (None: it has none left; shadow trading starts and
    finishes its accounts on it); a canary step, which changes the share only, is not heard.
    """

    def __init__(self, evaluator: ShadowEvaluator, scopes: Mapping[str, str], horizon: int) -> None:
        self._evaluator = evaluator
        self._scopes = dict(scopes)
        self._horizon = horizon
        self._slots: dict[str, dict[str, WatchedMember]] = {}  # line → symbol → slot
        self._ensembles: dict[str, Ensemble] = {}  # symbol → the ensemble its slots are in
        self.listeners: list[Callable[[str, int | None], object]] = []

    def key(self, model: str, symbol: str) -> ModelKey:
        return ModelKey(model, self._scopes.get(model, symbol), self._horizon)

    def wrap(self, symbol: str, member: Member, version: int | None) -> WatchedMember:
        line = str(self.key(member.name, symbol))
        slot = WatchedMember(member, version, line, self._evaluator)
        self._slots.setdefault(line, {})[symbol] = slot
        return slot

    def attach(self, symbol: str, ensemble: Ensemble) -> None:
        """The ensemble ``symbol``'s slots serve in (its prepared votes are dropped when a
        slot's challenge changes)."""
        self._ensembles[symbol] = ensemble

    def set_challenge(self, line: str, challenge: Challenge | None) -> None:
        """Put ``challenge`` (None: none) into every slot of ``line``, between decisions."""
        before = self.challenger_version(line)
        for symbol, slot in self._slots.get(line, {}).items():
            slot.challenge = challenge
            ensemble = self._ensembles.get(symbol)
            if ensemble is not None:
                ensemble.drop_prepared(slot.name)
        self._tell(line, before)

    def challenger_version(self, line: str) -> int | None:
        """The version challenging ``line`` now (None: none)."""
        for slot in self._slots.get(line, {}).values():
            if slot.challenge is not None:
                return slot.challenge.version
        return None

    def _tell(self, line: str, before: int | None) -> None:
        after = self.challenger_version(line)
        if after != before:
            for listener in self.listeners:
                listener(line, after)

    def swap(self, ensemble: Ensemble, symbol: str, loaded: LoadedMember) -> None:
        line = str(self.key(loaded.member.name, symbol))
        before = self.challenger_version(line)
        old = self._slots.get(line, {}).get(symbol)
        challenge = old.challenge if old is not None else None
        if challenge is not None and challenge.version == loaded.version:
            challenge = None
        slot = WatchedMember(loaded.member, loaded.version, line, self._evaluator, challenge)
        self._slots.setdefault(line, {})[symbol] = slot
        ensemble.replace(slot, loaded.version)
        self._evaluator.restart_production_watch(line)
        self._tell(line, before)

    def ask_deferred(self) -> None:
        """Every slot's shadow challenger asked about the decisions just made."""
        for slots in self._slots.values():
            for slot in slots.values():
                slot.ask_deferred()

    def lines(self) -> list[str]:
        return sorted(self._slots)

    def slots(self, line: str) -> list[WatchedMember]:
        return list(self._slots.get(line, {}).values())


def challenged(registry: ModelRegistry, key: ModelKey) -> bool:
    """Whether ``key`` has a version in SHADOW or CANARY (a judgement under way)."""
    return any(version_in(registry, key, stage) for stage in (Stage.SHADOW, Stage.CANARY))


class RolloutController:
    def __init__(
        self,
        registry: ModelRegistry,
        evaluator: ShadowEvaluator,
        book: SlotBook,
        load: LoadVersion,
        *,
        config: RolloutConfig | None = None,
        serve_production: Callable[[int], object] | None = None,
        handle: ModuleHandle | None = None,
        on_replay_time: Callable[[], bool] = lambda: False,
    ) -> None:
        self._registry = registry
        self._on_replay_time = on_replay_time
        self._waived: set[tuple[str, int]] = set()  # (line, version) whose latency was waived
        self._evaluator = evaluator
        self._book = book
        self._load = load
        self.config = config or RolloutConfig()
        self._serve_production = serve_production
        self._handle = handle
        self._no_rollback: set[str] = set()  # lines told once that nothing can be restored
        #: more evidence for the status line, read at each check (shadow trading's figures)
        self.evidence: list[Callable[[], Sequence[str]]] = []
        #: shadow trading, when on: a step also needs ``min_trades`` closed trades of the
        #: challenger's account, not significantly worse than its twin's
        self.trading: TradingEvidence | None = None

    def check(self, now: int) -> int:
        """Reconcile the slots with the registry and act on the evidence; returns the
        registry moves made."""
        moves = 0
        for line in self._book.lines():
            key = ModelKey.parse(line)
            self._reconcile(key, line)
            watch = self._evaluator.watch(line)
            moved = self._judge_challenger(key, line, watch) if watch.challenger else 0
            # a line whose challenger just moved is judged again at the next check (a new
            # production version's watch starts from nothing)
            moves += moved or self._judge_production(key, line, watch)
        if moves and self._serve_production is not None:
            self._serve_production(now)
        self._report()
        return moves

    # --- slots follow the registry -------------------------------------------------------
    def _wanted(self, key: ModelKey) -> tuple[Stage, int, float] | None:
        for stage in (Stage.CANARY, Stage.SHADOW):
            version = version_in(self._registry, key, stage)
            if version is not None:
                if stage is Stage.SHADOW:
                    return stage, version.version, 0.0
                steps = self._registry.canary_steps(key, version.version)
                shares = self.config.shares
                return stage, version.version, shares[min(steps, len(shares) - 1)]
        return None

    def _reconcile(self, key: ModelKey, line: str) -> None:
        wanted = self._wanted(key)
        slots = self._book.slots(line)
        current = slots[0].challenge if slots else None
        if wanted is None:
            if current is not None:
                self._book.set_challenge(line, None)
            if self._evaluator.watch(line).challenger is not None:
                self._evaluator.end_challenge(line)
            return
        stage, version, share = wanted
        if current is not None and (current.version, current.share) == (version, share):
            return
        if current is not None and current.version == version:
            member = current.member
        else:
            loaded = self._load(key, stage)
            if loaded.version != version:
                self._retire(key, version, f"its artifact cannot be served ({stage})")
                return
            member = loaded.member
        self._book.set_challenge(line, Challenge(member, version, share))
        self._evaluator.start_challenge(line, version, share)
        if self._handle is not None:
            self._handle.count("challenges_started")

    # --- decisions ------------------------------------------------------------------------
    def _guardrail(self, watch: LineWatch) -> str | None:
        cfg = self.config
        if watch.failures:
            return f"guardrail: {watch.failures} failed votes ({watch.last_failure})"
        if len(watch.recent) >= cfg.min_calibration_labels:
            ece = watch.calibration_error()
            if ece is not None and ece > cfg.max_calibration_error:
                return f"guardrail: calibration error {ece:.3f} > {cfg.max_calibration_error}"
        p99 = watch.latency_p99_ms()
        if p99 is not None and len(watch.latencies_ns) >= 100 and p99 > cfg.max_latency_ms:
            reason = f"guardrail: vote latency p99 {p99:.1f} ms > {cfg.max_latency_ms} ms"
            if not self._on_replay_time():
                return reason
            self._waive(watch, reason)
        return None

    def _waive(self, watch: LineWatch, reason: str) -> None:
        """Say once per challenger that its latency guardrail tripped on replay time."""
        tripped = (watch.line, watch.challenger or 0)
        if tripped in self._waived:
            return
        self._waived.add(tripped)
        log.warning(
            "shadow.latency_guardrail_waived",
            line=watch.line,
            version=watch.challenger,
            reason=reason,
            why="replay time: latency is the machine's load, not acted on",
        )
        if self._handle is not None:
            self._handle.count("latency_guardrail_waived")

    def _judge_challenger(self, key: ModelKey, line: str, watch: LineWatch) -> int:
        assert watch.challenger is not None and watch.challenge is not None
        version = watch.challenger
        tripped = self._guardrail(watch)
        verdict = watch.challenge.verdict
        if tripped is not None or verdict is Verdict.WORSE:
            reason = tripped or f"worse than the champion: {watch.describe()}"
            self._retire(key, version, reason)
            self._count("rollbacks" if watch.share > 0 else "shadows_retired")
            return 1
        if verdict is Verdict.CONTINUE and watch.matured >= self.config.max_matured:
            self._retire(key, version, f"inconclusive: {watch.describe()}")
            self._count("challenges_inconclusive")
            return 1
        if verdict is not Verdict.BETTER or watch.matured < self.config.min_matured:
            return 0
        reason = f"better than the champion: {watch.describe()}"
        if self.trading is not None:
            ready, moved = self._trading_ready(key, line, version, watch)
            if ready is None:
                return moved
            reason += f"; {ready}"
        stage = self._registry.get(key, version).stage
        if stage is Stage.SHADOW:
            self._registry.promote(key, version, actor=ACTOR, reason=reason, to=Stage.CANARY)
            self._count("canary_steps")
        elif self._registry.canary_steps(key, version) < len(self.config.shares) - 1:
            self._registry.step_canary(key, version, actor=ACTOR, reason=reason)
            self._count("canary_steps")
        else:
            self._registry.promote(key, version, actor=ACTOR, reason=reason, to=Stage.PRODUCTION)
            self._evaluator.end_challenge(line)
            self._evaluator.restart_production_watch(line)
            self._count("promotions")
        return 1

    def _trading_ready(
        self, key: ModelKey, line: str, version: int, watch: LineWatch
    ) -> tuple[str | None, int]:
        """At a step the forecasts earned: (the trading evidence as reason, 0) when the step
        may go, else (None, the registry moves made: 1 when the challenger is retired here, 0
        while it waits). Judged once per step, when the labels' test has concluded, not at
        every check: one look, one error rate."""
        assert self.trading is not None
        check = self.trading(line)
        if check is not None and check.trades >= self.config.min_trades:
            if not check.worse:
                return f"trades not worse: {check.summary}", 0
            self._retire(key, version, f"better forecasts but worse trades: {check.summary}")
            self._count("retired_for_trading")
            return None, 1
        if watch.matured >= self.config.max_matured:
            trades = 0 if check is None else check.trades
            self._retire(
                key,
                version,
                f"inconclusive: {trades} shadow trades < {self.config.min_trades} after "
                f"{watch.matured} paired labels",
            )
            self._count("challenges_inconclusive")
            return None, 1
        self._count("checks_waiting_for_trades")
        return None, 0

    def _judge_production(self, key: ModelKey, line: str, watch: LineWatch) -> int:
        """A test that found production better than the base rate has stopped: a fresh one
        watches on (a test that has concluded sees nothing new). Restarting only after BETTER
        keeps a false rollback of a skill-less version rare: each test ends WORSE with a
        chance below alpha, and a new one follows only the rarer BETTER ending."""
        test = watch.production
        if test is None or test.verdict is Verdict.CONTINUE:
            return 0
        if test.verdict is Verdict.BETTER:
            self._evaluator.restart_production_watch(line, keep_count=True)
            return 0
        if watch.production_matured < self.config.min_matured:
            return 0
        if len(production_stack(self._registry.history(key))) < 2:
            if line not in self._no_rollback:
                self._no_rollback.add(line)
                self._count("rollbacks_impossible")
            return 0
        reason = f"production worse than the base rate: {watch.describe()}"
        try:
            self._registry.rollback(key, actor=ACTOR, reason=reason)
        except InvalidTransitionError:
            return 0
        self._evaluator.restart_production_watch(line)
        self._count("rollbacks")
        return 1

    def _retire(self, key: ModelKey, version: int, reason: str) -> None:
        self._registry.retire(key, version, actor=ACTOR, reason=reason)
        line = str(key)
        self._book.set_challenge(line, None)
        self._evaluator.end_challenge(line)

    def _count(self, what: str) -> None:
        if self._handle is not None:
            self._handle.count(what)

    def _report(self) -> None:
        handle = self._handle
        if handle is None or not handle.enabled:
            return
        lines = [w.describe() for w in self._evaluator.watches()]
        lines += [text for more in self.evidence for text in more()]
        handle.set_state(ModuleState.ACTIVE, "; ".join(lines) or "no line watched yet")
