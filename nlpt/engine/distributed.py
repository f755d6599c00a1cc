"""Ranks, devices and collectives: torch.distributed under torchrun or Slurm, or a single process.

Rank, world size and master address come from torchrun's environment
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) or, under `srun`, from Slurm's
(SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the first host of
SLURM_JOB_NODELIST). NCCL on GPUs, gloo on CPUs. No communication code of our
own: DDP/FSDP and `all_reduce` do the work.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch

from nlpt.common.errors import NlptError, UsageError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def _first_slurm_host(nodelist: str) -> str:
    """'gpu[03-05,07],cpu1' -> 'gpu03' (enough for MASTER_ADDR; no scontrol needed)."""
    m = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist)
    if not m:
        return nodelist
    prefix, ranges = m.group(1), m.group(2)
    if not ranges:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def _env() -> tuple[int, int, int]:
    if "WORLD_SIZE" in os.environ and "RANK" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0))
    if "SLURM_PROCID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        rank, world = int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_NTASKS"])
        os.environ.setdefault("MASTER_ADDR", _first_slurm_host(os.environ.get("SLURM_JOB_NODELIST", "127.0.0.1")))
        os.environ.setdefault("MASTER_PORT", str(29500 + int(os.environ.get("SLURM_JOB_ID", "0")) % 1000))
        return rank, world, int(os.environ.get("SLURM_LOCALID", 0))
    return 0, 1, 0


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available to this torch")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if preference == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise UsageError("--device mps: MPS is not available to this torch")
        return torch.device("mps")
    if preference == "cpu":
        return torch.device("cpu")
    raise UsageError(f"--device must be auto, cpu, cuda or mps (got {preference!r})")


def setup(device_preference: str) -> Dist:
    """Join the process group when launched with several ranks; pick this rank's device."""
    rank, world, local_rank = _env()
    device = pick_device(device_preference, local_rank)
    d = Dist(rank, world, local_rank, device)
    if world > 1:
        import torch.distributed as dist

        if device.type == "cuda":
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        try:
            dist.init_process_group(backend, rank=rank, world_size=world)
        except Exception as exc:  # noqa: BLE001 - rendezvous failures come as many types
            raise NlptError(f"cannot join the process group of {world} ranks ({backend}): {exc}") from None
        d.initialized = True
    return d


def all_reduce_sum(t: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.initialized:
        import torch.distributed as dist

        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_reduce_max(t: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.initialized:
        import torch.distributed as dist

        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t


def barrier(d: Dist) -> None:
    if d.initialized:
        import torch.distributed as dist

        dist.barrier()


def broadcast_object(obj, d: Dist):
    """Rank 0's `obj` on every rank (small picklable-free values: str, int, dict of them)."""
    if not d.initialized:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def teardown(d: Dist) -> None:
    if d.initialized:
        import torch.distributed as dist

        dist.destroy_process_group()
        d.initialized = False
