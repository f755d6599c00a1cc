"""One training process from set-up to teardown: what `nlpt pretrain` and `nlpt finetune` share.

`open_session(...)` sets the process up, in this order (each step needs the ones before it):

1. the ranks and this rank's device (`nlpt.engine.distributed`): the process group first, since every later
   step may talk to the other ranks; `--device cuda:N` names one GPU of a single process;
2. the precision: fp16 needs CUDA (its loss scaler);
3. the CPU threads: `--threads`, else the CPUs this process may use, shared by the ranks of its node;
4. on CPU, whose BLAS multiplies (`nlpt.models.cpu_matmul`): the choice depends on the thread count and
   holds for the session only.

The caller then builds its model and data, and the session does the steps that depend on the set-up:
`announce_backend` (once the input is known to be good, so errors stay one line), `shard` (FSDP2, before
weights are loaded, so each rank reads only its rows), `restore` (a checkpoint's weights, optimizer, RNG,
loss scaler, callbacks and loop position), `wrap` (DDP, torch.compile: last, around the restored model) and
`start_run_folder` (rank 0: config.json, accepted setting changes, the CPU backend's record, metrics.jsonl
cut back to the checkpoint). Stop signals are the loop's (`nlpt.engine.signals`).

Leaving the session, normally or not: CUDA running out of memory becomes the caller's one-line message, a peer
rank that died mid-collective becomes "rank N went away", the CPU backend is put back and the process group
is left.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import torch

from nlpt.common.errors import NlptError, UsageError
from nlpt.common.progress import log
from nlpt.common.runfolder import CONFIG_FILE, CPU_MATMUL_FILE, write_json
from nlpt.engine import distributed as dist_
from nlpt.engine.distributed import Dist
from nlpt.engine.optim import import_in_background


class Session:
    """This process's ranks, device, threads and CPU backend (made by `open_session`), and the steps of a run
    that depend on them."""

    def __init__(self, d: Dist, quiet: bool, strategy: str = "auto"):
        self.d = d
        self.quiet = quiet or not d.main  # one voice: rank 0's
        self.strategy = strategy if strategy != "auto" else "ddp"
        self.threads = 1
        self.matmul = None  # nlpt.models.cpu_matmul.Choice, on CPU
        self.sharded = False

    @property
    def device(self) -> torch.device:
        return self.d.device

    @property
    def main(self) -> bool:
        return self.d.main

    @property
    def world(self) -> int:
        return self.d.world

    def log(self, message: str) -> None:
        """An informational line, from rank 0 only."""
        log(message, self.quiet)

    def barrier(self) -> None:
        dist_.barrier(self.d)

    # set-up, in order ----------------------------------------------------------------------------------

    def _check_precision(self, precision: str) -> None:
        if precision == "fp16" and self.device.type != "cuda":
            raise UsageError("--precision fp16 needs a CUDA device (use bf16 or fp32)")

    def _set_threads(self, requested: Optional[int]) -> None:
        from nlpt.common.threads import resolve_threads

        threads = resolve_threads(requested)
        if requested is None and self.world > 1:  # ranks on one node share its CPUs
            threads = max(1, threads // max(1, self.d.local_world))
        torch.set_num_threads(threads)
        self.threads = threads

    def _choose_cpu_matmul(self, backend: Optional[str], shape: Optional[tuple]) -> None:
        if backend is not None and self.device.type == "cpu":
            from nlpt.models import cpu_matmul

            self.matmul = cpu_matmul.configure(backend, self.threads, shape)  # undone when the session ends

    # steps of a run --------------------------------------------------------------------------------------

    def announce_backend(self) -> None:
        """Log the CPU backend chosen (called once the model is built: bad input has failed by then)."""
        if self.matmul is not None:
            self.log(self.matmul.describe())

    def shard(self, model):
        """FSDP2 over the ranks (each block, then the whole) under --strategy fsdp; the model itself otherwise."""
        if self.world > 1 and self.strategy == "fsdp":
            from torch.distributed.fsdp import fully_shard

            for block in getattr(model, "blocks", []):
                fully_shard(block)
            fully_shard(model)
            self.sharded = True
        return model

    def restore(self, found, model, optimizer, generator: torch.Generator, scaler=None, callbacks: Sequence = ()):
        """The loop's starting `LoopState`: a fresh one, or (from `found`, a `nlpt.engine.resume.Found`) the
        checkpoint's weights, optimizer state, RNG states, loss scaler, callback states and position."""
        from nlpt.engine import checkpoint as ckpt
        from nlpt.engine.loop import LoopState

        if found is None:
            return LoopState()
        saved = found.reader.state
        ckpt.load_weights(model, found.reader)  # sharded: each rank reads the rows it holds, whatever wrote them
        ckpt.load_optimizer(model, optimizer, found.reader)
        torch.set_rng_state(saved["rng_torch"])
        generator.set_state(saved["rng_data"])
        if "rng_cuda" in saved and self.device.type == "cuda":
            torch.cuda.set_rng_state(saved["rng_cuda"], self.device)
        if scaler is not None and "scaler" in saved:
            scaler.load_state_dict(saved["scaler"])
        for callback, state in zip(callbacks, saved.get("callbacks") or []):
            callback.load_state_dict(state)
        return LoopState(step=int(saved["step"]), tokens=int(saved["tokens"]), elapsed_s=float(saved["elapsed_s"]),
                         train_sums=dict(saved.get("train_sums") or {}))

    def wrap(self, model, find_unused: bool = False, compile: bool = False):
        """DDP over the ranks (unless sharded), then torch.compile when asked: the model the loop steps."""
        if self.world > 1 and self.strategy == "ddp":
            from torch.nn.parallel import DistributedDataParallel

            model = DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                                            find_unused_parameters=find_unused)
        if compile:
            model = torch.compile(model)
        return model

    def start_run_folder(self, run_dir: str, config: dict, state, found=None, changes: Sequence = ()) -> None:
        """Rank 0: config.json, the accepted setting changes (changes.jsonl, and a line saying so), on CPU the
        matrix-product backend and why (cpu-matmul.json), and metrics.jsonl cut back to the resumed step (a
        new run starts it afresh)."""
        if not self.main:
            return
        from nlpt.engine import resume
        from nlpt.engine.loop import MetricsLog

        os.makedirs(run_dir, exist_ok=True)
        write_json(os.path.join(run_dir, CONFIG_FILE), config)
        if changes:
            where = resume.record_changes(run_dir, state.step, found.path if found else None, list(changes))
            self.log(resume.changes_note(list(changes), where))
        if self.matmul is not None:  # which products this run used and why, to explain its speed later
            write_json(os.path.join(run_dir, CPU_MATMUL_FILE), self.matmul.record())
        metrics = MetricsLog(run_dir)
        if found is not None:
            metrics.truncate_after(state.step)
        elif os.path.exists(metrics.path):
            os.unlink(metrics.path)


