"""PPO training: the same seed gives a byte-identical policy, the call runs in a worker
process (it pickles whole), and a trained policy loads back for export."""

from __future__ import annotations

import dataclasses
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.clock.workers import ProcessWorker
from quantum_trader.rl.ppo import PpoConfig, TrainingRequest, load_policy, train_ppo
from tests.rl.helpers import TRAIN_CANDLES, env_config, market, members

SMALL = PpoConfig(total_timesteps=256, n_envs=2, n_steps=64, batch_size=64, n_epochs=2, seed=5)


def _request(**changes: object) -> TrainingRequest:
    frame = market().iloc[TRAIN_CANDLES:].reset_index(drop=True)
    request = TrainingRequest(env_config(episode_candles=72), frame, members, SMALL)
    return dataclasses.replace(request, **changes)  # type: ignore[arg-type]


def test_the_same_seed_gives_a_byte_identical_policy_three_times() -> None:
    request = _request()
    states = [train_ppo(request).state for _ in range(3)]
    assert states[0] == states[1] == states[2]
    other = train_ppo(_request(ppo=dataclasses.replace(SMALL, seed=6)))
    assert other.state != states[0]  # the seed matters: the test can fail


def test_training_records_what_produced_the_policy_and_the_policy_loads_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where SB3 would make its folder
    monkeypatch.delenv("SB3_LOGDIR", raising=False)
    trained = train_ppo(_request())
    assert list(tmp_path.glob("SB3-*")) == []  # no empty SB3-<time> folder per training
    assert trained.timesteps >= SMALL.total_timesteps and trained.episodes >= 2
    assert (trained.observation_version, trained.reward_version) == (
        "sel-obs-1",
        "equity-delta-1",
    )
    assert trained.algorithm == "PPO"
    policy = load_policy(trained)
    obs = np.zeros((3, 22), dtype=np.float32)
    actions, _ = policy.predict(obs, deterministic=True)
    assert actions.shape == (3,) and set(actions.tolist()) <= {0, 1, 2, 3}
    # continuing from a state starts from its weights
    again = train_ppo(_request(initial_state=trained.state))
    assert again.state != trained.state


def test_masked_ppo_trains_on_the_environments_masks() -> None:
    trained = train_ppo(_request(ppo=dataclasses.replace(SMALL, masked=True)))
    assert trained.algorithm == "MaskablePPO" and trained.timesteps >= SMALL.total_timesteps
    policy = load_policy(trained)
    assert type(policy).__name__ == "MaskableActorCriticPolicy"


@pytest.mark.timeout(120)
def test_training_runs_in_a_worker_process() -> None:
    request = _request()
    assert pickle.loads(pickle.dumps(request)).ppo == SMALL
    with ProcessWorker("rl-training-test") as worker:
        trained = worker.submit(train_ppo, request).result(timeout=120)
    assert trained.state == train_ppo(request).state  # the same policy as in this process


def test_a_trained_policy_exports_to_onnx_with_the_same_probabilities() -> None:
    """The pieces fit: a policy from :func:`train_ppo`, loaded back and exported by
    ``rl/export.py``, answers real observations of the environment as stable-baselines3 does."""
    import onnxruntime as ort
    import torch

    from quantum_trader.agents.observation import SELECTOR_OBSERVATION_SIZE
    from quantum_trader.rl.env import StrategySelectionEnv
    from quantum_trader.rl.export import INPUT_NAME, PROBS_OUTPUT, onnx_bytes_of

    request = _request()
    policy = load_policy(train_ppo(request))
    session = ort.InferenceSession(
        onnx_bytes_of(policy, SELECTOR_OBSERVATION_SIZE), providers=["CPUExecutionProvider"]
    )
    env = StrategySelectionEnv(request.env, request.frame, members())
    rows = [env.reset(seed=2)[0]]
    for k in range(60):
        rows.append(env.step(k % 4)[0])
    obs = np.stack(rows)
    (onnx_probs,) = session.run([PROBS_OUTPUT], {INPUT_NAME: obs})
    with torch.no_grad():
        sb3_probs = policy.get_distribution(torch.as_tensor(obs)).distribution.probs.numpy()
    assert len(np.unique(obs, axis=0)) > 10  # varied observations, not one row repeated
    np.testing.assert_allclose(onnx_probs, sb3_probs, atol=1e-5)
