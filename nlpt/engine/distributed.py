"""Ranks, devices and collectives: torch.distributed under torchrun or Slurm, or a single process.

Rank, world size and master address come from torchrun's environment
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) or, under `srun`, from Slurm's
(SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the first host of the step's node
list, MASTER_PORT 29500 + job id % 1000 by default): `nlpt.engine.launch`. NCCL on
GPUs, gloo on CPUs. No communication code of our own: DDP/FSDP and
`all_reduce` do the work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from nlpt.common.errors import NlptError, PeerGone, UsageError
from nlpt.engine.launch import resolve_launch


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized: bool = False
    local_world: int = 1  # ranks on this node (they share its CPUs)
    broken: bool = False  # a peer died mid-collective: the group cannot be left cleanly

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """auto: CUDA (this rank's GPU), then MPS, then CPU; `cuda:N` names one GPU (a single process only)."""
    if preference.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available to this torch")
        return torch.device(preference)
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
    launch = resolve_launch(os.environ)
    rank, world, local_rank = launch.rank, launch.world, launch.local_rank
    if world > 1 and device_preference.startswith("cuda:"):
        device_preference = "cuda"  # ranks: one GPU each, by local rank
    device = pick_device(device_preference, local_rank)
    d = Dist(rank, world, local_rank, device, local_world=launch.local_world)
    if world > 1:
        for name, value in (("MASTER_ADDR", launch.master_addr), ("MASTER_PORT", launch.master_port)):
            if value is not None:  # env:// rendezvous reads them
                os.environ[name] = value
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


def gather_objects(obj, d: Dist) -> list:
    """Every rank's `obj` (small values: shard row ranges, error strings), in rank order, on every rank."""
    if not d.initialized:
        return [obj]
    import torch.distributed as dist

    out = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


# what gloo and NCCL say when the rank at the other end of a collective is gone
_PEER_GONE = ("connection reset by peer", "connection closed by peer", "broken pipe", "connection refused",
              "communicator was aborted", "remote process exited", "socket closed")


def raise_if_peer_gone(exc: BaseException, d: Dist) -> None:
    """NlptError "rank N went away" in place of the backend's message when a collective failed because a peer
    rank died (killed, out of memory, its node lost); otherwise nothing (the caller re-raises `exc`)."""
    text = str(exc).lower()
    if d.world < 2 or not any(phrase in text for phrase in _PEER_GONE):
        return
    peers = [r for r in range(d.world) if r != d.rank]
    who = f"rank {peers[0]}" if len(peers) == 1 else f"a peer rank (one of {', '.join(map(str, peers))})"
    reason = next(phrase for phrase in _PEER_GONE if phrase in text)
    d.broken = True
    raise PeerGone(f"{who} went away ({reason}); rank {d.rank} stops too: rerun the job to continue from the "
                    f"newest checkpoint") from None


def teardown(d: Dist) -> None:
    """Leave the process group; a broken one (a peer died) is left as it is: destroying it can block or abort."""
    if d.initialized and not d.broken:
        import torch.distributed as dist

        dist.destroy_process_group()
        d.initialized = False
