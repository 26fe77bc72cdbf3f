"""Data-parallel training on PyTorch's own engine (``torch.distributed``).

``torchrun --nproc_per_node N -m pyg_graphcls train ...`` starts N processes;
:func:`init_from_env` reads the ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` that
torchrun sets, joins the process group (``gloo`` on CPU, ``nccl`` on CUDA)
and returns a :class:`DistContext` the :class:`~pyg_graphcls.train.Trainer`
uses:

- the model is wrapped in ``DistributedDataParallel`` (gradients averaged
  across ranks every step);
- ``--batch-size`` stays the **global** batch: every step, the batch a
  single process would draw (same seeded permutation) is split across the
  ranks (rank ``r`` takes items ``r, r+N, ...``), and each rank's loss is
  scaled by ``N * local / global`` so that DDP's average equals the mean
  over the whole batch. With no dropout, N processes therefore follow the
  single-process run up to float summation order;
- training metrics are summed across ranks; :meth:`Trainer.evaluate` splits
  the evaluated set across ranks and gathers the logits, so every rank gets
  the numbers of the whole set (identical on all ranks);
- only rank 0 writes checkpoints, history and the run files; the others
  wait at a barrier where they need them.
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Optional

import torch
import torch.distributed as dist

from ..errors import GraphclsError

__all__ = ["DistContext", "init_from_env", "in_torchrun", "GlobalBatchSampler"]


def in_torchrun() -> bool:
    """Whether this process was started by torchrun with more than one process."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ
    except ValueError:
        return False


class GlobalBatchSampler:
    """This rank's share of each global batch of a seeded permutation.

    Yields index lists (a ``batch_sampler``); :attr:`scales` holds, per step,
    the factor ``world * local / global`` for the loss (0 for a placeholder
    step where the global batch had fewer items than ranks: the rank then
    runs one item with zero weight so that all ranks stay in step).
    """

    def __init__(self, n: int, batch_size: int, rank: int, world_size: int, seed: int) -> None:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
        self.batches: list[list[int]] = []
        self.scales: list[float] = []
        self.counts: list[int] = []
        for s in range(0, n, batch_size):
            glob = perm[s:s + batch_size]
            mine = glob[rank::world_size]
            if mine:
                self.batches.append(mine)
                self.scales.append(world_size * len(mine) / len(glob))
                self.counts.append(len(mine))
            else:
                self.batches.append(glob[:1])
                self.scales.append(0.0)
                self.counts.append(0)

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class DistContext:
    """Rank, world size, device and the collective operations the Trainer needs."""

    def __init__(self, rank: int, world_size: int, local_rank: int = 0, device: Optional[torch.device] = None,
                 backend: Optional[str] = None) -> None:
        self.rank, self.world_size, self.local_rank = int(rank), int(world_size), int(local_rank)
        self.device = device or torch.device("cpu")
        self.backend = backend or (dist.get_backend() if dist.is_initialized() else "gloo")

    # -------------------------------------------------------------- model, data
    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        from torch.nn.parallel import DistributedDataParallel as DDP
        if self.device.type == "cuda":
            return DDP(model, device_ids=[self.device.index], output_device=self.device.index)
        return DDP(model)

    def batch_sampler(self, n: int, batch_size: int, seed: int) -> GlobalBatchSampler:
        return GlobalBatchSampler(n, batch_size, self.rank, self.world_size, seed)

    def sampler(self, dataset, seed: int):
        """A plain ``DistributedSampler`` (for code that wants one; the Trainer uses :meth:`batch_sampler`)."""
        from torch.utils.data.distributed import DistributedSampler
        return DistributedSampler(dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=seed)

    # -------------------------------------------------------------- collectives
    def _comm_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        t = tensor.detach().clone().to(self._comm_device())
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.to(tensor.device)

    def all_gather_object(self, obj: Any) -> list:
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: Any, src: int = 0) -> Any:
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return box[0]

    def barrier(self) -> None:
        if self.backend == "nccl":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def __repr__(self) -> str:
        return f"DistContext(rank={self.rank}, world_size={self.world_size}, device={self.device}, backend={self.backend})"


def init_from_env(device: str = "auto", timeout_s: float = 1800.0) -> Optional[DistContext]:
    """Join the torchrun process group; ``None`` when not started by torchrun (or N = 1)."""
    if not in_torchrun():
        return None
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    want_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if want_cuda:
        if not torch.cuda.is_available():
            raise GraphclsError(f"device {device!r} asked for but CUDA is not available here")
        if local >= torch.cuda.device_count():
            raise GraphclsError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA devices: use "
                                f"--nproc_per_node <= {torch.cuda.device_count()}")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
        backend = "nccl"
    elif device not in ("auto", "cpu"):
        raise GraphclsError(f"under torchrun use --device auto, cpu or cuda, got {device!r}")
    else:
        dev, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        kw = {"device_id": dev} if backend == "nccl" else {}
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s), **kw)
    return DistContext(rank, world, local, dev, backend)
