"""PatchTST (Nie et al., ICLR 2023) as a univariate core: (N, L) → (N, H, Q).

The window is padded at the end with ``stride`` copies of its last value and cut into patches
of ``patch_len`` every ``stride`` steps, giving ``floor((L - P) / S) + 2`` patches. Each patch is
linearly embedded, a learnable positional encoding is added, a transformer encoder with
BatchNorm (as in the paper) mixes the patches, and a flatten head maps all patch embeddings to
the horizon. Channel independence and RevIN sit around this core (see ``revin``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from quantum_trader.models.forecasting.dropout import Dropout


@dataclass(frozen=True, slots=True)
class PatchTSTConfig:
    """The paper's configuration for small datasets (ETTh1/ETTh2, ~17k rows like 2y of 1h)."""

    patch_len: int = 16
    stride: int = 8
    d_model: int = 16
    n_heads: int = 4
    n_layers: int = 3
    d_ff: int = 128
    dropout: float = 0.3
    head_dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"PatchTSTConfig.d_model={self.d_model} must be divisible by n_heads={self.n_heads}"
            )
        if self.patch_len < 1 or self.stride < 1:
            raise ValueError("PatchTSTConfig: patch_len and stride must be >= 1")


def patch_count(input_size: int, patch_len: int, stride: int) -> int:
    """Number of patches with end padding, as in the paper.

    >>> patch_count(336, 16, 8)
    42
    """
    if input_size < patch_len:
        raise ValueError(f"input_size={input_size} is shorter than patch_len={patch_len}")
    return (input_size - patch_len) // stride + 2


class BatchNormTokens(nn.Module):
    """BatchNorm1d over the model dimension of (N, tokens, d_model)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(d_model)

    def forward(self, x: Tensor) -> Tensor:
        normed: Tensor = self.norm(x.transpose(1, 2))
        return normed.transpose(1, 2)


class EncoderLayer(nn.Module):
    """Post-norm transformer layer: x + MHA(x) → BN → x + FFN(x) → BN."""

    def __init__(self, cfg: PatchTSTConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.head_dim = cfg.d_model // cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.attn_dropout = Dropout(cfg.dropout)
        self.dropout = Dropout(cfg.dropout)
        self.norm_attn = BatchNormTokens(cfg.d_model)
        self.ffn = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff),
            nn.GELU(),
            Dropout(cfg.dropout),
            nn.Linear(cfg.d_ff, cfg.d_model),
        )
        self.norm_ffn = BatchNormTokens(cfg.d_model)

    def attention(self, x: Tensor) -> Tensor:
        n, tokens, d_model = x.shape
        qkv = self.qkv(x).reshape(n, tokens, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (N, heads, tokens, head_dim)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        weights = self.attn_dropout(torch.softmax(scores, dim=-1))
        mixed = torch.matmul(weights, v).transpose(1, 2).reshape(n, tokens, d_model)
        projected: Tensor = self.out(mixed)
        return projected

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm_attn(x + self.dropout(self.attention(x)))
        out: Tensor = self.norm_ffn(x + self.dropout(self.ffn(x)))
        return out


class PatchTST(nn.Module):
    """Univariate PatchTST core with a flatten head."""

    def __init__(self, input_size: int, horizon: int, n_outputs: int, cfg: PatchTSTConfig) -> None:
        super().__init__()
        self.horizon = horizon
        self.n_outputs = n_outputs
        self.patch_len = cfg.patch_len
        self.stride = cfg.stride
        self.n_patches = patch_count(input_size, cfg.patch_len, cfg.stride)
        starts = torch.arange(self.n_patches) * cfg.stride
        self.patch_index: Tensor
        self.register_buffer("patch_index", starts[:, None] + torch.arange(cfg.patch_len)[None])
        self.embed = nn.Linear(cfg.patch_len, cfg.d_model)
        self.position = nn.Parameter(torch.empty(self.n_patches, cfg.d_model).uniform_(-0.02, 0.02))
        self.input_dropout = Dropout(cfg.dropout)
        self.layers = nn.Sequential(*(EncoderLayer(cfg) for _ in range(cfg.n_layers)))
        self.head_dropout = Dropout(cfg.head_dropout)
        self.head = nn.Linear(self.n_patches * cfg.d_model, horizon * n_outputs)

    def patches(self, x: Tensor) -> Tensor:
        """(N, L) → (N, n_patches, patch_len)."""
        # End padding with ``stride`` copies of the last value, then a gather of every patch
        # (same as ``unfold``; a gather exports to ONNX with a dynamic batch).
        padded = torch.cat([x, x[:, -1:].expand(-1, self.stride)], dim=1)
        return padded[:, self.patch_index]

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.input_dropout(self.embed(self.patches(x)) + self.position)
        encoded = self.layers(tokens)
        flat = self.head_dropout(encoded.flatten(start_dim=1))
        out: Tensor = self.head(flat)
        return out.reshape(-1, self.horizon, self.n_outputs)
