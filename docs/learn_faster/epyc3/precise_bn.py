"""Screen (issue 26): the AP of a run's last.pt with the EMA's and the raw weights, each as saved and after
recomputing every BatchNorm's statistics for those weights (PreciseBN: a cumulative average over BATCHES training
batches, the run's own pipeline and augmentation, bf16 autocast + channels_last as in training).

    python docs/learn_faster/epyc3/precise_bn.py RUN/last.pt BATCHES

Prints (AP, AP50, AP75) per line. Not in the package: it moved the AP by 0.001-0.005 (docs/results.md).
"""

import dataclasses
import sys

import torch
from torch import nn

from centernet.checkpoint import checkpoint_config, load_checkpoint
from centernet.device import autocast
from centernet.engine.evaluate import evaluate
from centernet.engine.train import load_datasets, make_loader, network_inputs
from centernet.predictor import Predictor
from centernet.tasks import build_model

path, batches = sys.argv[1], int(sys.argv[2])
state = load_checkpoint(path)
config = checkpoint_config(state, path)
train_set, val_set = load_datasets(config)  # as the run's trainer opened them
device = torch.device("cpu")


def model_from(weights: dict) -> nn.Module:
    model = build_model(dataclasses.replace(config.model, backbone_weights=None), config.data)
    model.load_state_dict(weights)
    return model.to(memory_format=torch.channels_last)


def ap(model: nn.Module) -> tuple[float, float, float]:
    predictor = Predictor(model, config, val_set.class_names, device, amp="auto", channels_last=True,
                          category_ids=val_set.category_ids)
    metrics = evaluate(predictor, val_set, batch_size=16, workers=0, progress=False).metrics
    return round(metrics["AP"], 4), round(metrics["AP50"], 4), round(metrics["AP75"], 4)


@torch.no_grad()
def precise_bn(model: nn.Module, count: int) -> nn.Module:
    norms = [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average
    model.train()
    for index, batch in enumerate(make_loader(train_set, config, epoch=0, world_size=1, rank=0)):
        if index >= count:
            break
        with autocast(device, torch.bfloat16):
            model(network_inputs(batch, config).contiguous(memory_format=torch.channels_last))
    return model.eval()  # only evaluated from here on: the momentum stays None


for name, key in (("EMA", "ema_model"), ("raw", "model")):
    print(f"{name} weights as saved", ap(model_from(state[key]).eval()), flush=True)
    print(f"{name} weights, precise BN ({batches} batches)", ap(precise_bn(model_from(state[key]), batches)),
          flush=True)
