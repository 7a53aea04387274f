"""CornerNet's penalty-reduced focal loss (CenterNet's heatmap loss) as one autograd Function with a
closed-form backward.

With p = sigmoid(logits) and y the Gaussian target (peaks exactly 1):
  L = -1/N * sum( y == 1: (1 - p)^alpha log p ;  y < 1: (1 - y)^beta p^alpha log(1 - p) ),
N = max(number of peaks, 1). It is written with log-sigmoid and softplus, never clamping p (the reference's
clamp to [1e-4, 1 - 1e-4] stops learning there). It keeps no intermediate tensors for the backward pass:
it saves the logits, the target and the (N,) positions of the N peaks. Eager, when the logits need a gradient,
the forward pass writes the dense gradient (up to the scale the backward pass brings) in the same pass over
the data as the loss, so the extra memory is that gradient plus a few chunks' temporaries. The dense work is
done in chunks of whole (H, W) planes. Optionally it is `torch.compile`d into fused loops instead (the
compiled backward recomputes what the gradient needs).

The loss splits into a sparse and a dense part. With w the class weight:
  peaks (y == 1):  -w (1 - p)^alpha log p, evaluated only at the N peak positions;
  the rest:        -w (1 - y)^beta p^alpha log(1 - p) = w (1 - y)^beta p^alpha softplus(x), evaluated
                   everywhere, which is exact because (1 - y)^beta is 0 at the peaks.
Its derivative in x is w (1 - y)^beta p^alpha (alpha (1 - p) softplus(x) + p); sigmoid and softplus are
stable for any logit, so values and gradients stay finite at +-80 and beyond.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F

# Elements per chunk. CPU: PyTorch's intra-op grain (32768), below which an op runs on the calling thread.
# Hundreds of larger chunk-sized ops, each an OpenMP parallel region, are slow when other processes share the
# cores: with 2^18-element chunks (8, 80, 128, 128) took 7.0 s instead of 0.30 s on this project's 2-core
# development machine under OpenMP's default spin-waiting. The single-threaded chunks stay in the L2 cache.
# GPUs: 16 MiB chunks, few kernel launches while the temporaries remain a small part of the planes.
CPU_CHUNK_ELEMENTS = 1 << 15
GPU_CHUNK_ELEMENTS = 1 << 22
# Integer exponents up to this are computed by repeated squaring: tensor.pow(4.0) calls std::pow per
# element on CPU, about 100x slower than a multiply (pow(2.0) alone is special-cased by PyTorch).
MAX_SQUARING_EXPONENT = 16


def integer_power(base: torch.Tensor, exponent: float) -> torch.Tensor:
    """base ** exponent, by repeated squaring when exponent is a small positive integer."""
    if not (float(exponent).is_integer() and 0 < exponent <= MAX_SQUARING_EXPONENT):
        return base.pow(exponent)
    remaining, square, result = int(exponent), base, None
    while True:
        if remaining & 1:
            result = square if result is None else result * square
        remaining >>= 1
        if not remaining:
            return result
        square = square * square


def negative_weight(probability: torch.Tensor, target: torch.Tensor, alpha: float, beta: float,
                    plane_weights: torch.Tensor | None) -> torch.Tensor:
    """w (1 - y)^beta p^alpha for planes (R, H*W) of p = sigmoid(logits); plane_weights (R, 1) or None.

    It is 0 at the peaks, where y = 1.
    """
    weight = integer_power(1 - target, beta).mul_(integer_power(probability, alpha))  # in place: one temporary less
    return weight if plane_weights is None else weight.mul_(plane_weights)


def negative_loss_sum(logits: torch.Tensor, target: torch.Tensor, alpha: float, beta: float,
                      plane_weights: torch.Tensor | None) -> torch.Tensor:
    """Sum of the dense (non-peak) term -w (1 - y)^beta p^alpha log(1 - p) over planes (R, H*W); 0-d."""
    weight = negative_weight(torch.sigmoid(logits), target, alpha, beta, plane_weights)
    return torch.dot(weight.flatten(), F.softplus(logits).flatten())  # one pass for the product and its sum


def negative_slope(logits: torch.Tensor, probability: torch.Tensor, softplus: torch.Tensor,
                   alpha: float) -> torch.Tensor:
    """alpha (1 - p) softplus(x) + p: the dense term's derivative divided by its weight, with 1 - p as
    sigmoid(-x), exact where p rounds to 1."""
    return torch.addcmul(probability, torch.sigmoid(-logits), softplus, value=alpha)


def negative_gradient(logits: torch.Tensor, target: torch.Tensor, alpha: float, beta: float,
                      plane_weights: torch.Tensor | None, scale: torch.Tensor) -> torch.Tensor:
    """scale * d(dense term)/d(logits) for planes (R, H*W): (R, H*W); `scale` is a 0-d tensor."""
    probability = torch.sigmoid(logits)
    slope = negative_slope(logits, probability, F.softplus(logits), alpha)
    return negative_weight(probability, target, alpha, beta, plane_weights).mul_(slope).mul_(scale)


def negative_loss_and_gradient(logits: torch.Tensor, target: torch.Tensor, alpha: float, beta: float,
                               plane_weights: torch.Tensor | None,
                               gradient_out: torch.Tensor) -> torch.Tensor:
    """The dense term's sum (0-d) for planes (R, H*W), writing its unscaled gradient into `gradient_out`: the
    forward pass of a training step computes both from one evaluation of sigmoid, softplus and the weight."""
    probability = torch.sigmoid(logits)
    softplus = F.softplus(logits)
    weight = negative_weight(probability, target, alpha, beta, plane_weights)
    total = torch.dot(weight.flatten(), softplus.flatten())
    torch.mul(weight, negative_slope(logits, probability, softplus, alpha), out=gradient_out)
    return total


def positive_terms(logits: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """At the peaks' logits (N,): the term (1 - p)^alpha log p and its derivative, as the reference writes it."""
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    modulator = (alpha * log_not_p).exp()
    derivative = modulator * (torch.sigmoid(-logits) - alpha * torch.sigmoid(logits) * log_p)
    return modulator * log_p, derivative


