"""The worker thread of a replay's batch votes (``DecisionPipeline.prepare_replay``).

The members' model calls (ONNX Runtime, LightGBM: both release the GIL) run on one worker
thread while the replay goes on, on the machine's second core. While it runs, the interpreter's
thread switch interval is lowered: the worker needs the GIL for a moment around each model call
and with the default 5 ms it waits that long for the replay's thread each time and falls behind
(the figures are in docs/benchmarks.md). :meth:`BatchVoteWorker.stop` gives the interval back
once no worker runs: several pipelines may prepare a replay at once (production's and the
shadow accounts' of ``decision/shadow.py``), and they stop in any order.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

#: decisions per symbol whose inputs are voted on at once
PREPARE_CHUNK = 256
#: the interpreter's thread switch interval while the batch votes' worker runs
BATCH_SWITCH_INTERVAL_S = 0.0001

Submit = Callable[..., Future[Any]]


class _SwitchInterval:
    """The interpreter's switch interval while any batch worker runs: lowered by the first
    to start, given back by the last to stop."""

    def __init__(self) -> None:
        self.running = 0
        self._saved = 0.0

    def enter(self) -> None:
        if self.running == 0:
            self._saved = sys.getswitchinterval()
            sys.setswitchinterval(BATCH_SWITCH_INTERVAL_S)
        self.running += 1

    def leave(self) -> None:
        self.running -= 1
        if self.running == 0:
            sys.setswitchinterval(self._saved)


_SWITCH = _SwitchInterval()


class BatchVoteWorker:
    """One worker thread for batch votes, with the switch interval it needs while it runs."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> Submit:
        """Start the worker (stopping an earlier one first); returns its ``submit``."""
        self.stop()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="batch-votes")
        _SWITCH.enter()
        return self._pool.submit

    def stop(self) -> None:
        """Stop the worker (its unstarted work dropped) and restore the switch interval."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            _SWITCH.leave()