def open_session(device: str = "auto", precision: str = "fp32", threads: Optional[int] = None,
                 cpu_matmul: Optional[str] = "auto", matmul_shape: Optional[tuple] = None, strategy: str = "auto",
                 quiet: bool = False, out_of_memory: Optional[str] = None) -> "_Opened":
    """A `Session` set up for the length of a `with` block (see the module docstring).

    `cpu_matmul` None keeps torch's products (models without nlpt's layers); `matmul_shape` is what auto times
    (`cpu_matmul.probe_shape`). `out_of_memory` is the one-line error for CUDA running out of memory (None:
    torch's own)."""
    return _Opened(device, precision, threads, cpu_matmul, matmul_shape, strategy, quiet, out_of_memory)


class _Opened:
    """`open_session`'s context (a class, not a generator: an error leaving the block keeps no generator frame
    alive, so the run's model is released, as torch.distributed needs, before the process ends)."""

    def __init__(self, device, precision, threads, cpu_matmul, matmul_shape, strategy, quiet, out_of_memory):
        self.device, self.precision, self.threads = device, precision, threads
        self.cpu_matmul, self.matmul_shape, self.strategy, self.quiet = cpu_matmul, matmul_shape, strategy, quiet
        self.out_of_memory = out_of_memory
        self.session: Optional[Session] = None

    def __enter__(self) -> Session:
        session = self.session = Session(dist_.setup(self.device), self.quiet, self.strategy)
        try:
            session._check_precision(self.precision)
            session._set_threads(self.threads)
            session._choose_cpu_matmul(self.cpu_matmul, self.matmul_shape)
            import_in_background()  # the optimizer's first import, overlapping the caller's data and model
        except BaseException:
            self._close()
            raise
        return session

    def __exit__(self, kind, error, traceback) -> bool:
        try:
            if error is None:
                try:
                    self.session.barrier()  # leave together: a rank tearing down while a peer is mid-collective can abort gloo
                except RuntimeError as exc:
                    dist_.raise_if_peer_gone(exc, self.session.d)
                    raise
            elif isinstance(error, torch.cuda.OutOfMemoryError) and self.out_of_memory is not None:
                raise NlptError(self.out_of_memory) from None  # moving the model, the optimizer state or a step
            elif isinstance(error, RuntimeError):  # a peer rank that died mid-collective: one line, not the backend's
                dist_.raise_if_peer_gone(error, self.session.d)
        finally:
            self._close()
        return False

    def _close(self) -> None:
        """The CPU backend put back; the process group left."""
        if self.session.matmul is not None:
            self.session.matmul.restore()
        dist_.teardown(self.session.d)
