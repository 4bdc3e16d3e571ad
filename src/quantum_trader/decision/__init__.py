"""The decision path: on each closed candle of a symbol, features → member votes → weights →
ensemble signal → regime → strategy → intent → size → risk → order (``pipeline.py``), with its
per-symbol inputs, the batch votes of a replay and the views it offers other modules."""
