"""The shared loop: time-ordered split, loss, early stopping, checkpoints, determinism hygiene."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from quantum_trader.domain.digests import sha256_file
from quantum_trader.models.forecasting.training import (
    Trainer,
    TrainingConfig,
    deterministic,
    pinball_loss,
)
from quantum_trader.models.forecasting.windows import time_split, window_pairs

from .conftest import sine_series, tiny


def test_time_split_keeps_validation_after_training_without_shared_targets() -> None:
    series = np.arange(200.0)[:, None]  # the value is its own time index
    split = time_split([series], input_size=10, horizon=4, validation_fraction=0.25)
    last_train_target = split.train.y[:, :, 0].max()
    first_val_target = split.validation.y[:, :, 0].min()
    assert last_train_target < first_val_target == 150
    assert split.validation.x[:, 0, 0].min() == 140  # validation inputs may reach back
    assert len(split.validation.x) == 200 - 140 - 14 + 1


def test_window_pairs_drop_nan_windows() -> None:
    series = np.arange(30.0)[:, None]
    series[12] = np.nan
    pairs = window_pairs(series, 5, 2)
    assert not np.isnan(pairs.x).any() and not np.isnan(pairs.y).any()
    assert len(pairs.x) == 30 - 7 + 1 - 7  # the 7 windows that contain row 12 are gone


def test_pinball_at_the_median_is_half_the_absolute_error() -> None:
    pred = torch.tensor([[1.0], [2.0], [-1.0]])
    target = torch.tensor([0.0, 4.0, -1.5])
    loss = pinball_loss(pred, target, torch.tensor([0.5]))
    assert float(loss) == pytest.approx(float((pred[:, 0] - target).abs().mean()) / 2)


def test_early_stopping_and_best_checkpoint(tmp_path: Path) -> None:
    model = tiny("nhits", epochs=30)
    model.training = TrainingConfig(
        max_epochs=30, batch_size=64, learning_rate=0.05, patience=1, progress=False
    )
    result = model.fit(sine_series(600), checkpoint_dir=tmp_path)
    assert result.epochs_run < 30  # a large learning rate stalls quickly; patience 1 stops it
    assert result.best_validation_loss == min(result.validation_losses)
    assert result.epochs_run == result.best_epoch + 2
    assert (tmp_path / "best.sha256").read_text().strip() == sha256_file(
        tmp_path / "best.safetensors"
    )
    assert (
        (tmp_path / "best.sha256").read_text().strip() == result.weights_hash == model.weights_hash
    )


def test_deterministic_block_restores_global_torch_state() -> None:
    threads = torch.get_num_threads()
    before = torch.are_deterministic_algorithms_enabled()
    with deterministic(seed=1, num_threads=1):
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == before


def test_empty_split_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        tiny("nhits").fit(sine_series(60))


def test_trainer_loss_is_a_hook() -> None:
    class MSE(Trainer):
        def loss(self, network: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return ((network(x)[..., 0] - y) ** 2).mean()

    model = tiny("nhits", epochs=1)
    split = time_split([sine_series(400)], 48, 8, 0.2)
    result = MSE(model.training, (0.5,)).fit(model.network, split.train, split.validation)
    assert result.steps > 0 and np.isfinite(result.best_validation_loss)


def test_deterministic_block_restores_warn_only_mode() -> None:
    before = torch.get_deterministic_debug_mode()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with deterministic(seed=1, num_threads=1):
            assert torch.get_deterministic_debug_mode() == 2  # errors, not warnings, inside
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.set_deterministic_debug_mode(before)


def test_deterministic_block_does_not_import_the_compiler() -> None:
    """torch.use_deterministic_algorithms imports torch._inductor (1-2 s per training process);
    the block sets the same flag without it."""
    script = (
        "import sys, torch\n"
        "from quantum_trader.models.forecasting.training import deterministic\n"
        "with deterministic(seed=1, num_threads=1):\n"
        "    assert torch.are_deterministic_algorithms_enabled()\n"
        "print('torch._inductor' in sys.modules, 'torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["False", "False"]
