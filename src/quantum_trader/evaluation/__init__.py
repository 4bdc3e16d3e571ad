"""Judging the system: the walk-forward of the whole decision path against baselines, and the
trial ledger every evaluation, backtest and candidate validation is recorded in."""
