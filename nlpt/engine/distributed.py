"""Ranks, devices and collectives: torch.distributed under torchrun or Slurm, or a single process.

Rank, world size and master address come from torchrun's environment
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) or, under `srun`, from Slurm's
(SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the first host of the step's node
list, MASTER_PORT 29500 + job id % 1000 by default): `resolve_launch`. NCCL on
GPUs, gloo on CPUs. No communication code of our own: DDP/FSDP and
`all_reduce` do the work.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

import torch

from nlpt.common.errors import NlptError, UsageError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized: bool = False
    local_world: int = 1  # ranks on this node (they share its CPUs)

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass
class Launch:
    """Where this process stands in its job, from the launcher's environment (`resolve_launch`)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    master_addr: Optional[str] = None
    master_port: Optional[str] = None
    launcher: str = "none"  # torchrun | slurm | none


DEFAULT_MASTER_PORT = 29500


def expand_nodelist(nodelist: str) -> list:
    """Slurm's compressed host list -> host names: 'gpu[03-05,07],cpu1' -> gpu03 gpu04 gpu05 gpu07 cpu1.

    Zero padding is kept; several bracket groups in one name expand as their product, as Slurm does.
    """
    hosts = []
    for item in re.findall(r"(?:[^,\[]|\[[^\]]*\])+", nodelist.strip()):
        names = [""]
        for text, ranges in re.findall(r"([^\[]*)(?:\[([^\]]*)\])?", item):
            options = [text]
            if ranges:
                options = []
                for part in ranges.split(","):
                    lo, _, hi = part.partition("-")
                    if not lo.isdigit() or (hi and not hi.isdigit()):
                        raise NlptError(f"cannot read the Slurm node list {nodelist!r}")
                    options += [text + str(n).zfill(len(lo)) for n in range(int(lo), int(hi or lo) + 1)]
            names = [n + o for n in names for o in options]
        hosts += [n for n in names if n]
    return hosts


def _int(env, name: str, default: int = 0) -> int:
    value = env.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise NlptError(f"the launcher's environment variable {name}={value!r} is not a whole number") from None


def resolve_launch(env) -> Launch:
    """Rank, world size, local rank and master address from torchrun's variables, else from srun's.

    torchrun: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT (it sets them all).
    srun: SLURM_PROCID, SLURM_STEP_NUM_TASKS (else SLURM_NTASKS), SLURM_LOCALID, SLURM_STEP_TASKS_PER_NODE
    (else SLURM_NTASKS_PER_NODE); the master is the first host of SLURM_STEP_NODELIST (else
    SLURM_JOB_NODELIST, SLURM_NODELIST) unless MASTER_ADDR is set, and MASTER_PORT defaults to
    29500 + SLURM_JOB_ID % 1000 so that two jobs sharing a node do not collide.
    """
    if "RANK" in env and "WORLD_SIZE" in env:
        world = _int(env, "WORLD_SIZE", 1)
        return Launch(_int(env, "RANK"), world, _int(env, "LOCAL_RANK"), _int(env, "LOCAL_WORLD_SIZE", world),
                      env.get("MASTER_ADDR"), env.get("MASTER_PORT"), "torchrun")
    world = _int(env, "SLURM_STEP_NUM_TASKS") or _int(env, "SLURM_NTASKS", 1)
    if "SLURM_PROCID" in env and world > 1:
        per_node = env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_NTASKS_PER_NODE") or ""
        m = re.match(r"\d+", per_node)  # '8(x4)' -> 8
        nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
        addr = env.get("MASTER_ADDR") or (expand_nodelist(nodelist)[0] if nodelist else "127.0.0.1")
        port = env.get("MASTER_PORT") or str(DEFAULT_MASTER_PORT + _int(env, "SLURM_JOB_ID") % 1000)
        return Launch(_int(env, "SLURM_PROCID"), world, _int(env, "SLURM_LOCALID"),
                      int(m.group()) if m else world, addr, port, "slurm")
    return Launch()


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
    launch = resolve_launch(os.environ)
    rank, world, local_rank = launch.rank, launch.world, launch.local_rank
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
    raise NlptError(f"{who} went away ({reason}); rank {d.rank} stops too: rerun the job to continue from the "
                    f"newest checkpoint") from None


def teardown(d: Dist) -> None:
    if d.initialized:
        import torch.distributed as dist

        dist.destroy_process_group()
        d.initialized = False
