"""Learnability (issue 18, acceptance): on a held-out synthetic run the PPO selector picks the
best strategy in at least 80 % of decisions.

The markets, their best strategy per regime (``strategy_loop.BEST``) and the counting (every
decision after warm-up, holding decisions included) are the Q-learner's
(``test_qlearning_learnability.py``). PPO (stable-baselines3, ``rl/ppo.py``'s ``PpoConfig`` and
``ppo_kwargs``, one torch thread) trains on the loop's gymnasium environment (``loop_env.py``:
one symbol per episode, a fresh market per episode drawn from the training seed, the served
observation, the equity-delta reward); the policy is exported to an ONNX bundle
(``rl/export.py``), loaded by ``OnnxPolicy`` and served through ``PolicySelector`` — the served
path, no torch at decision time — frozen, on the held-out run of another seed (the Q-learner's
held-out run: the same decisions).

Settings chosen on the training seeds (1 and 5) against a validation run (seed 3, 4,000
candles), never on the held-out run: 100,000 steps of ``PpoConfig``'s defaults gave 64.6 %
(BULL went to Breakout); 300,000 gave 81.9 %; 300,000 with ``ent_coef`` 0 gave 70.9 % (BEAR
went to MeanReversion); 200,000 with 8 environments gave 73.4 % (and 68.2 % at a learning rate
of 1e-3); 300,000 with 8 environments and batches of 512 gave 97.7 % (seed 1) and 97.1 %
(seed 5): the settings below. Measured figures: ``pytest -s`` prints them; ``docs/agents.md``
has them, and the same settings over five fresh seed pairs (4 of 5 above the bar; the miss,
49 %, serves near-ties the other way: MeanReversion in BEAR, Breakout in BULL).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gymnasium.utils.env_checker import check_env

from quantum_trader.agents.qlearning import QLearningConfig, QLearningSelector
from quantum_trader.rl.ppo import PpoConfig
from quantum_trader.strategy.selector import STRATEGY_NAMES, RandomSelector, RegimeRuleSelector
from tests.agents import loop_env, ppo_loop
from tests.agents import strategy_loop as loop
from tests.agents.test_qlearning_learnability import HELD_OUT_SEED, shares

TRAIN_SEED = 1
SETTINGS = PpoConfig(total_timesteps=300_000, n_envs=8, batch_size=512, seed=TRAIN_SEED)


def test_the_loop_environment_passes_check_env_and_its_rewards_sum_to_the_equity_change() -> None:
    env = loop_env.LoopEnv(episode_candles=600)
    check_env(env, skip_render_check=True)
    env.reset(seed=3)
    total, done, step = 0.0, False, 0
    while not done:  # each strategy in turn, so that positions open and close
        _, reward, _, done, _ = env.step(step // 40 % len(STRATEGY_NAMES))
        total, step = total + reward, step + 1
    assert env.equity() != 0.0  # trades happened
    assert total == pytest.approx(env.equity() / loop.NOTIONAL * env.reward_scale, abs=1e-9)


@pytest.mark.slow
def test_the_ppo_selector_picks_the_best_strategy_in_at_least_80_percent_of_held_out_decisions(
    tmp_path: Path,
) -> None:
    trained = ppo_loop.train(SETTINGS, tmp_path)
    assert trained.timesteps >= SETTINGS.total_timesteps
    held_out = loop.market(HELD_OUT_SEED, 4_000)
    result = ppo_loop.run_served(held_out, trained.selector, HELD_OUT_SEED)
    decision = trained.selector.last_decision
    assert decision is not None and decision.decided_by == "policy"  # served, not the fallback
    share, per_regime = shares(result)

    def share_of(result: loop.LoopResult) -> str:
        total, per = shares(result)
        return f"{total:.1%} { ({r: f'{v:.0%}' for r, v in per.items()}) }"

    q = QLearningSelector(QLearningConfig(), seed=1)  # the Q-learner test's training, as there
    loop.run(loop.market(1, 24_000), q, q.observe, on_open=q.hold, seed=1)
    frozen = q.frozen()
    q_result = loop.run(held_out, frozen, frozen.observe, on_open=frozen.hold, seed=HELD_OUT_SEED)
    assert [r for r, _ in q_result.decisions] == [r for r, _ in result.decisions]  # same run
    print(
        f"\nPPO: {share:.1%} of {len(result.decisions)} held-out decisions pick the best "
        f"strategy; per regime { ({r: f'{v:.0%}' for r, v in per_regime.items()}) }; trained "
        f"{trained.timesteps} steps ({trained.episodes} episodes) in {trained.seconds:.0f} s\n"
        f"Q-learner {share_of(q_result)}\n"
        f"rule selector {share_of(loop.run(held_out, RegimeRuleSelector(), seed=HELD_OUT_SEED))}"
        f"\nrandom {share_of(loop.run(held_out, RandomSelector(seed=2), seed=HELD_OUT_SEED))}"
    )
    assert share >= 0.80
