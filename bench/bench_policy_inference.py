"""Policy inference latency: one strategy selection from a policy bundle (issue 18: p99 ≤ 0.2 ms).

A child process with torch trains a PPO selector for a few hundred steps (stable-baselines3's
default ``MlpPolicy``: two hidden layers of 64, tanh) on a random environment of the
observation's size, under ``VecNormalize``, and exports it to a bundle (``rl/export.py``). This
process never imports torch: it loads the bundle as the serving process does and times, per
selection on 20,000 varied contexts:

* ``inference``: encode + normalise + ONNX Runtime + argmax (``OnnxPolicy.probabilities`` on the
  encoded context, then ``np.argmax``): the issue's figure;
* ``select``: ``PolicySelector.select``, i.e. the same plus the decision record, the status
  counters and the ``StrategyChoice`` the pipeline receives;
* ``onnx``: ONNX Runtime alone on a prepared input; ``encode``: the encoder alone.

The encoder is a stand-in of the real one (``agents/observation.py``, written alongside): the
selection context's regime and market regime one-hot, volatility percentile, confidence,
squashed recent PnL, risk mode and trading state one-hot (OBS_SIZE values). Figures: medians
over BENCH_REPEATS runs of each run's p50 / p99 / p99.9, in µs; the load average is printed
before and after. Run niced on a shared machine:
``nice -n 10 python bench/bench_policy_inference.py`` (BENCH_REPEATS, BENCH_SELECTIONS).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import onnxruntime as ort

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import load_bundle
from quantum_trader.agents.policy_selector import PolicySelector
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.risk import TradingState
from quantum_trader.status.registry import StatusRegistry
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.selector import SelectionContext

T = TypeVar("T")
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
SELECTIONS = int(os.environ.get("BENCH_SELECTIONS", "20000"))
REGIMES: tuple[Regime | None, ...] = (None, *Regime)
MODES = tuple(RiskMode)
STATES = (TradingState.ACTIVE, TradingState.REDUCING)  # HALTED is masked: no inference
OBS_SIZE = 2 * len(REGIMES) + 3 + len(MODES) + len(TradingState)

EXPORT = textwrap.dedent(
    """
    import sys
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
    from quantum_trader.adapters.artifacts import LocalArtifactStore
    from quantum_trader.rl.export import PolicyProvenance, export_policy
    from quantum_trader.strategy.selector import STRATEGY_NAMES

    root, size = sys.argv[1], int(sys.argv[2])

    class RandomEnv(gym.Env):
        observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)
        action_space = gym.spaces.Discrete(len(STRATEGY_NAMES))

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return self.np_random.normal(size=size).astype(np.float32), {}

        def step(self, action):
            self.t += 1
            obs = self.np_random.normal(size=size).astype(np.float32)
            return obs, float(action == int(obs[0] > 0)), False, self.t >= 32, {}

    torch.set_num_threads(1)
    venv = VecNormalize(DummyVecEnv([RandomEnv]), norm_reward=False)
    model = PPO("MlpPolicy", venv, n_steps=256, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.learn(512)
    made = PolicyProvenance("ppo_selector", "global", "bench-obs", "bench-env", "bench-reward",
                            "bench-features", (0, 1), 0, "bench")
    exported = export_policy(model, made, LocalArtifactStore(root), action_names=STRATEGY_NAMES,
                             vec_normalize=venv)
    print(exported.digest)
    """
)


def encode(context: SelectionContext) -> np.ndarray:
    """Stand-in encoder: what a selector sees, as OBS_SIZE numbers."""
    obs = np.zeros(OBS_SIZE, dtype=np.float32)
    obs[REGIMES.index(context.regime)] = 1.0
    obs[len(REGIMES) + REGIMES.index(context.market_regime)] = 1.0
    base = 2 * len(REGIMES)
    obs[base] = context.vol_percentile
    obs[base + 1] = context.confidence
    obs[base + 2] = np.tanh(context.recent_pnl / 100.0)
    obs[base + 3 + MODES.index(context.risk_mode)] = 1.0
    obs[base + 3 + len(MODES) + tuple(TradingState).index(context.trading_state)] = 1.0
    return obs


def contexts(n: int, seed: int) -> list[SelectionContext]:
    rng = np.random.default_rng(seed)
    return [
        SelectionContext(
            "BTCUSDT",
            3_600_000 * i,
            REGIMES[int(rng.integers(len(REGIMES)))],
            REGIMES[int(rng.integers(len(REGIMES)))],
            float(rng.uniform()),
            float(rng.uniform()),
            float(rng.normal(0.0, 200.0)),
            MODES[int(rng.integers(len(MODES)))],
            STATES[int(rng.integers(len(STATES)))],
        )
        for i in range(n)
    ]


def timed(call: Callable[[T], object], items: Sequence[T]) -> dict[str, float]:
    """Percentiles (µs) of one call per item, after 500 untimed calls to warm up."""
    for item in items[:500]:
        call(item)
    clock = time.perf_counter_ns
    out = np.empty(len(items), dtype=np.float64)
    for i, item in enumerate(items):
        start = clock()
        call(item)
        out[i] = clock() - start
    us = out / 1e3
    return {q: float(np.percentile(us, p)) for q, p in (("p50", 50), ("p99", 99), ("p999", 99.9))}


def export_bundle(root: Path) -> str:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = os.environ | {"PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", EXPORT, str(root), str(OBS_SIZE)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-policy-") as tmp:
        digest = export_bundle(Path(tmp))
        bundle = load_bundle(LocalArtifactStore(Path(tmp)), digest)
    policy = OnnxPolicy(bundle)
    handle = StatusRegistry(SimulatedClock(0)).register(
        "rl_meta_strategy", enabled=True, reason="b"
    )
    selector = PolicySelector(policy, encode, handle=handle)
    items = contexts(SELECTIONS, seed=1)
    prepared = [policy.normalise(encode(c)).reshape(1, -1) for c in items]
    options = ort.SessionOptions()  # as OnnxPolicy builds its own
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(bundle.onnx_bytes, options, providers=["CPUExecutionProvider"])
    name, outputs = bundle.manifest.input_name, [bundle.manifest.probs_output]

    def inference(context: SelectionContext) -> int:
        return int(np.argmax(policy.probabilities(encode(context))))

    def onnx_only(row: np.ndarray) -> object:
        return session.run(outputs, {name: row})

    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {
        k: [] for k in ("inference", "select", "onnx", "encode")
    }
    for _ in range(REPEATS):
        runs["inference"].append(timed(inference, items))
        runs["select"].append(timed(selector.select, items))
        runs["onnx"].append(timed(onnx_only, prepared))
        runs["encode"].append(timed(encode, items))
    load_after = os.getloadavg()
    print(
        json.dumps(
            {
                "obs_size": OBS_SIZE,
                "selections": SELECTIONS,
                "repeats": REPEATS,
                "niceness": os.nice(0),
                "torch_imported": "torch" in sys.modules,
                "load_before": load_before,
                "load_after": load_after,
                "cpus": os.cpu_count(),
                "runs": runs,
            },
            indent=1,
        )
    )
    for key, rs in runs.items():
        med = {q: statistics.median(r[q] for r in rs) for q in rs[0]}
        print(
            f"{key:>9}: p50 {med['p50']:6.1f} µs  p99 {med['p99']:6.1f} µs  "
            f"p99.9 {med['p999']:6.1f} µs  (median of {REPEATS} runs of {SELECTIONS})"
        )
    counters = handle.status.counters
    print(
        f"selector decisions: {counters.get('decided_by_policy', 0)} by the policy, "
        f"{counters.get('decided_by_fallback', 0)} by the fallback"
    )


if __name__ == "__main__":
    main()
