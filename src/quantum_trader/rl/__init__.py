"""Training the learning agents (module 16, issue 18): a gymnasium environment over the
project's own engine and decision path, PPO with stable-baselines3 in a worker process, the
export of a trained policy to a versioned ONNX bundle, and the training daemon on the engine
clock. What serves the policies is ``agents/`` (torch-free).
"""
