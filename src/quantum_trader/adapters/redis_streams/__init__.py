"""The bus port over Redis Streams: consumer groups, claiming, dead letters, safe trimming,
idempotent handling, Redis restarts (see ``bus.py``); the operator's tools for the dead letters
(``dead_letters.py``)."""

from quantum_trader.adapters.redis_streams.bus import BusCounters, RedisStreamsBus
from quantum_trader.adapters.redis_streams.dead_letters import (
    DeadLetter,
    DeadLetters,
    DeadStream,
    ReplayReport,
)
from quantum_trader.adapters.redis_streams.processed import (
    MemoryProcessedIds,
    ProcessedIds,
    RedisProcessedIds,
)
from quantum_trader.adapters.redis_streams.restart import RedisRestart
from quantum_trader.adapters.redis_streams.sql_processed import SqlProcessedIds
from quantum_trader.adapters.redis_streams.trimming import safe_floor, trim_stream

__all__ = [
    "BusCounters",
    "DeadLetter",
    "DeadLetters",
    "DeadStream",
    "MemoryProcessedIds",
    "ProcessedIds",
    "RedisProcessedIds",
    "RedisRestart",
    "RedisStreamsBus",
    "ReplayReport",
    "SqlProcessedIds",
    "safe_floor",
    "trim_stream",
]
