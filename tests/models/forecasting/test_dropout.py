"""The fast CPU dropout draws torch's own mask: same output, gradient, generator state, weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from quantum_trader.models.forecasting.api import build_network
from quantum_trader.models.forecasting.dropout import Dropout
from quantum_trader.models.forecasting.training import Trainer, deterministic, state_bytes
from quantum_trader.models.forecasting.windows import as_matrix, time_split

from .conftest import sine_series, tiny


def _run(
    module: nn.Module, x: torch.Tensor, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Output, input gradient and the generator's state after one seeded training pass."""
    torch.manual_seed(seed)
    leaf = x.detach().clone().requires_grad_(True)
    out = module.train()(leaf)
    state = torch.get_rng_state()
    out.backward(torch.linspace(-1.0, 1.0, out.numel()).reshape(out.shape))
    assert leaf.grad is not None
    return out.detach(), leaf.grad, state


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("layout", ["contiguous", "permuted"])
def test_same_mask_gradient_and_generator_state_as_torch(p: float, layout: str) -> None:
    x = torch.randn(64, 21, 16, generator=torch.Generator().manual_seed(1))
    if layout == "permuted":  # not contiguous: the mask follows memory order, as torch's does
        x = x.permute(0, 2, 1)
    expected = _run(nn.Dropout(p), x, seed=5)
    actual = _run(Dropout(p), x, seed=5)
    for want, got in zip(expected, actual, strict=True):
        assert torch.equal(want, got)
    dropped = float((actual[0] == 0).float().mean())
    assert abs(dropped - p) < 0.05  # it does drop, at the rate asked


def test_same_mask_with_two_threads() -> None:
    x = torch.randn(256, 21, 128, generator=torch.Generator().manual_seed(2))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        expected, actual = _run(nn.Dropout(0.3), x, 9), _run(Dropout(0.3), x, 9)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(expected, actual, strict=True))


def test_evaluation_and_edge_probabilities_are_plain_dropout() -> None:
    x = torch.randn(8, 5)
    assert torch.equal(Dropout(0.3).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))


def test_a_seeded_patchtst_training_gives_the_same_weights_as_with_torch_dropout() -> None:
    model = tiny("patchtst", n_channels=2, epochs=2)
    split = time_split([as_matrix(sine_series(600), "test")], 48, 8, 0.15)
    hashes = []
    for plain in (True, False):
        with deterministic(3, 1):
            network = build_network(model.spec)
            swapped = 0
            for module in network.modules():
                if plain and isinstance(module, Dropout):  # back to torch's own class, same p
                    module.__class__ = nn.Dropout  # type: ignore[assignment]
                    swapped += 1
            assert swapped > 0 or not plain
            Trainer(model.training, model.spec.quantiles).fit(
                network, split.train, split.validation
            )
        hashes.append(state_bytes(network))
    assert hashes[0] == hashes[1]
