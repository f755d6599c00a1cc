"""Where this process stands in its job (rank, world size, local rank, master address), from the launcher's
environment: torchrun's variables, else Slurm's. Pure Python: `nlpt pretrain --dry-run` reads the world size
without importing torch; `nlpt.engine.distributed` joins the process group it describes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from nlpt.common.errors import NlptError


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
