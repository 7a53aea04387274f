"""torch.distributed set-up for torchrun launches (one process per GPU, or gloo on CPU)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_distributed(device_name: str) -> tuple[int, int, int]:
    """Join the process group when launched by torchrun; returns (rank, local_rank, world_size).

    NCCL for CUDA devices, gloo otherwise. A plain `python`/`centernet` launch is a world of one.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 0, 1
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return rank, local_rank, world_size


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_ranks_agree(flag: bool, device: torch.device) -> bool:
    """True only if `flag` is True on every rank (so all ranks take the same branch and never hang)."""
    if not is_distributed():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() == 1.0)


def replicas_in_sync(model: torch.nn.Module) -> bool:
    """Whether every rank holds bit-identical parameters (compares per-tensor sums gathered from all ranks)."""
    if not is_distributed():
        return True
    sums = torch.stack([p.detach().double().sum() for p in model.parameters()])
    gathered = [torch.empty_like(sums) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, sums)
    return all(torch.equal(gathered[0], other) for other in gathered[1:])


def cleanup_distributed() -> None:
    if is_distributed():
        dist.destroy_process_group()
