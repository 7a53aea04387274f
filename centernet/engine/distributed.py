"""torch.distributed set-up for torchrun launches (one process per GPU, or gloo on CPU)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


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
    """Whether every rank holds identical parameters and buffers (BatchNorm statistics included), element by
    element: rank 0's values are broadcast and compared with `torch.equal` on each rank, so a permutation or
    a change that keeps a tensor's sum is caught. The verdict is all-reduced, so every rank returns the same.

    A DistributedDataParallel model with `broadcast_buffers` (the default) is the exception for buffers: DDP
    copies rank 0's buffers to every rank at the start of each forward, and each rank then updates its
    BatchNorm statistics from its own batch, so after a step they differ by design and the next forward
    discards the other ranks' values; its parameters alone are compared.

    Values are flattened into one vector per dtype, on the model's own device (works with NCCL and gloo).
    Collective: every rank must call it. A world of one is in sync. NaN never equals NaN, so weights gone to
    NaN read as out of sync.
    """
    if not is_distributed():
        return True
    tensors = list(model.parameters())
    if not (isinstance(model, DistributedDataParallel) and model.broadcast_buffers):
        tensors += list(model.buffers())
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for tensor in tensors:
        by_dtype.setdefault(tensor.dtype, []).append(tensor.detach().reshape(-1))
    same = True
    for dtype in sorted(by_dtype, key=str):  # the same order on every rank
        local = torch.cat(by_dtype[dtype])
        reference = local.clone()
        dist.broadcast(reference, src=0)
        same = same and torch.equal(local, reference)
    device = tensors[0].device if tensors else torch.device("cpu")
    return all_ranks_agree(same, device)


def cleanup_distributed() -> None:
    if is_distributed():
        dist.destroy_process_group()
