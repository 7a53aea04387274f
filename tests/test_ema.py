"""The exponential moving average of the weights: the update rule, and what training saves and inference uses."""

import math

import pytest
import torch

from centernet.engine.ema import ModelEMA, ema_decay
from centernet.predictor import Predictor


def test_the_decay_ramps_up_to_its_target():
    assert ema_decay(1, 0.9998, 2000) == pytest.approx(0.9998 * (1 - math.exp(-1 / 2000)))
    assert ema_decay(10**6, 0.9998, 2000) == pytest.approx(0.9998)


def test_each_update_moves_the_average_by_one_minus_the_ramped_decay():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(2.0)
    ema = ModelEMA(model, decay=0.5, ramp=1.0)  # starts as a copy: 2
    assert ema.module.weight.item() == 2.0 and not ema.module.weight.requires_grad
    with torch.no_grad():
        model.weight.fill_(4.0)
    ema.update(model)
    first = 0.5 * (1 - math.exp(-1))  # update 1 keeps this much of the average
    assert ema.module.weight.item() == pytest.approx(first * 2.0 + (1 - first) * 4.0)
    ema.update(model)
    second = 0.5 * (1 - math.exp(-2))
    assert ema.module.weight.item() == pytest.approx(second * (first * 2.0 + (1 - first) * 4.0) + (1 - second) * 4.0)
    assert ema.updates == 2 and model.weight.item() == 4.0  # the model itself is untouched


def test_batchnorm_statistics_are_averaged_and_its_batch_count_copied():
    model = torch.nn.BatchNorm1d(1)
    ema = ModelEMA(model, decay=0.9, ramp=1e-9)  # the full decay from the first update on
    model.running_mean.fill_(10.0)
    model.num_batches_tracked.fill_(7)
    ema.update(model)
    assert ema.module.running_mean.item() == pytest.approx(0.9 * 0 + 0.1 * 10.0)
    assert ema.module.num_batches_tracked.item() == 7


def test_training_with_ema_saves_both_weights_and_inference_reads_the_averaged_ones(ema_run):
    last = torch.load(ema_run / "last.pt", weights_only=True)
    best = torch.load(ema_run / "best.pt", weights_only=True)
    assert last["ema_updates"] == last["step"] > 0
    name = "heads.heatmap.3.weight"  # the output layer after conv, BatchNorm, ReLU
    assert not torch.equal(last["model"][name], last["ema_model"][name])
    assert torch.equal(best["model"][name], last["ema_model"][name])  # the last epoch was the best here
    predictor = Predictor.from_file(ema_run / "last.pt", device="cpu")
    assert torch.equal(predictor.model.state_dict()[name], last["ema_model"][name])
