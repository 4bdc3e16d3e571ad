"""What a fast-forwarding participant reads from a stretch of candles (``Engine.run_columns``).

A structural type so that the exchange, the portfolio and bar strategies do not import the
engine (the app layer); ``app.engine.BarColumns`` satisfies it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt


class CandleColumns(Protocol):
    """One symbol's candles as numpy columns."""

    @property
    def symbol(self) -> str: ...
    @property
    def close_time(self) -> npt.NDArray[np.int64]: ...
    @property
    def close_times(self) -> list[int]:
        """``close_time`` as Python ints (shared: read, never modify)."""
        ...

    @property
    def open(self) -> npt.NDArray[np.float64]: ...
    @property
    def high(self) -> npt.NDArray[np.float64]: ...
    @property
    def low(self) -> npt.NDArray[np.float64]: ...
    @property
    def close(self) -> npt.NDArray[np.float64]: ...
