"""What the operator sees of each judged challenger (a SHADOW or CANARY version): its live vote
time and its calibration on the labels matured during the run, the figures a production member
has in ``/metrics`` (``api/metrics_challengers.py`` reads them).

* **vote time**: status counters of the ``shadow_models`` module, flushed by the engine with
  every module's: ``challenger_votes.<name>`` (timed votes, abstentions included),
  ``challenger_vote_ns.<name>`` (their total time) and ``challenger_vote_le_<bound>us.<name>``
  (the votes in one bucket of the ensemble's ``VOTE_TIME_BOUNDS_NS``, above the next lower
  bound), with ``challenger_share_pct.<name>`` the version's current share of its slot (0:
  SHADOW). ``<name>`` is ``<line>@v<version>`` (``xgb/BTCUSDT/h4@v7``): a line has no ``@``
  and a version is digits, so :func:`parse_challenger` reads it back unambiguously;
* **calibration**: the discounted ECE, Brier score and log-loss of ``intelligence/
  calibration.py`` per (symbol, version), over every matured label of the version's own votes,
  its SHADOW and CANARY steps together (a version's probabilities do not depend on its share),
  saved with the evaluator's state when the run stops.

Only the versions judged now have figures: a version's counters and calibration go when its
challenge ends or another version takes its line, so their number stays at most a few per
line. Nothing here is read back by the rollout or the slot: its guardrails keep their own
evidence (``LineWatch``), so decisions and weights are the same with or without these figures.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Final

from quantum_trader.intelligence.calibration import LiveCalibration
from quantum_trader.intelligence.reinforcement import ReinforcementConfig
from quantum_trader.learning.registry import ModelKey
from quantum_trader.models.ensemble.ensemble import VOTE_TIME_BOUNDS_NS
from quantum_trader.status.registry import ModuleHandle

VOTES: Final = "challenger_votes."
VOTE_NS: Final = "challenger_vote_ns."
BUCKET_PREFIX: Final = "challenger_vote_le_"
SHARE: Final = "challenger_share_pct."


def challenger_name(line: str, version: int) -> str:
    """``xgb/BTCUSDT/h4`` and 7 → ``xgb/BTCUSDT/h4@v7``."""
    return f"{line}@v{version}"


def parse_challenger(name: str) -> tuple[ModelKey, int]:
    """The line and version a :func:`challenger_name` names.

    >>> parse_challenger("xgb/BTCUSDT/h4@v7")
    (ModelKey(model='xgb', scope='BTCUSDT', horizon=4), 7)
    """
    line, sep, version = name.rpartition("@v")
    if not sep or not version.isdigit():
        raise ValueError(f"challenger {name!r}: want MODEL/SCOPE/hHORIZON@vVERSION")
    return ModelKey.parse(line), int(version)


def challenger_bucket_counter(bound_ns: int, name: str) -> str:
    """The status counter of ``name``'s votes in the bucket that ends at ``bound_ns``.

    >>> challenger_bucket_counter(2_500_000, "xgb/BTCUSDT/h4@v7")
    'challenger_vote_le_2500us.xgb/BTCUSDT/h4@v7'
    """
    return f"{BUCKET_PREFIX}{bound_ns // 1000}us.{name}"


def _counters(name: str) -> list[str]:
    buckets = [challenger_bucket_counter(b, name) for b in VOTE_TIME_BOUNDS_NS]
    return [VOTES + name, VOTE_NS + name, SHARE + name, *buckets]


class ChallengerFigures:
    """The judged versions' vote-time counters and live calibration (see the module doc)."""

    def __init__(self, handle: ModuleHandle | None, discount: float | None = None) -> None:
        self._handle = handle
        #: reinforcement's default: a challenger's figures weigh labels as a member's do
        self.discount = ReinforcementConfig().discount if discount is None else discount
        self._judged: dict[str, tuple[int, float]] = {}  # line → (version, share)
        self._calibration: dict[str, LiveCalibration] = {}  # by challenger name

    def judged(self) -> dict[str, tuple[int, float]]:
        return dict(self._judged)

    def begin(self, line: str, version: int, share: float) -> None:
        """``version`` is judged on ``line`` at ``share`` from now: another version's figures
        on the line go; the same version's carry on (a canary step changes its share only)."""
        current = self._judged.get(line)
        if current is not None and current[0] != version:
            self.end(line)
        self._judged[line] = (version, share)
        if self._handle is not None:
            self._handle.gauge(SHARE + challenger_name(line, version), round(share * 100))

    def end(self, line: str) -> None:
        current = self._judged.pop(line, None)
        if current is None:
            return
        name = challenger_name(line, current[0])
        self._calibration.pop(name, None)
        if self._handle is not None:
            counters = self._handle.status.counters
            for key in _counters(name):
                counters.pop(key, None)

    def on_vote(self, line: str, version: int, elapsed_ns: int) -> None:
        """One timed vote of the judged ``version`` (a vote after its challenge ended is not)."""
        if self._handle is None or self._judged.get(line, (None,))[0] != version:
            return
        name = challenger_name(line, version)
        self._handle.count(VOTES + name)
        self._handle.count(VOTE_NS + name, elapsed_ns)
        bucket = bisect_left(VOTE_TIME_BOUNDS_NS, elapsed_ns)  # the first bound >= elapsed
        if bucket < len(VOTE_TIME_BOUNDS_NS):
            self._handle.count(challenger_bucket_counter(VOTE_TIME_BOUNDS_NS[bucket], name))

    def on_label(
        self,
        line: str,
        version: int,
        symbol: str,
        probs: tuple[float, float, float],
        label: int,
        loss: float,
    ) -> None:
        """One matured label of the judged ``version``'s vote; ``loss`` its log-loss."""
        if self._judged.get(line, (None,))[0] != version:
            return
        name = challenger_name(line, version)
        calibration = self._calibration.get(name)
        if calibration is None:
            calibration = self._calibration[name] = LiveCalibration(self.discount)
        calibration.update(symbol, name, probs, label, loss)

    def calibration(self, line: str) -> LiveCalibration | None:
        """The live calibration of the version judged on ``line`` (None before its labels)."""
        current = self._judged.get(line)
        if current is None:
            return None
        return self._calibration.get(challenger_name(line, current[0]))

    # --- persistence ---------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "discount": self.discount,
            "judged": {
                line: {
                    "version": version,
                    "share": share,
                    "calibration": (
                        cal.to_state()
                        if (cal := self._calibration.get(challenger_name(line, version)))
                        else {}
                    ),
                }
                for line, (version, share) in self._judged.items()
            },
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.discount = float(state["discount"])
        self._judged, self._calibration = {}, {}
        for line, s in state["judged"].items():
            self.begin(line, int(s["version"]), float(s["share"]))
            if s["calibration"]:
                calibration = LiveCalibration(self.discount)
                calibration.load_state(s["calibration"])
                self._calibration[challenger_name(line, int(s["version"]))] = calibration
