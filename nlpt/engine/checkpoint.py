"""Checkpoints: `checkpoints/step-N/`, weights as safetensors, the rest for `torch.load(weights_only=True)`.

Two layouts, one reader:

* whole (one process, DDP): rank 0 writes `model.safetensors` (every weight) and
  `state.pt` (optimizer state keyed by parameter name, so it loads whatever
  wraps the model; step, tokens, elapsed time, the torch and data-generator RNG
  states, the model config).
* sharded (FSDP2 on several ranks): every rank writes only the rows it holds,
  `model-RRRRR-of-WWWWW.safetensors` and `optim-RRRRR-of-WWWWW.safetensors`
  (AdamW's moments); `index.json` names each tensor's global shape and dtype
  and which rows of dim 0 each file holds; `state.pt` (rank 0) keeps the small
  rest (optimizer steps and groups, RNG, step...). Nothing is unpickled: the
  index is JSON, tensors are safetensors, `state.pt` is read with weights_only.

Either is written into a hidden temporary folder (for the sharded layout one
that all ranks write into: multi-node runs need a shared file system), renamed
into place by rank 0 after every rank has finished, then `checkpoints/latest`
names it; a run killed while saving leaves the previous checkpoint intact and
the half-written folder is never taken for a checkpoint.

Reading (`Reader`) serves row ranges of any tensor from either layout, opening
safetensors files with `safe_open(...).get_slice`, so an FSDP rank reads only the
rows it holds and a checkpoint resumes on any number of ranks (2 -> 1, 1 -> 2,
FSDP -> one process, and `load_run` for export, sample and finetune).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from typing import Optional

import torch

from nlpt.common.errors import NlptError, exception_reason
from nlpt.common.output import os_reason
from nlpt.common.runfolder import CHECKPOINTS_DIR, WEIGHTS_FILE
from nlpt.common.runfolder import STATE_FILE

STATE_FORMAT = "nlpt-checkpoint/1"
INDEX_FILE = "index.json"
INDEX_FORMAT = "nlpt-sharded-checkpoint/1"
_STEP = re.compile(r"^step-(\d+)$")


def tied_names(model: torch.nn.Module) -> set:
    """Names of parameters that repeat an earlier one (a tied LM head)."""
    seen, tied = set(), set()
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            tied.add(name)
        seen.add(id(p))
    return tied


def _is_dtensor(t) -> bool:
    tensor_module = sys.modules.get("torch.distributed.tensor")  # never imported: no DTensor exists
    return tensor_module is not None and isinstance(t, tensor_module.DTensor)


def _row_range(t) -> tuple[torch.Tensor, int, int]:
    """(the local tensor, first row, end row) of `t` along dim 0: all rows unless it is an FSDP2 shard
    (see `_is_shard`).

    FSDP2 shards dim 0 as `torch.chunk` does over the mesh; the rank's offset follows from that.
    """
    if not _is_dtensor(t):
        return t, 0, (t.shape[0] if t.dim() else 0)
    from torch.distributed.tensor import Replicate, Shard

    local = t.to_local()
    placements = tuple(t.placements)
    if all(isinstance(p, Replicate) for p in placements):
        return local, 0, (t.shape[0] if t.dim() else 0)
    if len(placements) != 1 or not isinstance(placements[0], Shard) or placements[0].dim != 0:
        raise NlptError(f"cannot checkpoint a tensor sharded as {placements} (only dim-0 FSDP shards)")
    mesh = t.device_mesh
    rank, world = mesh.get_local_rank(), mesh.size()
    sizes = [c.shape[0] for c in torch.empty(t.shape[0], device="meta").chunk(world)]
    sizes += [0] * (world - len(sizes))
    start = sum(sizes[:rank])
    if sizes[rank] != local.shape[0]:
        raise NlptError(f"unexpected FSDP shard: {local.shape[0]} rows on rank {rank}, expected {sizes[rank]}")
    return local, start, start + sizes[rank]


def _is_shard(t) -> bool:
    """A DTensor split over ranks (each rank saves its rows), not one that every rank holds whole (rank 0 saves it)."""
    if not _is_dtensor(t):
        return False
    from torch.distributed.tensor import Replicate

    return not all(isinstance(p, Replicate) for p in t.placements)


def _reshard(model) -> None:
    """Put FSDP2 modules back in their sharded state: the root keeps its parameters gathered after a forward."""
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # a torch without FSDP2: nothing to reshard
        return
    for m in model.modules():
        if isinstance(m, FSDPModule):
            m.reshard()


def _model_tensors(model) -> dict:
    """Name -> parameter or persistent buffer (tied repeats left out): what a checkpoint holds of a model."""
    _reshard(model)
    keys = set(model.state_dict().keys()) - tied_names(model)
    found = dict(model.named_parameters(remove_duplicate=False))
    found.update(model.named_buffers())
    return {k: found[k] for k in sorted(keys) if k in found}


def _optimizer_parts(model, optimizer) -> tuple[dict, dict, list]:
    """(row tensors {"name/key": t}, small per-parameter values {name: {key: v}}, groups with parameter names)."""
    _reshard(model)
    names = {id(p): n for n, p in model.named_parameters()}
    tensors, small, groups = {}, {}, []
    for group in optimizer.param_groups:
        groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": [names[id(p)] for p in group["params"]]})
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.dim() > 0:
                    tensors[f"{names[id(p)]}/{key}"] = value
                else:
                    small.setdefault(names[id(p)], {})[key] = value.detach().cpu().clone() if torch.is_tensor(value) else value
    return tensors, small, groups


def _own_copy(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", copy=True).contiguous()


# ---------------------------------------------------------------------------------------------
# writing


def list_checkpoints(run_dir: str) -> list[tuple[int, str]]:
    """Complete step-N folders of a run, oldest first (a temporary or half-copied folder is never listed)."""
    root = os.path.join(run_dir, CHECKPOINTS_DIR)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        m = _STEP.match(name)
        folder = os.path.join(root, name)
        if m and os.path.isfile(os.path.join(folder, STATE_FILE)) and (
                os.path.isfile(os.path.join(folder, WEIGHTS_FILE)) or os.path.isfile(os.path.join(folder, INDEX_FILE))):
            found.append((int(m.group(1)), folder))
    return sorted(found)


def intact_note(run_dir: str) -> Optional[str]:
    """What a stop signal outside the training loop leaves of a run, for its one line (`stop_note`): the newest
    complete checkpoint, which a rerun continues from; None when there is none. Read from the folder when the
    signal comes: checkpoints are renamed into place whole."""
    kept = list_checkpoints(run_dir)
    if not kept:
        return None
    step, path = kept[-1]
    return f"checkpoint {path} (step {step}) intact; rerun the same command to continue"


def latest(run_dir: str) -> Optional[str]:
    """The newest complete checkpoint folder of a run, or None."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def _publish(run_dir: str, step: int, final: str, keep_last: int) -> None:
    from nlpt.common.output import atomic_output

    root = os.path.join(run_dir, CHECKPOINTS_DIR)
    with atomic_output(os.path.join(root, "latest")) as fh:
        fh.write(f"step-{step}\n")
    if keep_last > 0:
        for _, old in list_checkpoints(run_dir)[:-keep_last]:
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    for name in os.listdir(root):  # folders of saves killed half-way (never listed as checkpoints)
        if name.startswith(".step-") and name.endswith((".partial", ".tmp")):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def save(run_dir: str, step: int, weights: dict, state: dict, keep_last: int) -> str:
    """Write a whole step-N atomically (one process); drop all but the `keep_last` newest."""
    from safetensors.torch import save_file

    from nlpt.common.output import atomic_directory

    root = os.path.join(run_dir, CHECKPOINTS_DIR)
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"step-{step}")
    with atomic_directory(final) as tmp:
        save_file(weights, os.path.join(tmp, WEIGHTS_FILE), metadata={"format": "pt", "step": str(step)})
        torch.save({"format": STATE_FORMAT, **state}, os.path.join(tmp, STATE_FILE))
    _publish(run_dir, step, final, keep_last)
    return final


