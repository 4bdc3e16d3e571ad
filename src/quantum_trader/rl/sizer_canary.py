"""The RL sizer line's canary: a CANARY sizing policy sizes a share of production's entries,
and steps on, or is retired, on the line's shadow-pair evidence.

A sizer candidate that wins its candidate experiment enters CANARY (``app/policy_candidates.py``);
from then on :class:`SizerCanary` serves it, the way the model rollout (``learning/rollout.py``)
serves a CANARY model:

* **Share.** Production's RL sizer hands it the entries whose draw (:func:`canary_draw`, a
  stable hash of the seed, the symbol and the entry's engine time, so a replay assigns every
  entry alike) falls below its share, ``shares[canary_steps]`` with the rollout's shares
  (25 %, then 50 %); production sizes the others as before. Each entry records who sized it
  (``agents/rl_sizer.py``: the canary's by its version).
* **Evidence.** The line's shadow pair keeps serving the canary (its SHADOW landings wait until
  the canary ends, ``app/rl_sizing.py``): the challenger sizes every entry with it, the twin
  with ``QT_SIZER``'s sizer, both trading the same candles. Their per-candle net-return
  difference (basis points) feeds the always-valid mixture test the candidate experiments use
  (``experiments/sequential.py``: alpha 0.05, at least 100 candles, horizon 4,000), a fresh
  test per step.
* **Moves**, one audited registry move each, actor ``rule:sizer_canary``, the reading as the
  reason: better → the next share (``step_canary``), and after the last share PRODUCTION
  (production's sizer serves it); worse, broken (its policy failed on an entry: an error or a
  non-finite probability), no verdict by the horizon, or the line's production changed under
  it (its evidence was against the old production's sizing) → RETIRED, and production sizes
  100 % again. A move made by someone else (an operator's promote, retire or step) is taken up
  at the next candle.

Not built: a canary found in the registry when a run starts (an earlier run's) is not served;
the operator decides (``quantum-trader models promote|retire``). The risk engine's refusals are
not a guardrail here: a canary sizes a fraction ``f <= 1`` of the base sizer's quantity, so its
orders are never larger than production's base would send.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.engine.engine import BarColumns
from quantum_trader.experiments.feed import BP
from quantum_trader.experiments.sequential import MixtureSequentialTest, SequentialReading
from quantum_trader.experiments.spec import MIN_SAMPLES
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage, StageChange
from quantum_trader.learning.rollout import RolloutConfig
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.status.registry import ModuleHandle

ACTOR = "rule:sizer_canary"


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


class SizerCanary:
    """The canary rule of the ``rl_sizer`` line (see the module docstring); a
    :class:`~quantum_trader.agents.rl_sizer.CanaryRoute` for production's RL sizer and a
    follower of the session after the line's shadow pair (``twin``, ``challenger``)."""

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
        self.control = control  # who sizes the twin (``QT_SIZER``'s name)
        self.seed = seed
        self.config = config or CanaryConfig()
        self._handle = handle
        self._serve_production = serve_production  # production's sizer serves a promoted one
        self._on_release = on_release  # the shadow account is free for the line's SHADOW again
        self.serving: CanaryServing | None = None
        self._cursor = 0  # the registry's change log read so far
        self.offered = 0  # entries sized while a canary served
        self.entries = 0  # of those, the canary's
        self.moves: list[str] = []  # this rule's registry moves, as audited

    @property
    def holds_shadow(self) -> bool:
        """Whether the line's shadow account serves the canary now."""
        return self.serving is not None

    # --- the route: production's RL sizer asks per entry ------------------------------------
    def route(self, symbol: str, time: int) -> OnnxPolicy | None:
        serving = self.serving
        if serving is None or serving.broken is not None:
            return None
        self.offered += 1
        if canary_draw(self.seed, symbol, time) >= serving.share:
            return None
        self.entries += 1
        self._gauge("sizer_canary_entries", self.entries)
        return serving.policy

    def broken(self, policy: OnnxPolicy, why: str) -> None:
        serving = self.serving
        if serving is not None and serving.policy is policy and serving.broken is None:
            serving.broken = why
            self._count("sizer_canary_broken")

    # --- admission: the line's listeners hear a promotion to CANARY ---------------------------
    def on_stage(self, stage: Stage, policy: OnnxPolicy) -> None:
        """A policy of the line entered ``stage``: a CANARY one is served from the next entry."""
        version = policy.registry_version
        if stage is not Stage.CANARY or version is None or self.serving is not None:
            return
        if self._registry.get(self.key, version).stage is not Stage.CANARY:
            return
        self._cursor = self._read_changes()[0]
        production = self._registry.production(self.key)
        self._start(policy, version, None if production is None else production.version)

    def _start(self, policy: OnnxPolicy, version: int, production: int | None) -> None:
        cfg = self.config
        steps = self._registry.canary_steps(self.key, version)
        share = cfg.shares[min(steps, len(cfg.shares) - 1)]
        test = MixtureSequentialTest(
            1, alpha=cfg.alpha, horizon=cfg.horizon, min_samples=cfg.min_samples
        )
        start = max(1, len(self._twin.equity_times))  # from the candle after this one
        self.serving = CanaryServing(policy, version, steps, share, production, test, start)
        self._gauge("sizer_canary_share_ppm", round(share * 1_000_000))
        self._gauge("sizer_canary_version", version)

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
        key, version = self.key, serving.version
        if serving.steps < len(self.config.shares) - 1:
            self._registry.step_canary(key, version, actor=ACTOR, reason=reason)
            self._moved(f"v{version} canary step: {reason}", "sizer_canary_steps")
            self._start(serving.policy, version, serving.production)
            return
        self._registry.promote(key, version, actor=ACTOR, reason=reason, to=Stage.PRODUCTION)
        self._moved(f"v{version} to PRODUCTION: {reason}", "sizer_canary_promoted")
        self._end()
        if self._serve_production is not None:
            self._serve_production(serving.policy)

    def _retire(self, serving: CanaryServing, reason: str) -> None:
        self._registry.retire(self.key, serving.version, actor=ACTOR, reason=reason)
        self._moved(f"v{serving.version} RETIRED: {reason}", "sizer_canary_retired")
        self._end()

    def _moved(self, text: str, counter: str) -> None:
        self.moves.append(text)
        self._count(counter)

    def _end(self) -> None:
        self.serving = None
        self._gauge("sizer_canary_share_ppm", 0)
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
                         f"CANARY: its evidence is against {self.control}'s sizing")  # fmt: skip
            return True
        if self._registry.canary_steps(self.key, serving.version) != serving.steps:
            self._start(serving.policy, serving.version, serving.production)
        return False

    def _read_changes(self) -> tuple[int, list[StageChange]]:
        found = self._registry.changes_after(self._cursor)
        return (found[-1][0] if found else self._cursor), [c for _, c in found]

    def _count(self, counter: str) -> None:
        if self._handle is not None:
            self._handle.count(counter)

    def _gauge(self, name: str, value: int) -> None:
        if self._handle is not None:
            self._handle.gauge(name, value)


def _ret(book: Portfolio, i: int) -> float:
    before, now = book.equity_values[i - 1], book.equity_values[i]
    return (now / before - 1.0) * BP if before > 0 else 0.0
