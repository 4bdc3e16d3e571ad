"""Where the Redis Streams bus used to live; it is now the package ``adapters/redis_streams``.

Kept so that ``from quantum_trader.adapters.redis_bus import RedisStreamsBus`` (the README's
module table, earlier docs) still works.
"""

from quantum_trader.adapters.redis_streams import RedisStreamsBus

__all__ = ["RedisStreamsBus"]