def plane_chunks(planes: torch.Tensor) -> list[slice]:
    """Row slices of `planes` (R, H*W), each about a chunk long for its device (at least one plane)."""
    count, plane_size = planes.shape
    chunk = CPU_CHUNK_ELEMENTS if planes.device.type == "cpu" else GPU_CHUNK_ELEMENTS
    rows = max(1, chunk // max(plane_size, 1))
    return [slice(start, min(start + rows, count)) for start in range(0, count, rows)]


class DenseKernels:
    """The dense sum and gradient, run chunk by chunk, or `torch.compile`d over the whole tensor.

    Compilation happens on first use; if it fails (no C compiler, an unsupported device) a warning is
    given and the chunked eager form is used from then on.
    """

    def __init__(self, compiled: bool) -> None:
        self.compiled = compiled
        self._compiled_functions: dict[Callable[..., torch.Tensor], Callable[..., torch.Tensor]] = {}

    def _run_compiled(self, function: Callable[..., torch.Tensor], *args) -> torch.Tensor | None:
        """`function(*args)` compiled on first use; None when compilation is off or has failed."""
        if not self.compiled:
            return None
        try:
            if function not in self._compiled_functions:
                self._compiled_functions[function] = torch.compile(function)
            return self._compiled_functions[function](*args)
        except Exception as error:  # any compiler failure: the eager form computes the same values
            warnings.warn(f"torch.compile of the fused focal loss failed, using eager: {error}", stacklevel=3)
            self.compiled = False
            return None

    def loss_sum(self, logits: torch.Tensor, target: torch.Tensor, alpha: float, beta: float,
                 plane_weights: torch.Tensor | None) -> torch.Tensor:
        total = self._run_compiled(negative_loss_sum, logits, target, alpha, beta, plane_weights)
        if total is not None:
            return total
        parts = [negative_loss_sum(logits[rows], target[rows], alpha, beta, _rows(plane_weights, rows))
                 for rows in plane_chunks(logits)]
        return _chunk_total(parts, logits.dtype)

    def loss_sum_and_gradient(self, logits: torch.Tensor, target: torch.Tensor, alpha: float, beta: float,
                              plane_weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Eager: the dense sum and its unscaled gradient (R, H*W) in one pass over the chunks. Compiled: the
        sum only (None for the gradient; the compiled gradient kernel runs in the backward pass)."""
        if self.compiled:
            return self.loss_sum(logits, target, alpha, beta, plane_weights), None
        gradient = torch.empty_like(logits)
        parts = [negative_loss_and_gradient(logits[rows], target[rows], alpha, beta, _rows(plane_weights, rows),
                                            gradient[rows])
                 for rows in plane_chunks(logits)]
        return _chunk_total(parts, logits.dtype), gradient

    def gradient(self, logits: torch.Tensor, target: torch.Tensor, alpha: float, beta: float,
                 plane_weights: torch.Tensor | None, scale: torch.Tensor) -> torch.Tensor:
        gradient = self._run_compiled(negative_gradient, logits, target, alpha, beta, plane_weights, scale)
        if gradient is not None:
            return gradient
        gradient = torch.empty_like(logits)
        for rows in plane_chunks(logits):
            gradient[rows] = negative_gradient(logits[rows], target[rows], alpha, beta,
                                               _rows(plane_weights, rows), scale)
        return gradient


def _chunk_total(parts: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """The sum of per-chunk sums, added in float64 so that the chunking adds no rounding of its own."""
    return torch.stack(parts).sum(dtype=torch.float64).to(dtype)


def _rows(plane_weights: torch.Tensor | None, rows: slice) -> torch.Tensor | None:
    return None if plane_weights is None else plane_weights[rows]


def peak_positions(target: torch.Tensor) -> torch.Tensor:
    """Flat positions (N,) int64 of the elements of `target` equal to 1."""
    return (target == 1).flatten().nonzero().squeeze(1)


class PenaltyReducedFocalFunction(torch.autograd.Function):
    """forward(logits (R, P), target (R, P), alpha, beta, plane_weights (R, 1) | None, kernels, peaks) -> 0-d loss.

    Planes in float32 (or float64, for gradcheck); the target is a constant: no gradient flows to it or to
    the weights. `peaks`: the (N,) flat positions of the positives, or None to take those where target == 1.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, target: torch.Tensor, alpha: float, beta: float,
                plane_weights: torch.Tensor | None, kernels: DenseKernels,
                peaks: torch.Tensor | None = None) -> torch.Tensor:
        peaks = peak_positions(target) if peaks is None else peaks
        peak_loss, _ = positive_terms(logits.flatten()[peaks], alpha)
        if plane_weights is not None:
            peak_loss = peak_loss * plane_weights.flatten()[peaks // logits.shape[1]]
        count = torch.tensor(float(max(len(peaks), 1)), dtype=logits.dtype, device=logits.device)
        dense_gradient = None
        if ctx.needs_input_grad[0]:  # training: the eager kernels compute the dense gradient in the same pass
            dense_sum, dense_gradient = kernels.loss_sum_and_gradient(logits, target, alpha, beta, plane_weights)
        else:
            dense_sum = kernels.loss_sum(logits, target, alpha, beta, plane_weights)
        loss = (dense_sum - peak_loss.sum()) / count
        # the peaks' positions are (N,), negligible next to the planes, and spare the backward a full scan
        ctx.save_for_backward(logits, target, plane_weights, peaks, count, dense_gradient)
        ctx.alpha, ctx.beta, ctx.kernels = alpha, beta, kernels
        return loss

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        logits, target, plane_weights, peaks, count, dense_gradient = ctx.saved_tensors
        scale = grad_output / count
        if dense_gradient is not None:
            gradient = dense_gradient * scale  # a new tensor: a second backward through a retained graph is right too
        else:
            gradient = ctx.kernels.gradient(logits, target, ctx.alpha, ctx.beta, plane_weights, scale)
        _, peak_derivative = positive_terms(logits.flatten()[peaks], ctx.alpha)
        if plane_weights is not None:
            peak_derivative = peak_derivative * plane_weights.flatten()[peaks // logits.shape[1]]
        # the dense gradient is exactly 0 at the peaks, so writing there adds the peak term
        gradient.view(-1)[peaks] = -peak_derivative * scale
        return gradient, None, None, None, None, None, None


EAGER_KERNELS = DenseKernels(compiled=False)


def penalty_reduced_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0,
                               class_weights: torch.Tensor | None = None, ignore: torch.Tensor | None = None,
                               kernels: DenseKernels = EAGER_KERNELS) -> torch.Tensor:
    """CornerNet's focal loss with Gaussian penalty reduction, on logits, with a closed-form backward.

    logits, target: (B, C, H, W), target peaks exactly 1; class_weights (C,) or None; ignore (B, C, H, W)
    bool or None, pixels that count neither as positives nor as negatives (peaks stay positive). Returns the
    0-d float32 loss, divided by max(number of peaks, 1). Computed in float32 also under autocast.
    `kernels`: chunked eager by default; pass `DenseKernels(compiled=True)` for the compiled form.
    """
    batch, channels = logits.shape[:2]
    plane_weights = None
    if class_weights is not None:
        plane_weights = class_weights.to(logits.device, torch.float32).repeat(batch).view(-1, 1)
    with torch.autocast(logits.device.type, enabled=False):
        planes = logits.float().reshape(batch * channels, -1)
        target = target.float()
        if ignore is not None:
            # the dense term's weight (1 - y)^beta is 0 where y = 1, so an ignored pixel is given y = 1 there;
            # the peaks are found before, so this adds no positive, and real peaks keep y = 1 anyway
            peaks = peak_positions(target)
            target = target.masked_fill(ignore, 1.0)
        else:
            peaks = None
        return PenaltyReducedFocalFunction.apply(planes, target.reshape(batch * channels, -1), alpha, beta,
                                                 plane_weights, kernels, peaks)
