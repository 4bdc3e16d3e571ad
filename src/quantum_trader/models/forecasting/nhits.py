"""N-HiTS (Challu et al., AAAI 2023) as a univariate core: (N, L) → (N, H, Q).

Stacks of MLP blocks. Block ``i`` max-pools its input with kernel ``k_i`` (multi-rate input
sampling), runs an MLP, and emits a backcast of the full input and ``max(H // r_i, 1)`` forecast
knots per output; the knots are linearly interpolated to the horizon (hierarchical
interpolation: coarse stacks produce few knots, the last stack one per step). Each block sees
the residual ``x - backcast`` of the previous one (doubly residual stacking); the forecast is
the sum of the blocks' forecasts. Interpolation is a fixed matrix product with weights equal to
``torch.nn.functional.interpolate(mode="linear")``: same numbers, and a plain MatMul in ONNX.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from quantum_trader.models.forecasting.dropout import Dropout


@dataclass(frozen=True, slots=True)
class NHiTSConfig:
    """Paper defaults where they fit; see docs/forecasting.md for each deviation.

    ``pooling_sizes[i]`` and ``downsample[i]`` belong to stack ``i`` (coarse first).
    """

    pooling_sizes: tuple[int, ...] = (8, 4, 1)
    downsample: tuple[int, ...] = (4, 2, 1)
    blocks_per_stack: int = 1
    mlp_layers: int = 2
    hidden_size: int = 512
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if len(self.pooling_sizes) != len(self.downsample) or not self.pooling_sizes:
            raise ValueError(
                f"NHiTSConfig: pooling_sizes={self.pooling_sizes} and downsample="
                f"{self.downsample} must be non-empty and of equal length (one per stack)"
            )
        if min(self.pooling_sizes) < 1 or min(self.downsample) < 1:
            raise ValueError("NHiTSConfig: pooling sizes and downsample ratios must be >= 1")


def interpolation_matrix(n_knots: int, horizon: int) -> Tensor:
    """(n_knots, H) weights of linear interpolation with half-pixel centres.

    >>> interpolation_matrix(1, 3).tolist()
    [[1.0, 1.0, 1.0]]
    """
    weights = np.zeros((n_knots, horizon), dtype=np.float32)
    ratio = n_knots / horizon
    for j in range(horizon):
        source = max((j + 0.5) * ratio - 0.5, 0.0)
        left = min(int(np.floor(source)), n_knots - 1)
        right = min(left + 1, n_knots - 1)
        frac = source - left
        weights[left, j] += 1.0 - frac
        weights[right, j] += frac
    return torch.from_numpy(weights)


class NHiTSBlock(nn.Module):
    def __init__(
        self, input_size: int, horizon: int, n_outputs: int, pool: int, ratio: int, cfg: NHiTSConfig
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.n_outputs = n_outputs
        self.n_knots = max(horizon // ratio, 1)
        self.pool = nn.MaxPool1d(kernel_size=pool, stride=pool, ceil_mode=True)
        pooled = -(-input_size // pool)
        self.pooled_size = pooled
        layers: list[nn.Module] = [nn.Linear(pooled, cfg.hidden_size), nn.ReLU()]
        for _ in range(cfg.mlp_layers - 1):
            layers += [nn.Linear(cfg.hidden_size, cfg.hidden_size), nn.ReLU()]
        if cfg.dropout > 0:
            layers.append(Dropout(cfg.dropout))
        self.mlp = nn.Sequential(*layers)
        self.theta = nn.Linear(cfg.hidden_size, input_size + self.n_knots * n_outputs)
        self.interp: Tensor
        self.register_buffer("interp", interpolation_matrix(self.n_knots, horizon))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        pooled = self.pool(x.unsqueeze(1)).squeeze(1)
        theta = self.theta(self.mlp(pooled))
        backcast = theta[:, : self.input_size]
        knots = theta[:, self.input_size :].reshape(-1, self.n_knots, self.n_outputs)
        forecast = torch.einsum("nkq,kh->nhq", knots, self.interp)
        return backcast, forecast


class NHiTS(nn.Module):
    """Univariate N-HiTS core."""

    def __init__(self, input_size: int, horizon: int, n_outputs: int, cfg: NHiTSConfig) -> None:
        super().__init__()
        self.horizon = horizon
        self.n_outputs = n_outputs
        self.blocks = nn.ModuleList(
            NHiTSBlock(input_size, horizon, n_outputs, pool, ratio, cfg)
            for pool, ratio in zip(cfg.pooling_sizes, cfg.downsample, strict=True)
            for _ in range(cfg.blocks_per_stack)
        )

    def forward(self, x: Tensor) -> Tensor:
        residual = x
        forecast = x.new_zeros(x.shape[0], self.horizon, self.n_outputs)
        for block in self.blocks:
            backcast, block_forecast = block(residual)
            residual = residual - backcast
            forecast = forecast + block_forecast
        return forecast