def save_checkpoint(run_dir: Optional[str], model, optimizer, state: dict, keep_last: int, d, sharded: bool) -> Optional[str]:
    """Checkpoint `model` (unwrapped) and `optimizer` at `state["step"]`; call on every rank.

    `state` holds the small values (step, tokens, RNG, config...) as rank 0 sees them. Whole layout
    unless `sharded` (FSDP2 on several ranks). Returns the checkpoint folder (every rank), or None
    without a run folder.
    """
    if not run_dir:
        return None
    if sharded and d.world > 1:
        return _save_sharded(run_dir, model, optimizer, state, keep_last, d)
    if not d.main:
        return os.path.join(run_dir, CHECKPOINTS_DIR, f"step-{state['step']}")
    weights = {k: _own_copy(t) for k, t in _model_tensors(model).items()}
    tensors, small, groups = _optimizer_parts(model, optimizer)
    per_param: dict = {}
    for key, t in tensors.items():
        name, _, slot = key.rpartition("/")
        per_param.setdefault(name, {})[slot] = _own_copy(t)
    for name, values in small.items():
        per_param.setdefault(name, {}).update(values)
    return save(run_dir, state["step"], weights, {**state, "optimizer": {"state": per_param, "param_groups": groups}},
                keep_last)


def _shard_file(kind: str, rank: int, world: int) -> str:
    return f"{kind}-{rank:05d}-of-{world:05d}.safetensors"


