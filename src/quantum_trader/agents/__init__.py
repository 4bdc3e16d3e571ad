"""The learning agents as they serve decisions (modules 13-15, issue 18).

Strategy selectors and sizers behind the ports of ``strategy/`` (``StrategySelector``,
``PositionSizer``): the tabular Q-learning challenger, and the PPO policies served from their
ONNX bundles with ONNX Runtime. Nothing here imports torch: the serving process never does.
Training (the gymnasium environment over the engine, stable-baselines3, the training daemon)
lives in ``rl/``.
"""
