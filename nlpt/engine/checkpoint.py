"""Checkpoints: `checkpoints/step-N/` with the weights as safetensors and the rest for `torch.load(weights_only=True)`.

A checkpoint is written into a hidden temporary folder and renamed into place,
then `checkpoints/latest` names it: a run killed while saving leaves the
previous checkpoint intact. `state.pt` holds the optimizer state (keyed by
parameter name, so it loads whatever wraps the model), the step, tokens seen,
elapsed time, the torch and data-generator RNG states, and the model config it
belongs to. Under FSDP the full state is gathered to rank 0 and written as one
file set (meant to resume on any number of ranks; not tested across rank counts yet).
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Optional

import torch

from nlpt.common.errors import NlptError
from nlpt.engine.objective import CHECKPOINTS_DIR, STATE_FILE, WEIGHTS_FILE

STATE_FORMAT = "nlpt-checkpoint/1"
_STEP = re.compile(r"^step-(\d+)$")


def _options(sharded: bool, **kw):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=sharded, cpu_offload=sharded, **kw)


def tied_names(model: torch.nn.Module) -> set:
    """Names of parameters that repeat an earlier one (a tied LM head)."""
    seen, tied = set(), set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            tied.add(name)
        seen.add(id(p))
    return tied


def model_state(model, sharded: bool) -> dict:
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    sd = get_model_state_dict(model, options=_options(sharded))
    tied = tied_names(model)
    return {k: v.detach().cpu().contiguous() for k, v in sd.items() if k not in tied}


def optimizer_state(model, optimizer, sharded: bool) -> dict:
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_options(sharded))


def list_checkpoints(run_dir: str) -> list[tuple[int, str]]:
    root = os.path.join(run_dir, CHECKPOINTS_DIR)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        m = _STEP.match(name)
        if m and os.path.isfile(os.path.join(root, name, STATE_FILE)) and os.path.isfile(os.path.join(root, name, WEIGHTS_FILE)):
            found.append((int(m.group(1)), os.path.join(root, name)))
    return sorted(found)


def latest(run_dir: str) -> Optional[str]:
    """The newest complete checkpoint folder of a run, or None."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def save(run_dir: str, step: int, weights: dict, state: dict, keep_last: int) -> str:
    """Write step-N atomically (rank 0 only); drop all but the `keep_last` newest."""
    from safetensors.torch import save_file

    from nlpt.common.output import atomic_directory, atomic_output

    root = os.path.join(run_dir, CHECKPOINTS_DIR)
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"step-{step}")
    with atomic_directory(final) as tmp:
        save_file(weights, os.path.join(tmp, WEIGHTS_FILE), metadata={"format": "pt", "step": str(step)})
        torch.save({"format": STATE_FORMAT, **state}, os.path.join(tmp, STATE_FILE))
    with atomic_output(os.path.join(root, "latest")) as fh:
        fh.write(f"step-{step}\n")
    if keep_last > 0:
        for _, old in list_checkpoints(run_dir)[:-keep_last]:
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    return final


def resolve(path: str) -> str:
    """A checkpoint folder from a step-N folder or a run folder (its newest checkpoint)."""
    if os.path.isfile(os.path.join(path, STATE_FILE)):
        return path
    found = latest(path)
    if found is None:
        raise NlptError(f"{path}: no checkpoint found (expected {STATE_FILE} and {WEIGHTS_FILE}, or a run folder with "
                        f"{CHECKPOINTS_DIR}/step-N)")
    return found


def read_state(ckpt: str) -> dict:
    path = os.path.join(ckpt, STATE_FILE)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come as many types
        raise NlptError(f"{path}: not a loadable checkpoint state ({str(exc).splitlines()[0][:200]})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise NlptError(f"{path}: not an nlpt checkpoint state")
    return state


def read_weights(ckpt: str) -> dict:
    from safetensors.torch import load_file

    path = os.path.join(ckpt, WEIGHTS_FILE)
    try:
        return load_file(path)
    except Exception as exc:  # noqa: BLE001
        raise NlptError(f"{path}: not a loadable safetensors file ({str(exc).splitlines()[0][:200]})") from None


def check_same_model(saved: dict, current: dict, where: str) -> None:
    """NlptError naming the differing fields when a checkpoint belongs to another architecture."""
    keys = sorted(set(saved) | set(current))
    differ = [k for k in keys if saved.get(k) != current.get(k)]
    # builder settings that do not change the weights' shapes may differ (dropout for a finetune, say)
    differ = [k for k in differ if k not in ("dropout", "router_jitter", "router_aux_loss_coef")]
    if differ:
        shown = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {current.get(k)!r}" for k in differ[:4])
        raise NlptError(f"{where}: checkpoint is from another architecture ({shown})")


def load_weights(model, weights: dict, where: str, sharded: bool = False) -> None:
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    tied = tied_names(model)
    expected = {k for k, _ in model.named_parameters(remove_duplicate=False)} | {k for k, _ in model.named_buffers()}
    missing = sorted(expected - set(weights) - tied)
    unexpected = sorted(set(weights) - expected)
    if missing or unexpected:
        raise NlptError(f"{where}: weights do not fit this model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    try:
        set_model_state_dict(model, weights, options=_options(sharded, strict=False))
    except (RuntimeError, ValueError) as exc:
        raise NlptError(f"{where}: weights do not fit this model ({str(exc).splitlines()[0][:200]})") from None


def load_optimizer(model, optimizer, state: dict, sharded: bool = False) -> None:
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state["optimizer"], options=_options(sharded))
