"""One rank of the `replicas_in_sync` check in tests/test_train.py, started by torch.multiprocessing.spawn.

Each rank builds the same small model (a convolution and a BatchNorm, seeded alike) and asks
`replicas_in_sync` about it in each state of `CASES`; rank 1 alone makes the change. Each rank writes its
answers to `<results>/rank<R>.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from centernet.engine.distributed import replicas_in_sync


def seeded_model() -> nn.Module:
    """The same model on every rank: a 1x1 convolution (3, 2, 1, 1) and a BatchNorm with a non-zero running_mean."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))
    with torch.no_grad():
        model[1].running_mean.copy_(torch.tensor([0.1, 0.2, 0.3]))
    return model


def unchanged(model: nn.Module) -> None:
    pass


@torch.no_grad()
def change_a_buffer_element(model: nn.Module) -> None:
    model[1].running_mean[1] += 1.0


@torch.no_grad()
def swap_two_weight_elements(model: nn.Module) -> None:
    weight = model[0].weight.view(-1)
    assert weight[0] != weight[1]  # a real change
    weight[[0, 1]] = weight[[1, 0]].clone()  # the tensor's sum (and every other statistic of it) is unchanged


# name -> the change rank 1 makes. (A DistributedDataParallel model, whose buffers are exempt, is left to the
# two-process training test: DDP objects alive in these short-lived ranks made them abort at exit now and then.)
CASES = {
    "identical": unchanged,
    "buffer_element_differs": change_a_buffer_element,
    "weight_elements_swapped": swap_two_weight_elements,
}


def check_replicas(rank: int, world_size: int, init_file: str, results: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        answers = {}
        for case, change in CASES.items():
            model = seeded_model()
            if rank == 1:
                change(model)
            answers[case] = replicas_in_sync(model)
        Path(results, f"rank{rank}.json").write_text(json.dumps(answers))
    finally:
        dist.destroy_process_group()