def _save_sharded(run_dir: str, model, optimizer, state: dict, keep_last: int, d) -> str:
    from safetensors.torch import save_file

    from nlpt.engine.distributed import broadcast_object, gather_objects

    step = state["step"]
    root = os.path.join(run_dir, CHECKPOINTS_DIR)
    final = os.path.join(root, f"step-{step}")
    tmp = os.path.join(root, f".step-{step}.partial")  # never matches step-N: never taken for a checkpoint
    error = None
    if d.main:
        try:
            os.makedirs(root, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
        except OSError as exc:
            error = f"{tmp}: cannot create the checkpoint folder ({os_reason(exc)})"
    error = broadcast_object(error, d)
    if error:
        raise NlptError(error)

    entries: dict = {}
    error = None
    try:
        tensors, small, groups = _optimizer_parts(model, optimizer)
        for kind, named in (("model", _model_tensors(model)), ("optim", tensors)):
            fname = _shard_file(kind, d.rank, d.world)
            out = {}
            for name, t in named.items():
                local, start, end = _row_range(t)
                entry = {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch."), "shards": []}
                if (end > start) if _is_shard(t) else d.main:  # tensors every rank holds whole: rank 0 saves them
                    out[name] = _own_copy(local)
                    entry["shards"].append({"file": fname, "rows": [start, end] if t.dim() else None})
                entries[f"{kind}/{name}"] = entry
            save_file(out, os.path.join(tmp, fname), metadata={"format": "pt", "step": str(step), "rank": str(d.rank)})
    except Exception as exc:  # noqa: BLE001 - any failure must reach the other ranks, or they wait forever
        error = f"{tmp}: cannot write rank {d.rank}'s shard ({(str(exc).splitlines() or [type(exc).__name__])[0][:200]})"
    gathered = gather_objects((entries, error), d)
    errors = [e for _, e in gathered if e]
    final_or_error = None
    if d.main:
        try:
            if errors:
                raise NlptError(errors[0])
            index = {}
            for rank_entries, _ in gathered:
                for key, entry in rank_entries.items():
                    index.setdefault(key, {**entry, "shards": []})["shards"].extend(entry["shards"])
            for entry in index.values():
                entry["shards"].sort(key=lambda s: (s["rows"] or [0])[0])
            with open(os.path.join(tmp, INDEX_FILE), "w", encoding="utf-8") as fh:  # one tensor a line
                head = json.dumps({"format": INDEX_FORMAT, "world": d.world, "step": step})[:-1]
                body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(index[k])}" for k in sorted(index))
                fh.write(f'{head}, "tensors": {{\n{body}\n}}}}\n')
            torch.save({"format": STATE_FORMAT, **state, "optimizer": {"state": small, "param_groups": groups}},
                       os.path.join(tmp, STATE_FILE))
            from nlpt.common.output import default_modes

            default_modes(tmp)
            if os.path.isdir(final):
                shutil.rmtree(final)
            os.replace(tmp, final)
            _publish(run_dir, step, final, keep_last)
            final_or_error = ("ok", final)
        except Exception as exc:  # noqa: BLE001 - the other ranks wait for this answer
            shutil.rmtree(tmp, ignore_errors=True)
            final_or_error = ("error", str(exc) if isinstance(exc, NlptError)
                              else f"{final}: cannot write the checkpoint ({str(exc)[:200] or type(exc).__name__})")
    status, value = broadcast_object(final_or_error, d)
    if status == "error":
        raise NlptError(value)
    return value


# ---------------------------------------------------------------------------------------------
# reading


def resolve(path: str) -> str:
    """A checkpoint folder from a step-N folder or a run folder (its newest checkpoint)."""
    if os.path.isfile(os.path.join(path, STATE_FILE)):
        return path
    found = latest(path)
    if found is None:
        raise NlptError(f"{path}: no checkpoint found (expected {STATE_FILE} and {WEIGHTS_FILE} or {INDEX_FILE}, or a "
                        f"run folder with {CHECKPOINTS_DIR}/step-N)")
    return found


def read_state(ckpt: str) -> dict:
    path = os.path.join(ckpt, STATE_FILE)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come as many types
        reason = "not plain tensors and values" if "weights_only" in str(exc) else exception_reason(exc)
        raise NlptError(f"{path}: not a loadable checkpoint state ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise NlptError(f"{path}: not an nlpt checkpoint state")
    return state


class Reader:
    """Row ranges of a checkpoint's tensors ("model/NAME", "optim/NAME/SLOT"), whole or sharded layout alike.

    Safetensors files are opened lazily and sliced with `get_slice`, so a caller that asks for its
    own rows reads only those.
    """

    def __init__(self, ckpt: str):
        self.ckpt = ckpt
        self.state = read_state(ckpt)
        self._open: dict = {}
        self._memory: dict = {}  # whole-layout optimizer tensors (they live in state.pt)
        index_path = os.path.join(ckpt, INDEX_FILE)
        if os.path.isfile(index_path):
            self.sharded = True
            self.entries = self._read_index(index_path)
        else:
            self.sharded = False
            self.entries = {}
            handle = self._file(WEIGHTS_FILE)
            for name in handle.keys():
                shape = list(handle.get_slice(name).get_shape())
                rows = [0, shape[0]] if shape else None
                self.entries[f"model/{name}"] = {"shape": shape, "shards": [{"file": WEIGHTS_FILE, "key": name, "rows": rows}]}
            opt = self.state.get("optimizer") or {}
            for name, slots in (opt.get("state") or {}).items():
                for slot, value in slots.items():
                    if torch.is_tensor(value) and value.dim() > 0:
                        self._memory[f"optim/{name}/{slot}"] = value
                        self.entries[f"optim/{name}/{slot}"] = {"shape": list(value.shape), "shards": []}

    def _read_index(self, path: str) -> dict:
        try:
            with open(path, encoding="utf-8") as fh:
                index = json.load(fh)
            if index.get("format") != INDEX_FORMAT or not isinstance(index.get("tensors"), dict):
                raise ValueError(f"not an {INDEX_FORMAT} index")
            entries = {}
            for key, entry in index["tensors"].items():
                shape = [int(n) for n in entry["shape"]]
                shards = [{"file": str(s["file"]), "key": key.split("/", 1)[1],
                           "rows": [int(s["rows"][0]), int(s["rows"][1])] if s["rows"] is not None else None}
                          for s in entry["shards"]]
                if any(os.sep in s["file"] or s["file"].startswith(".") for s in shards):
                    raise ValueError(f"{key}: a shard file outside the checkpoint folder")
                entries[key] = {"shape": shape, "shards": shards}
            return entries
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise NlptError(f"{path}: not a readable checkpoint index ({exception_reason(exc)})") from None

    def _file(self, name: str):
        if name not in self._open:
            from safetensors import safe_open

            path = os.path.join(self.ckpt, name)
            try:
                self._open[name] = safe_open(path, framework="pt")
            except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
                raise NlptError(f"{path}: not a loadable safetensors file ({exception_reason(exc)})") from None
        return self._open[name]

    def names(self, kind: str) -> list:
        """Names under "model/" or "optim/" (without the prefix)."""
        prefix = kind + "/"
        return [k[len(prefix):] for k in self.entries if k.startswith(prefix)]

    def shape(self, key: str) -> tuple:
        return tuple(self.entries[key]["shape"])

    def rows(self, key: str, start: Optional[int] = None, end: Optional[int] = None) -> torch.Tensor:
        """Rows [start, end) of dim 0 (all of them by default; a 0-d tensor whole)."""
        if key in self._memory:
            t = self._memory[key]
            return t if start is None else t[start:end]
        entry = self.entries[key]
        shape = entry["shape"]
        if not shape:
            s = entry["shards"][0]
            return self._file(s["file"]).get_tensor(s["key"])
        start, end = (0, shape[0]) if start is None else (start, end)
        parts, at = [], start
        for s in entry["shards"]:
            a, b = s["rows"]
            lo, hi = max(a, at), min(b, end)
            if lo > at:
                break
            if hi > lo:
                try:
                    parts.append(self._file(s["file"]).get_slice(s["key"])[lo - a:hi - a])
                except NlptError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    raise NlptError(f"{os.path.join(self.ckpt, s['file'])}: cannot read {s['key']} "
                                    f"({exception_reason(exc)})") from None
                at = hi
        if at < end:
            raise NlptError(f"{self.ckpt}: the shards of {key} do not hold rows {at}..{end}")
        if not parts:
            return self._empty(key, shape)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _empty(self, key, shape):
        return torch.empty(0, *shape[1:])


def read_weights(ckpt: str) -> dict:
    """Every weight of a checkpoint as a whole tensor (either layout)."""
    reader = Reader(ckpt)
    return {name: reader.rows(f"model/{name}") for name in reader.names("model")}


def check_same_model(saved: dict, current: dict, where: str) -> None:
    """NlptError naming the differing fields when a checkpoint belongs to another architecture."""
    keys = sorted(set(saved) | set(current))
    differ = [k for k in keys if saved.get(k) != current.get(k)]
    # builder settings that do not change the weights' shapes may differ (dropout for a finetune, say)
    differ = [k for k in differ if k not in ("dropout", "router_jitter", "router_aux_loss_coef")]
    if differ:
        shown = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {current.get(k)!r}" for k in differ[:4])
        raise NlptError(f"{where}: checkpoint is from another architecture ({shown})")


def load_weights(model, source, where: Optional[str] = None) -> None:
    """Copy a checkpoint's weights into `model` (plain or FSDP2-sharded: each rank reads its own rows).

    `source` is a `Reader`, a checkpoint folder, or a dict of whole tensors.
    """
    if isinstance(source, str):
        source = Reader(source)
    if isinstance(source, dict):
        rows = lambda name, a, b: source[name][a:b] if source[name].dim() else source[name]  # noqa: E731
        shapes = {k: tuple(v.shape) for k, v in source.items()}
    else:
        rows = lambda name, a, b: source.rows(f"model/{name}", a, b)  # noqa: E731
        shapes = {k: source.shape(f"model/{k}") for k in source.names("model")}
        where = where or source.ckpt
    targets = _model_tensors(model)
    missing, unexpected = sorted(set(targets) - set(shapes)), sorted(set(shapes) - set(targets))
    wrong = [f"{k} {list(shapes[k])} vs {list(t.shape)}" for k, t in targets.items() if k in shapes and shapes[k] != tuple(t.shape)]
    if missing or unexpected or wrong:
        detail = f"shapes {wrong[:2]}" if wrong and not (missing or unexpected) else f"missing {missing[:3]}, unexpected {unexpected[:3]}"
        raise NlptError(f"{where}: weights do not fit this model ({detail})")
    with torch.no_grad():
        for name, t in targets.items():
            local, start, end = _row_range(t)
            local.copy_(rows(name, start, end))


def load_optimizer(model, optimizer, reader: "Reader") -> None:
    """Give `optimizer` the checkpoint's state, each parameter's rows as it holds them (sharded or whole)."""
    saved = reader.state.get("optimizer") or {}
    where = reader.ckpt
    params = dict(model.named_parameters())
    names = {id(p): n for n, p in params.items()}
    groups = [[names[id(p)] for p in g["params"]] for g in optimizer.param_groups]
    saved_groups = saved.get("param_groups") or []
    if [sorted(g) for g in groups] != [sorted(g.get("params", [])) for g in saved_groups]:
        raise NlptError(f"{where}: the optimizer state does not fit this model's parameter groups")
    order = {n: i for i, n in enumerate(n for g in groups for n in g)}
    slots: dict = {}
    for key in reader.names("optim"):
        name, _, slot = key.rpartition("/")
        slots.setdefault(name, []).append(slot)
    state = {}
    for name, i in order.items():
        p = params[name]
        entry = {k: v for k, v in (saved.get("state") or {}).get(name, {}).items()
                 if not (torch.is_tensor(v) and v.dim() > 0)}
        for slot in slots.get(name, []):
            key = f"optim/{name}/{slot}"
            if reader.shape(key) != tuple(p.shape):
                raise NlptError(f"{where}: optimizer state {name}/{slot} has shape {list(reader.shape(key))}, "
                                f"the parameter {list(p.shape)}")
            local, start, end = _row_range(p.detach())
            value = reader.rows(key, start, end).to(device=local.device, dtype=local.dtype)
            if _is_dtensor(p):
                from torch.distributed.tensor import DTensor

                value = DTensor.from_local(value, p.device_mesh, p.placements, run_check=False, shape=p.shape,
                                           stride=p.stride())
            entry[slot] = value
        if entry:
            state[i] = entry
    param_groups = [{**{k: v for k, v in sg.items() if k != "params"}, "params": [order[n] for n in g]}
                    for sg, g in zip(saved_groups, groups)]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": param_groups})
    except (RuntimeError, ValueError, KeyError) as exc:
        raise NlptError(f"{where}: the optimizer state does not fit ({exception_reason(exc)})") from None
