"""The exponential moving average of the weights: the update rule, and what training saves and inference uses."""

import math

import pytest
import torch

from centernet.engine.ema import build_ema, ema_decay
from centernet.predictor import Predictor


def test_the_decay_ramps_up_to_its_target():
    assert ema_decay(1, 0.9998, 2000) == pytest.approx(0.9998 * (1 - math.exp(-1 / 2000)))
    assert ema_decay(10**6, 0.9998, 2000) == pytest.approx(0.9998)


def test_the_first_update_copies_then_each_moves_by_one_minus_the_decay():
    model = torch.nn.Linear(1, 1, bias=False)
    ema = build_ema(model, decay=0.5, ramp=1.0)
    with torch.no_grad():
        model.weight.fill_(2.0)
        ema.update_parameters(model)
        assert ema.module.weight.item() == 2.0
        model.weight.fill_(4.0)
        ema.update_parameters(model)
    keep = 0.5 * (1 - math.exp(-2))  # the second update
    assert ema.module.weight.item() == pytest.approx(keep * 2.0 + (1 - keep) * 4.0)


def test_batchnorm_statistics_are_averaged_too():
    model = torch.nn.BatchNorm1d(1)
    ema = build_ema(model, decay=0.9, ramp=1e-9)  # the full decay from the first average on
    ema.update_parameters(model)
    model.running_mean.fill_(10.0)
    ema.update_parameters(model)
    assert ema.module.running_mean.item() == pytest.approx(0.9 * 0 + 0.1 * 10.0)


def test_training_with_ema_saves_both_weights_and_inference_reads_the_averaged_ones(ema_run):
    last = torch.load(ema_run / "last.pt", weights_only=True)
    best = torch.load(ema_run / "best.pt", weights_only=True)
    assert last["ema_updates"] == last["step"] > 0
    name = "heads.heatmap.2.weight"
    assert not torch.equal(last["model"][name], last["ema_model"][name])
    assert torch.equal(best["model"][name], last["ema_model"][name])  # the last epoch was the best here
    predictor = Predictor.from_file(ema_run / "last.pt", device="cpu")
    assert torch.equal(predictor.model.state_dict()[name], last["ema_model"][name])
