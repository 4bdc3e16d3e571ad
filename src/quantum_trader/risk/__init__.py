"""Risk and safety: pre-trade rules, trading state, circuit breaker and kill switch.

The package imports nothing: ``quantum-trader risk kill-switch on`` reads the kill switch's
modules only, not the warm-up's features and pandas (``app/cli/lazy.py``). Import from the
modules (``risk.engine``, ``risk.kill_switch`` …).
"""
