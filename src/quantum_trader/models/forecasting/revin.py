"""Reversible instance normalisation and the channel-independent wrapper shared by both models.

RevIN (Kim et al., ICLR 2022) normalises each series window by its own statistics, lets the
network forecast in that scale, and maps the forecast back with the same statistics, so a model
trained on one price level serves at any other. Channel independence (PatchTST, Nie et al. 2023)
folds the channels into the batch: every channel goes through the same weights, alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RevIN(nn.Module):
    """Per-window, per-channel normalisation with a learnable affine map, exactly invertible.

    Input and output are (batch, time, channels). ``subtract_last`` centres on the last value
    instead of the mean (an option of PatchTST's reference code).
    """

    def __init__(
        self,
        n_channels: int,
        *,
        affine: bool = True,
        subtract_last: bool = False,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.eps = eps
        self.subtract_last = subtract_last
        self.affine = affine
        self.weight = nn.Parameter(torch.ones(n_channels), requires_grad=affine)
        self.bias = nn.Parameter(torch.zeros(n_channels), requires_grad=affine)

    def statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        centre = x[:, -1:, :] if self.subtract_last else x.mean(dim=1, keepdim=True)
        scale = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)
        return centre.detach(), scale.detach()

    def normalise(self, x: Tensor, centre: Tensor, scale: Tensor) -> Tensor:
        return (x - centre) / scale * self.weight + self.bias

    def denormalise(self, y: Tensor, centre: Tensor, scale: Tensor) -> Tensor:
        """Inverse of :meth:`normalise`; ``y`` is (batch, time, channels, ...) for extra dims."""
        extra = y.dim() - 3
        shape = (1, 1, -1) + (1,) * extra
        c = centre.reshape(centre.shape + (1,) * extra)
        s = scale.reshape(scale.shape + (1,) * extra)
        return (y - self.bias.reshape(shape)) / self.weight.reshape(shape) * s + c


class ChannelIndependent(nn.Module):
    """RevIN around a univariate core: (B, L, C) → (B, H, C, Q).

    The core maps (N, L) to (N, H, Q); it never sees two channels at once.
    """

    def __init__(self, core: nn.Module, revin: RevIN) -> None:
        super().__init__()
        self.core = core
        self.revin = revin

    def forward(self, x: Tensor) -> Tensor:
        batch, length, channels = x.shape
        centre, scale = self.revin.statistics(x)
        z = self.revin.normalise(x, centre, scale)
        flat = z.permute(0, 2, 1).reshape(batch * channels, length)
        out = self.core(flat)  # (B*C, H, Q)
        horizon, n_outputs = out.shape[1], out.shape[2]
        out = out.reshape(batch, channels, horizon, n_outputs).permute(0, 2, 1, 3)
        return self.revin.denormalise(out, centre, scale)
