"""The focal-loss family: torchvision parity, hand-written formulas, the cross-entropy limits, saturated logits
under fp32 and autocast, class-balanced weights, and the dense heatmap criteria."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
import torchvision

from centernet.losses.focal import (
    ClassBalancedFocalLoss,
    DistributionFocalLoss,
    QualityFocalLoss,
    SigmoidFocalLoss,
    SoftmaxFocalLoss,
    class_balanced_focal_loss,
    class_balanced_weights,
    distribution_focal_loss,
    heatmap_quality_focal_loss,
    heatmap_sigmoid_focal_loss,
    quality_focal_loss,
    sigmoid_focal_loss,
    softmax_focal_loss,
)

REDUCTIONS = ("none", "mean", "sum")


def test_the_focal_family_is_public_api_of_centernet_losses():
    import centernet.losses

    names = ("sigmoid_focal_loss", "softmax_focal_loss", "class_balanced_weights", "class_balanced_focal_loss",
             "quality_focal_loss", "distribution_focal_loss")
    for name in names:
        assert getattr(centernet.losses, name) is globals()[name], name
        assert name in centernet.losses.__all__


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


# --- sigmoid focal loss -------------------------------------------------------------------------------------

@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 3.5])
@pytest.mark.parametrize("alpha", [0.25, 0.5, -1.0])
def test_sigmoid_focal_matches_torchvision(alpha: float, gamma: float, reduction: str, soft: bool) -> None:
    generator = _generator()
    logits = torch.randn(6, 5, generator=generator) * 3
    targets = torch.rand(6, 5, generator=generator)
    targets = targets if soft else (targets > 0.5).float()
    expected = torchvision.ops.sigmoid_focal_loss(logits, targets, alpha, gamma, reduction)
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets, alpha, gamma, reduction), expected,
                               rtol=1e-5, atol=1e-6)


def test_sigmoid_focal_hand_formula() -> None:
    generator = _generator()
    logits = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    targets = (torch.rand(4, 3, generator=generator) > 0.5).double()
    p = torch.sigmoid(logits)
    p_t = torch.where(targets == 1, p, 1 - p)
    alpha_t = torch.where(targets == 1, 0.25, 0.75)
    expected = -alpha_t * (1 - p_t) ** 2 * torch.log(p_t)
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets), expected.float())


def test_sigmoid_focal_gamma_zero_without_alpha_is_bce() -> None:
    generator = _generator()
    logits, targets = torch.randn(5, 4, generator=generator), torch.rand(5, 4, generator=generator)
    for reduction in REDUCTIONS:
        torch.testing.assert_close(sigmoid_focal_loss(logits, targets, alpha=-1, gamma=0, reduction=reduction),
                                   F.binary_cross_entropy_with_logits(logits, targets, reduction=reduction))


def test_bad_reduction_raises() -> None:
    with pytest.raises(ValueError, match="reduction"):
        sigmoid_focal_loss(torch.zeros(2), torch.zeros(2), reduction="average")  # type: ignore[arg-type]


# --- softmax focal loss -------------------------------------------------------------------------------------

def test_softmax_focal_hand_formula() -> None:
    generator = _generator()
    logits = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 4, (6,), generator=generator)
    alpha = [0.1, 0.2, 0.3, 0.4]
    p_y = torch.softmax(logits, dim=1)[torch.arange(6), labels]
    expected = -torch.tensor(alpha, dtype=torch.float64)[labels] * (1 - p_y) ** 2 * torch.log(p_y)
    actual = softmax_focal_loss(logits, labels, alpha=alpha, gamma=2.0, reduction="none")
    assert actual.shape == (6,)
    torch.testing.assert_close(actual, expected.float())
    torch.testing.assert_close(softmax_focal_loss(logits, labels, alpha=alpha), expected.mean().float())
    torch.testing.assert_close(softmax_focal_loss(logits, labels, alpha=alpha, reduction="sum"),
                               expected.sum().float())


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_softmax_focal_gamma_zero_is_cross_entropy(reduction: str) -> None:
    generator = _generator()
    logits, labels = torch.randn(7, 5, generator=generator), torch.randint(0, 5, (7,), generator=generator)
    torch.testing.assert_close(softmax_focal_loss(logits, labels, gamma=0.0, reduction=reduction),
                               F.cross_entropy(logits, labels, reduction=reduction))


def test_softmax_focal_scalar_alpha_equals_explicit_list() -> None:
    generator = _generator()
    logits, labels = torch.randn(8, 4, generator=generator), torch.randint(0, 4, (8,), generator=generator)
    torch.testing.assert_close(softmax_focal_loss(logits, labels, alpha=0.25, reduction="none"),
                               softmax_focal_loss(logits, labels, alpha=[0.25, 0.75, 0.75, 0.75], reduction="none"))
    with pytest.raises(ValueError, match="alpha"):
        softmax_focal_loss(logits, labels, alpha=[0.5, 0.5])


def test_softmax_focal_ignore_index() -> None:
    generator = _generator()
    logits = torch.randn(6, 3, generator=generator)
    labels = torch.tensor([0, -100, 2, 1, -100, 2])
    kept = labels != -100
    per_sample = softmax_focal_loss(logits, labels, reduction="none")
    assert per_sample.shape == (6,)
    assert torch.equal(per_sample[~kept], torch.zeros(2))
    torch.testing.assert_close(per_sample[kept], softmax_focal_loss(logits[kept], labels[kept], reduction="none"))
    torch.testing.assert_close(softmax_focal_loss(logits, labels), per_sample[kept].mean())
    torch.testing.assert_close(softmax_focal_loss(logits, labels, gamma=0.0), F.cross_entropy(logits, labels))
    custom = torch.tensor([1, 7, 7, 0])
    torch.testing.assert_close(softmax_focal_loss(logits[:4], custom, gamma=0.0, ignore_index=7),
                               F.cross_entropy(logits[:4], custom, ignore_index=7))
    all_ignored = softmax_focal_loss(logits, torch.full((6,), -100))
    assert all_ignored.item() == 0.0


# --- class-balanced weights and loss ------------------------------------------------------------------------

def test_class_balanced_weights_hand_computed() -> None:
    # Unnormalised: 0.01 / (1 - 0.99^100) = 0.0157737, 0.01 / (1 - 0.99^10) = 0.1045830, 0.01 / 0.01 = 1;
    # sum 1.1203567, so times 3 / sum:
    weights = class_balanced_weights([100, 10, 1], beta=0.99)
    assert weights.dtype == torch.float32 and weights.shape == (3,)
    torch.testing.assert_close(weights, torch.tensor([0.0422377, 0.2800441, 2.6777182]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weights.sum(), torch.tensor(3.0))


def test_class_balanced_weights_edge_cases() -> None:
    counts = torch.tensor([5000, 30, 0, 7])
    torch.testing.assert_close(class_balanced_weights(counts).sum(), torch.tensor(4.0))
    assert torch.equal(class_balanced_weights([3, 0, 1000], beta=0.0), torch.ones(3))
    with_zero = class_balanced_weights([50, 0, 1], beta=0.9)
    assert torch.isfinite(with_zero).all()
    assert with_zero[1] == with_zero[2] == with_zero.max()  # no samples weighs like one sample, the most
    for beta in (-0.1, 1.0, 1.5, math.nan):
        with pytest.raises(ValueError, match="beta"):
            class_balanced_weights([1, 2], beta=beta)
    with pytest.raises(ValueError, match="samples_per_class"):
        class_balanced_weights([4, -1])


def test_class_balanced_focal_loss_both_types() -> None:
    generator = _generator()
    logits, labels = torch.randn(6, 3, generator=generator), torch.tensor([0, 1, 2, 2, 1, 0])
    counts = [100, 10, 1]
    weights = class_balanced_weights(counts, beta=0.99)
    one_hot = F.one_hot(labels, 3).float()
    p = torch.sigmoid(logits)
    modulator = torch.where(one_hot == 1, 1 - p, p) ** 2
    sigmoid_per_sample = (modulator * F.binary_cross_entropy_with_logits(logits, one_hot, reduction="none")).sum(1)
    expected = weights[labels] * sigmoid_per_sample
    actual = class_balanced_focal_loss(logits, labels, counts, beta=0.99, reduction="none")
    torch.testing.assert_close(actual, expected)
    torch.testing.assert_close(class_balanced_focal_loss(logits, labels, counts, beta=0.99), expected.mean())
    torch.testing.assert_close(
        class_balanced_focal_loss(logits, labels, counts, beta=0.99, loss_type="softmax", reduction="sum"),
        softmax_focal_loss(logits, labels, alpha=weights, reduction="sum"))
    torch.testing.assert_close(class_balanced_focal_loss(logits, labels, counts, beta=0.0, loss_type="softmax"),
                               softmax_focal_loss(logits, labels))
    with pytest.raises(ValueError, match="loss_type"):
        class_balanced_focal_loss(logits, labels, counts, loss_type="focal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="class weight"):
        class_balanced_focal_loss(logits, labels, [1, 2])


# --- quality and distribution focal losses ------------------------------------------------------------------

def test_quality_focal_hand_formula() -> None:
    generator = _generator()
    logits = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 2, 3, 1])  # 3 is background
    scores = torch.tensor([0.8, 0.3, 0.9, 1.0], dtype=torch.float64)
    targets = torch.zeros(4, 3, dtype=torch.float64)
    targets[0, 0], targets[1, 2], targets[3, 1] = 0.8, 0.3, 1.0
    s = torch.sigmoid(logits)
    expected = (-(targets - s).abs() ** 2 * ((1 - targets) * torch.log(1 - s) + targets * torch.log(s))).sum(1)
    actual = quality_focal_loss(logits, labels, scores, reduction="none")
    assert actual.shape == (4,)
    torch.testing.assert_close(actual, expected.float())
    torch.testing.assert_close(quality_focal_loss(logits, labels, scores), expected.mean().float())
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(1)
    torch.testing.assert_close(quality_focal_loss(logits, labels, scores, beta=0.0, reduction="sum"),
                               bce.sum().float())


def test_distribution_focal_hand_formula() -> None:
    generator = _generator()
    logits = torch.randn(4, 5, generator=generator, dtype=torch.float64)  # bins 0..4
    target = torch.tensor([0.0, 1.25, 2.5, 3.9], dtype=torch.float64)
    log_s = torch.log_softmax(logits, dim=1)
    expected = torch.stack([
        -(1.0 * log_s[0, 0] + 0.0 * log_s[0, 1]),
        -(0.75 * log_s[1, 1] + 0.25 * log_s[1, 2]),
        -(0.5 * log_s[2, 2] + 0.5 * log_s[2, 3]),
        -((4 - 3.9) * log_s[3, 3] + (3.9 - 3) * log_s[3, 4]),
    ])
    actual = distribution_focal_loss(logits, target, reduction="none")
    assert actual.shape == (4,)
    torch.testing.assert_close(actual, expected.float())
    torch.testing.assert_close(distribution_focal_loss(logits, target), expected.mean().float())


def test_distribution_focal_integer_targets_are_cross_entropy() -> None:
    generator = _generator()
    logits = torch.randn(5, 5, generator=generator, requires_grad=True)
    bins = torch.tensor([0, 1, 2, 3, 4])  # 4 = n, the last bin: y_r would be n + 1
    actual = distribution_focal_loss(logits, bins.float(), reduction="none")
    torch.testing.assert_close(actual, F.cross_entropy(logits, bins, reduction="none"))
    actual.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_confident_logits_keep_relative_precision() -> None:
    """Where 1 - p rounds to 0 in float32 (|x| >= 17) the log forms still give the float64 value."""
    logits = torch.tensor([[17.0, -25.0], [30.0, -12.0]], dtype=torch.float64)
    binary = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    one_minus_p_t = torch.sigmoid(-logits.abs())  # the predictions are all correct
    retina = -torch.where(binary == 1, 0.25, 0.75) * one_minus_p_t ** 2 * torch.log1p(-one_minus_p_t)
    torch.testing.assert_close(sigmoid_focal_loss(logits.float(), binary.float()), retina.float(), rtol=1e-4, atol=0)
    quality = (one_minus_p_t ** 2 * -torch.log1p(-one_minus_p_t)).sum(1)
    labels, scores = torch.tensor([0, 0]), torch.ones(2)
    torch.testing.assert_close(quality_focal_loss(logits.float(), labels, scores, reduction="none"),
                               quality.float(), rtol=1e-4, atol=0)
    log_p = torch.log_softmax(logits, dim=1)
    softmax = -(1 - log_p[:, 0].exp()) ** 2 * log_p[:, 0]
    torch.testing.assert_close(softmax_focal_loss(logits.float(), labels, reduction="none"), softmax.float(),
                               rtol=1e-4, atol=0)


# --- saturated logits in fp32 and autocast ------------------------------------------------------------------

def _saturated_cases() -> dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]]:
    """Name -> (loss of logits, the +-1 pattern whose logits * 80 are saturated correct predictions)."""
    binary = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    labels = torch.tensor([0, 2, 1])
    one_hot = F.one_hot(labels, 3).float()
    quality_labels, quality_scores = torch.tensor([0, 2, 3]), torch.tensor([1.0, 1.0, 0.0])
    bins = torch.tensor([0.0, 2.0, 3.0])  # 3 = n
    heatmap = torch.zeros(1, 2, 3, 3)
    heatmap[0, 0, 1, 1] = heatmap[0, 1, 0, 2] = 1.0
    return {
        "sigmoid": (lambda x: sigmoid_focal_loss(x, binary, reduction="sum"), 2 * binary - 1),
        "softmax": (lambda x: softmax_focal_loss(x, labels, alpha=0.25), 2 * one_hot - 1),
        "class_balanced_sigmoid": (lambda x: class_balanced_focal_loss(x, labels, [5, 1, 0]), 2 * one_hot - 1),
        "class_balanced_softmax": (lambda x: class_balanced_focal_loss(x, labels, [5, 1, 0], loss_type="softmax"),
                                   2 * one_hot - 1),
        "quality": (lambda x: quality_focal_loss(x, quality_labels, quality_scores),
                    2 * F.one_hot(quality_labels, 4)[:, :3].float() - 1),
        "distribution": (lambda x: distribution_focal_loss(x, bins), 2 * F.one_hot(bins.long(), 4).float() - 1),
        "heatmap_quality": (lambda x: heatmap_quality_focal_loss(x, heatmap), 2 * heatmap - 1),
        "heatmap_sigmoid": (lambda x: heatmap_sigmoid_focal_loss(x, heatmap), 2 * heatmap - 1),
    }


def _check_saturated(name: str, device: str, half_dtype: torch.dtype | None) -> None:
    """Logits of +-80 (in half_dtype under autocast, if given): finite loss and gradient, ~0 or large."""
    with torch.device(device):
        loss_of, pattern = _saturated_cases()[name]
    for sign in (1.0, -1.0):
        logits = (80.0 * sign * pattern).requires_grad_()
        context = torch.autocast(device, dtype=half_dtype) if half_dtype else contextlib.nullcontext()
        with context:
            # The head's output under autocast is half precision; the loss must still work in float32.
            loss = loss_of(logits.to(half_dtype) if half_dtype else logits)
        loss.backward()
        assert loss.dtype == torch.float32
        assert torch.isfinite(loss) and torch.isfinite(logits.grad).all(), (name, sign)
        if sign > 0:
            assert loss.item() < 1e-6, f"{name}: saturated correct predictions should cost ~0, got {loss.item()}"
        else:
            assert loss.item() > 1.0, f"{name}: saturated wrong predictions should cost a lot, got {loss.item()}"


@pytest.mark.parametrize("half_dtype", [None, torch.bfloat16], ids=["fp32", "bf16-autocast"])
@pytest.mark.parametrize("name", list(_saturated_cases()))
def test_saturated_logits_are_finite(name: str, half_dtype: torch.dtype | None) -> None:
    _check_saturated(name, "cpu", half_dtype)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(_saturated_cases()))
def test_saturated_logits_fp16_autocast_cuda(name: str) -> None:
    _check_saturated(name, "cuda", torch.float16)


# --- dense heatmap criteria ---------------------------------------------------------------------------------

def _heatmap_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = _generator()
    logits = torch.randn(2, 3, 5, 5, generator=generator)
    yy, xx = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij")
    target = torch.zeros(2, 3, 5, 5)
    target[0, 0] = torch.exp(-((xx - 2) ** 2 + (yy - 1) ** 2) / 2)
    target[1, 2] = torch.exp(-((xx - 4) ** 2 + (yy - 3) ** 2) / 2)
    target[1, 0, 0, 0] = 1.0
    return logits, target


HEATMAP_CRITERIA = [heatmap_quality_focal_loss, heatmap_sigmoid_focal_loss]


def test_heatmap_criteria_hand_formula() -> None:
    logits, target = _heatmap_inputs()
    assert int((target == 1).sum()) == 3
    s = torch.sigmoid(logits.double())
    y = target.double()
    quality = -((y - s).abs() ** 2 * ((1 - y) * torch.log(1 - s) + y * torch.log(s))).sum() / 3
    torch.testing.assert_close(heatmap_quality_focal_loss(logits, target), quality.float())
    peaks = (target == 1).double()
    p_t = torch.where(peaks == 1, s, 1 - s)
    retina = (-torch.where(peaks == 1, 0.25, 0.75) * (1 - p_t) ** 2 * torch.log(p_t)).sum() / 3
    torch.testing.assert_close(heatmap_sigmoid_focal_loss(logits, target), retina.float())


@pytest.mark.parametrize("criterion", HEATMAP_CRITERIA)
def test_heatmap_without_peaks_is_not_divided(criterion: Callable[..., torch.Tensor]) -> None:
    logits, target = _heatmap_inputs()
    no_peaks = target * 0.5
    loss = criterion(logits, no_peaks)
    assert loss.dim() == 0 and torch.isfinite(loss)
    # With the normaliser at 1 the loss is the plain sum: doubling every pixel's weight doubles it.
    torch.testing.assert_close(criterion(logits, no_peaks, torch.full((3,), 2.0)), 2 * loss)
    empty = criterion(torch.full((1, 2, 4, 4), -80.0), torch.zeros(1, 2, 4, 4))
    assert torch.isfinite(empty) and empty.item() < 1e-6


@pytest.mark.parametrize("criterion", HEATMAP_CRITERIA)
def test_heatmap_class_weights(criterion: Callable[..., torch.Tensor]) -> None:
    logits, target = _heatmap_inputs()
    torch.testing.assert_close(criterion(logits, target, torch.ones(3)), criterion(logits, target))
    weights = torch.tensor([1.0, 0.0, 1.0])
    logits = logits.clone().requires_grad_()
    weighted = criterion(logits, target, weights)
    weighted.backward()
    assert torch.equal(logits.grad[:, 1], torch.zeros_like(logits.grad[:, 1]))
    changed = logits.detach().clone()
    changed[:, 1] = 50.0
    torch.testing.assert_close(criterion(changed, target, weights), weighted.detach())


# --- modules ------------------------------------------------------------------------------------------------

def test_modules_match_functions() -> None:
    generator = _generator()
    logits, labels = torch.randn(6, 4, generator=generator), torch.tensor([0, 1, 2, 3, 4, 1])
    scores = torch.rand(6, generator=generator)
    binary = (torch.rand(6, 4, generator=generator) > 0.5).float()
    in_range = labels.clamp(max=3)
    torch.testing.assert_close(SigmoidFocalLoss(0.5, 1.0, "sum")(logits, binary),
                               sigmoid_focal_loss(logits, binary, 0.5, 1.0, "sum"))
    softmax = SoftmaxFocalLoss(alpha=[0.1, 0.2, 0.3, 0.4], gamma=1.5)
    assert "alpha" in dict(softmax.named_buffers()) and "alpha" not in softmax.state_dict()
    torch.testing.assert_close(softmax(logits, in_range),
                               softmax_focal_loss(logits, in_range, [0.1, 0.2, 0.3, 0.4], 1.5))
    torch.testing.assert_close(SoftmaxFocalLoss(alpha=0.25)(logits, in_range),
                               softmax_focal_loss(logits, in_range, alpha=0.25))
    balanced = ClassBalancedFocalLoss([10, 5, 1, 0], beta=0.9, loss_type="softmax")
    torch.testing.assert_close(balanced.class_weights, class_balanced_weights([10, 5, 1, 0], 0.9))
    torch.testing.assert_close(balanced(logits, in_range),
                               class_balanced_focal_loss(logits, in_range, [10, 5, 1, 0], 0.9, loss_type="softmax"))
    with pytest.raises(ValueError, match="loss_type"):
        ClassBalancedFocalLoss([1, 2], loss_type="focal")  # type: ignore[arg-type]
    torch.testing.assert_close(QualityFocalLoss(beta=1.0)(logits, labels, scores),
                               quality_focal_loss(logits, labels, scores, beta=1.0))
    bins = torch.tensor([0.0, 0.5, 1.5, 2.2, 3.0, 2.9])
    torch.testing.assert_close(DistributionFocalLoss("none")(logits, bins),
                               distribution_focal_loss(logits, bins, "none"))
