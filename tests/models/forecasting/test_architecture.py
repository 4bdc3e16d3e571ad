"""Shapes and the defining mechanics of N-HiTS, PatchTST and RevIN."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from quantum_trader.models.forecasting.nhits import NHiTS, NHiTSConfig, interpolation_matrix
from quantum_trader.models.forecasting.patchtst import PatchTST, PatchTSTConfig, patch_count
from quantum_trader.models.forecasting.revin import ChannelIndependent, RevIN


def test_nhits_pools_each_stack_at_its_rate_and_interpolates_knots_to_horizon() -> None:
    cfg = NHiTSConfig(pooling_sizes=(8, 4, 1), downsample=(4, 2, 1), hidden_size=16)
    net = NHiTS(input_size=168, horizon=4, n_outputs=3, cfg=cfg)
    assert [b.pooled_size for b in net.blocks] == [21, 42, 168]
    assert [b.n_knots for b in net.blocks] == [1, 2, 4]
    assert net(torch.randn(5, 168)).shape == (5, 4, 3)


def test_nhits_pooling_rounds_up_for_ragged_windows() -> None:
    net = NHiTS(50, 6, 1, NHiTSConfig(pooling_sizes=(8,), downsample=(3,), hidden_size=8))
    assert net.blocks[0].pooled_size == math.ceil(50 / 8)
    assert net(torch.randn(2, 50)).shape == (2, 6, 1)


@pytest.mark.parametrize(("knots", "horizon"), [(1, 4), (2, 4), (3, 12), (4, 4), (5, 24)])
def test_interpolation_matrix_equals_linear_interpolate(knots: int, horizon: int) -> None:
    theta = torch.randn(3, knots)
    expected = F.interpolate(theta[:, None], size=horizon, mode="linear")[:, 0]
    assert torch.allclose(theta @ interpolation_matrix(knots, horizon), expected, atol=1e-6)


def test_nhits_block_forecast_is_piecewise_linear_in_its_knots() -> None:
    """A block with 2 knots over 8 steps: flat, a straight ramp, flat (half-pixel centres)."""
    net = NHiTS(32, 8, 1, NHiTSConfig(pooling_sizes=(4,), downsample=(4,), hidden_size=8))
    with torch.no_grad():
        net.blocks[0].theta.bias[32:] = torch.tensor([-1.0, 3.0])
    out = net(torch.randn(1, 32))[0, :, 0].detach()
    assert torch.allclose(out[:2], out[:1].expand(2), atol=1e-6)
    assert torch.allclose(out[6:], out[6:7].expand(2), atol=1e-6)
    ramp = out[2:6].diff()  # between the knot centres: a straight line
    assert torch.allclose(ramp, ramp[:1].expand(3), atol=1e-5)
    assert float(ramp[0]) != 0.0
    assert torch.allclose(out[2] - out[1], ramp[0] / 2, atol=1e-5)  # half a step to the centre


@pytest.mark.parametrize(
    ("length", "patch", "stride"), [(168, 16, 8), (336, 16, 8), (100, 12, 5), (48, 16, 16)]
)
def test_patch_count_matches_paper(length: int, patch: int, stride: int) -> None:
    net = PatchTST(
        length,
        4,
        1,
        PatchTSTConfig(patch_len=patch, stride=stride, d_model=8, n_heads=2, n_layers=1, d_ff=8),
    )
    x = torch.randn(3, length)
    patches = net.patches(x)
    assert patches.shape == (3, (length - patch) // stride + 2, patch)
    assert net.n_patches == patch_count(length, patch, stride)
    # the first patch is the window start; the last ends in the end padding (copies of x[-1])
    assert torch.equal(patches[:, 0], x[:, :patch])
    assert torch.equal(patches[:, -1, -1], x[:, -1])


def test_patchtst_forecast_shape() -> None:
    net = PatchTST(168, 4, 5, PatchTSTConfig())
    net.eval()
    assert net(torch.randn(7, 168)).shape == (7, 4, 5)


@pytest.mark.parametrize("subtract_last", [False, True])
def test_revin_inverts_exactly(subtract_last: bool) -> None:
    torch.manual_seed(0)
    revin = RevIN(3, subtract_last=subtract_last)
    with torch.no_grad():
        revin.weight.copy_(torch.tensor([0.5, 2.0, -1.5]))
        revin.bias.copy_(torch.tensor([0.1, -0.3, 2.0]))
    x = torch.randn(4, 30, 3, dtype=torch.float32) * 50 + 1000
    centre, scale = revin.statistics(x)
    z = revin.normalise(x, centre, scale)
    raw = (z - revin.bias) / revin.weight
    assert torch.allclose(
        raw.mean(dim=1) if not subtract_last else raw[:, -1], torch.zeros(4, 3), atol=1e-4
    )
    back = revin.denormalise(z[..., None], centre, scale)[..., 0]
    assert torch.allclose(back, x, rtol=1e-6, atol=1e-3)  # float32 at a level of 1000


def test_channels_never_see_each_other() -> None:
    net = ChannelIndependent(
        NHiTS(24, 4, 1, NHiTSConfig(pooling_sizes=(2,), downsample=(1,), hidden_size=8)), RevIN(2)
    )
    x = torch.randn(1, 24, 2)
    y = x.clone()
    y[..., 1] = torch.randn(24) * 100
    assert torch.equal(net(x)[..., 0, :], net(y)[..., 0, :])
    assert not torch.equal(net(x)[..., 1, :], net(y)[..., 1, :])


def test_level_and_scale_are_handled_by_revin() -> None:
    """Shifting and scaling a window shifts and scales its forecast (RevIN equivariance)."""
    net = ChannelIndependent(
        NHiTS(24, 4, 2, NHiTSConfig(pooling_sizes=(2,), downsample=(1,), hidden_size=8)), RevIN(1)
    )
    x = torch.randn(2, 24, 1, dtype=torch.float64)
    net = net.double()
    assert torch.allclose(net(x * 7.0 + 100.0), net(x) * 7.0 + 100.0, atol=1e-6)
