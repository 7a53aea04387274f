"""The penalty-reduced focal loss (fused, closed-form backward) equals the log-sigmoid formula, in value and
gradient."""

import os

import pytest
import torch

from centernet.losses import penalty_reduced as fused
from centernet.losses.penalty_reduced import DenseKernels, PenaltyReducedFocalFunction
from centernet.losses.penalty_reduced import penalty_reduced_focal_loss as fused_penalty_reduced_focal_loss
from tests.reference import log_sigmoid_focal_loss as penalty_reduced_focal_loss

SLOW = pytest.mark.skipif(os.environ.get("CENTERNET_SLOW") != "1", reason="set CENTERNET_SLOW=1 to run")


def heatmap_case(seed: int, shape=(2, 3, 12, 20), logit_scale: float = 3.0, peaks: int = 9):
    """Random logits and a Gaussian-like target in [0, 1) with `peaks` elements set to exactly 1."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=generator) * logit_scale - 1
    target = torch.rand(shape, generator=generator) ** 6 * 0.999
    target.view(-1)[torch.randperm(target.numel(), generator=generator)[:peaks]] = 1
    return logits, target


def value_and_gradient(loss_function, logits, target, **options):
    logits = logits.detach().clone().requires_grad_()
    loss = loss_function(logits, target, **options)
    loss.backward()
    return loss.detach(), logits.grad


def assert_same_as_log_sigmoid_form(logits, target, **options):
    expected, expected_gradient = value_and_gradient(penalty_reduced_focal_loss, logits, target, **options)
    value, gradient = value_and_gradient(fused_penalty_reduced_focal_loss, logits, target, **options)
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gradient, expected_gradient, rtol=1e-5, atol=1e-9)
    assert torch.isfinite(gradient).all()


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of two 12 x 20 planes, so that a 2 x 3 batch is split into three chunks."""
    monkeypatch.setattr(fused, "CPU_CHUNK_ELEMENTS", 2 * 12 * 20)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_log_sigmoid_form_on_random_heatmaps(seed, small_chunks):
    assert_same_as_log_sigmoid_form(*heatmap_case(seed))


@pytest.mark.parametrize(("alpha", "beta"), [(2.0, 4.0), (1.5, 3.0), (3.0, 2.5), (0.0, 1.0)])
def test_equals_log_sigmoid_form_for_other_exponents(alpha, beta):
    assert_same_as_log_sigmoid_form(*heatmap_case(3), alpha=alpha, beta=beta)


def test_saturated_logits_stay_finite_and_equal():
    logits, target = heatmap_case(4)
    logits = torch.where(torch.rand(logits.shape, generator=torch.Generator().manual_seed(0)) < 0.5, -80.0, 80.0)
    assert_same_as_log_sigmoid_form(logits, target)
    beyond_float_exp = torch.tensor([[120.0, -120.0], [120.0, -120.0]]).view(1, 1, 2, 2)  # exp(120) overflows
    value, gradient = value_and_gradient(fused_penalty_reduced_focal_loss, beyond_float_exp,
                                         torch.eye(2).view(1, 1, 2, 2))
    assert torch.isfinite(value) and torch.isfinite(gradient).all()


def test_without_peaks_the_sum_is_not_divided():
    logits, target = heatmap_case(5, peaks=0)
    assert_same_as_log_sigmoid_form(logits, target)
    expected, _ = value_and_gradient(penalty_reduced_focal_loss, logits, target)
    assert expected > 0


def test_class_weights_scale_each_channel(small_chunks):
    logits, target = heatmap_case(6)
    assert_same_as_log_sigmoid_form(logits, target, class_weights=torch.tensor([0.5, 2.0, 1.25]))


def test_bf16_autocast_computes_in_float32():
    logits, target = heatmap_case(7)
    logits = logits.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, expected_gradient = value_and_gradient(penalty_reduced_focal_loss, logits, target)
        value, gradient = value_and_gradient(fused_penalty_reduced_focal_loss, logits, target)
    assert value.dtype == torch.float32 and gradient.dtype == torch.bfloat16
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gradient, expected_gradient)


@pytest.mark.parametrize("weighted", [False, True])
def test_closed_form_backward_passes_gradcheck_in_float64(weighted):
    logits, target = heatmap_case(8, shape=(1, 2, 3, 4), peaks=2)
    planes = logits.double().view(2, 12).requires_grad_()
    plane_weights = torch.tensor([[0.5], [2.0]], dtype=torch.float64) if weighted else None
    kernels = DenseKernels(compiled=False)
    assert torch.autograd.gradcheck(
        lambda x: PenaltyReducedFocalFunction.apply(x, target.double().view(2, 12), 2.0, 4.0, plane_weights, kernels),
        (planes,))


def test_compile_failure_falls_back_to_eager(monkeypatch):
    def failing_compile(function):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", failing_compile)
    kernels = DenseKernels(compiled=True)
    logits, target = heatmap_case(9)
    expected, expected_gradient = value_and_gradient(penalty_reduced_focal_loss, logits, target)
    with pytest.warns(UserWarning, match="using eager"):
        value, gradient = value_and_gradient(fused_penalty_reduced_focal_loss, logits, target, kernels=kernels)
    assert not kernels.compiled
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gradient, expected_gradient, rtol=1e-5, atol=1e-9)


@pytest.mark.slow
@SLOW
def test_compiled_form_equals_log_sigmoid_form():
    logits, target = heatmap_case(10)
    kernels = DenseKernels(compiled=True)
    expected, expected_gradient = value_and_gradient(penalty_reduced_focal_loss, logits, target,
                                                     class_weights=torch.tensor([0.5, 2.0, 1.25]))
    value, gradient = value_and_gradient(fused_penalty_reduced_focal_loss, logits, target, kernels=kernels,
                                         class_weights=torch.tensor([0.5, 2.0, 1.25]))
    assert kernels.compiled
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gradient, expected_gradient, rtol=1e-5, atol=1e-9)
