"""The trading kernel shared by backtest, paper and live: the engine loop, candle feeds, the
trading session (engine + venue + portfolio + order manager + a trader, with checkpoints), the
trader protocol and the run metrics. Below the decision path and the composition root; above
the modules it composes (execution, portfolio) and the core services (clock, bus, status)."""
