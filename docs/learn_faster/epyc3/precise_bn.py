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
from centernet.data.coco import CocoDataset
from centernet.device import autocast
from centernet.engine.evaluate import evaluate
from centernet.engine.train import network_inputs
from centernet.predictor import Predictor
from centernet.tasks import build_model

path, batches = sys.argv[1], int(sys.argv[2])
state = load_checkpoint(path)
config = checkpoint_config(state, path)
data = config.data
train_set = CocoDataset(data.train_ann, data.train_images, data.input_size, train=True, augment=data.augment,
                        max_objects=data.max_objects, seed=config.train.seed)
val_set = CocoDataset(data.val_ann, data.val_images, data.input_size, train=False, max_objects=data.max_objects)
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
    train_set.set_epoch(0)
    loader = torch.utils.data.DataLoader(train_set, batch_size=config.train.batch_size, shuffle=True,
                                         collate_fn=train_set.collate_fn(), drop_last=True,
                                         generator=torch.Generator().manual_seed(0))
    for index, batch in enumerate(loader):
        if index >= count:
            break
        with autocast(device, torch.bfloat16):
            model(network_inputs(batch, config).contiguous(memory_format=torch.channels_last))
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


for name, key in (("EMA", "ema_model"), ("raw", "model")):
    print(f"{name} weights as saved", ap(model_from(state[key]).eval()), flush=True)
    print(f"{name} weights, precise BN ({batches} batches)", ap(precise_bn(model_from(state[key]), batches)),
          flush=True)
