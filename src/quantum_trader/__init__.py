"""Quantum Trader: a self-learning trading system for crypto perpetual futures."""

import os

# Arrow's bundled allocator keeps the pages it freed: reading a few MB of Parquet left ~30 MiB
# resident in a serving process whose budget is 400 MiB (bench/bench_pipeline.py). The system
# allocator gives them back. Read by pyarrow when it first allocates; a value set by the user wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

__version__ = "0.1.0"
