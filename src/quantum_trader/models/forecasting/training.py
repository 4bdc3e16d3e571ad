"""The one training loop of both deep models.

:class:`Trainer` owns what every model shares: a time-ordered train/validation split (done by the
caller with :func:`windows.time_split`), seeded shuffling, AdamW with a one-cycle learning-rate
schedule, gradient clipping, early stopping on validation loss, the best checkpoint kept with
its content hash, and a tqdm progress bar. A model plugs in through :meth:`Trainer.loss` (the
hook a subclass overrides); the forecasters use the pinball loss over their quantile levels.

Determinism: :func:`deterministic` pins torch to ``num_threads`` threads, seeds torch and
numpy, and turns on torch's deterministic algorithms, restoring the previous state on exit.
On CPU, the same seed and thread count give bit-identical weights.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.utils.deterministic
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor, nn
from tqdm.auto import tqdm

from quantum_trader.domain.digests import sha256_bytes
from quantum_trader.models.forecasting.windows import WindowPairs


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """Shared loop settings. ``max_epochs`` and ``max_steps`` both bound the run."""

    max_epochs: int = 20
    max_steps: int | None = None
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    patience: int = 3
    validation_fraction: float = 0.15
    window_stride: int = 1  # take every n-th training window (neighbours overlap by L-1 rows)
    seed: int = 7
    # One thread by default: on a 2-core box shared with the live engine (or other jobs),
    # two OpenMP threads spin-wait for a busy core; measured here 10-15x slower per epoch
    # under load than one thread, and at best ~1.5x faster when the machine is idle.
    num_threads: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        if min(self.max_epochs, self.batch_size, self.num_threads, self.window_stride) < 1:
            raise ValueError(
                f"TrainingConfig: max_epochs={self.max_epochs}, batch_size={self.batch_size}, "
                f"num_threads={self.num_threads}, window_stride={self.window_stride} must all "
                "be >= 1"
            )
        if not 0.0 < self.validation_fraction < 0.5:
            raise ValueError(
                f"TrainingConfig.validation_fraction={self.validation_fraction}: must be in (0, 0.5)"
            )


@dataclass(slots=True)
class TrainingResult:
    best_epoch: int
    best_validation_loss: float
    epochs_run: int
    steps: int
    seconds: float
    weights_hash: str
    train_losses: list[float] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)


@contextlib.contextmanager
def deterministic(seed: int, num_threads: int) -> Iterator[None]:
    """Seeded, deterministic, thread-pinned torch for the duration of the block."""
    previous_threads = torch.get_num_threads()
    previous_mode = torch.get_deterministic_debug_mode()  # 0 off, 1 warn only, 2 on
    flags: Any = torch.utils.deterministic
    previous_fill = flags.fill_uninitialized_memory
    torch.set_num_threads(num_threads)
    # Mode 2 is ``use_deterministic_algorithms(True)`` without its import of torch._inductor
    # (to set a compiler flag; nothing here compiles): 1.1-1.8 s in every fresh training process.
    torch.set_deterministic_debug_mode(2)
    # Filling every fresh tensor with NaN (a debugging aid of deterministic mode) costs up to
    # 10x per step on 2 cores; no op here reads uninitialised memory, so results do not change.
    flags.fill_uninitialized_memory = False
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.set_deterministic_debug_mode(previous_mode)
        flags.fill_uninitialized_memory = previous_fill


def state_bytes(network: nn.Module) -> bytes:
    """The state dict as safetensors bytes (sorted, contiguous): what is hashed and stored."""
    state = {k: v.detach().contiguous().clone() for k, v in network.state_dict().items()}
    return bytes(save_safetensors(state))


def load_state_bytes(network: nn.Module, data: bytes) -> None:
    network.load_state_dict(load_safetensors(data), strict=True)


def pinball_loss(prediction: Tensor, target: Tensor, quantiles: Tensor) -> Tensor:
    """Mean pinball loss; ``prediction`` (..., Q), ``target`` (...). Level 0.5 is MAE / 2."""
    error = target.unsqueeze(-1) - prediction
    return torch.maximum(quantiles * error, (quantiles - 1.0) * error).mean()


EpochHook = Callable[[int, float, float], None]


class Trainer:
    """Fits a network on (x, y) window pairs; subclasses may override :meth:`loss`."""

    def __init__(self, config: TrainingConfig, quantiles: tuple[float, ...]) -> None:
        self.config = config
        self.quantiles = torch.tensor(quantiles, dtype=torch.float32)
        self.epoch_hooks: list[EpochHook] = []

    def loss(self, network: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        """Hook: the training objective for one batch."""
        return pinball_loss(network(x), y, self.quantiles)

    def fit(
        self,
        network: nn.Module,
        train: WindowPairs,
        validation: WindowPairs,
        checkpoint_dir: Path | None = None,
    ) -> TrainingResult:
        """Train in place; on return ``network`` holds the best validation checkpoint."""
        cfg = self.config
        if len(train.x) == 0 or len(validation.x) == 0:
            raise ValueError(
                f"Trainer.fit: {len(train.x)} training and {len(validation.x)} validation "
                "windows; both must be non-empty (series too short for input_size + horizon?)"
            )
        x_train, y_train = torch.from_numpy(train.x), torch.from_numpy(train.y)
        x_val, y_val = torch.from_numpy(validation.x), torch.from_numpy(validation.y)
        batches_per_epoch = -(-len(x_train) // cfg.batch_size)
        total_steps = cfg.max_epochs * batches_per_epoch
        if cfg.max_steps is not None:
            total_steps = min(total_steps, cfg.max_steps)
        optimiser = torch.optim.AdamW(
            network.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay
        )
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser, max_lr=cfg.learning_rate, total_steps=max(total_steps, 2), pct_start=0.3
        )
        generator = torch.Generator().manual_seed(cfg.seed)
        result = TrainingResult(0, float("inf"), 0, 0, 0.0, "")
        best_state = state_bytes(network)
        stale = 0
        started = time.perf_counter()
        bar = tqdm(
            total=total_steps, disable=not cfg.progress, desc=type(network).__name__, unit="step"
        )
        with bar:
            for epoch in range(cfg.max_epochs):
                network.train()
                order = torch.randperm(len(x_train), generator=generator)
                running = 0.0
                seen = 0
                for start in range(0, len(order), cfg.batch_size):
                    if result.steps >= total_steps:
                        break
                    idx = order[start : start + cfg.batch_size]
                    optimiser.zero_grad(set_to_none=True)
                    loss = self.loss(network, x_train[idx], y_train[idx])
                    loss.backward()  # type: ignore[no-untyped-call]
                    nn.utils.clip_grad_norm_(network.parameters(), cfg.grad_clip)
                    optimiser.step()
                    schedule.step()
                    result.steps += 1
                    running += float(loss.detach()) * len(idx)
                    seen += len(idx)
                    bar.update(1)
                val_loss = self.evaluate(network, x_val, y_val)
                train_loss = running / max(seen, 1)
                result.train_losses.append(train_loss)
                result.validation_losses.append(val_loss)
                result.epochs_run = epoch + 1
                bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}")
                for hook in self.epoch_hooks:
                    hook(epoch, train_loss, val_loss)
                if val_loss < result.best_validation_loss:
                    result.best_validation_loss = val_loss
                    result.best_epoch = epoch
                    best_state = state_bytes(network)
                    stale = 0
                    if checkpoint_dir is not None:
                        self.write_checkpoint(checkpoint_dir, best_state)
                else:
                    stale += 1
                if stale >= cfg.patience or result.steps >= total_steps:
                    break
        load_state_bytes(network, best_state)
        network.eval()
        result.weights_hash = sha256_bytes(best_state)
        result.seconds = time.perf_counter() - started
        return result

    def evaluate(self, network: nn.Module, x: Tensor, y: Tensor) -> float:
        network.eval()
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(x), 4096):
                batch_x, batch_y = x[start : start + 4096], y[start : start + 4096]
                total += float(self.loss(network, batch_x, batch_y)) * len(batch_x)
        return total / len(x)

    @staticmethod
    def write_checkpoint(directory: Path, state: bytes) -> None:
        """Best weights so far, with their sha256 beside them."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "best.safetensors").write_bytes(state)
        (directory / "best.sha256").write_text(sha256_bytes(state) + "\n")


__all__ = [
    "Trainer",
    "TrainingConfig",
    "TrainingResult",
    "deterministic",
    "load_state_bytes",
    "pinball_loss",
    "state_bytes",
]
