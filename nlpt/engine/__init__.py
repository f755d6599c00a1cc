"""The Transformer training engine shared by `nlpt pretrain` (every family) and `nlpt finetune`.

The loop (`loop.py`) knows nothing family-specific: an *objective*
(`nlpt.engine.objective.Objective`) turns token data into batches and a model
plus a batch into a loss; models come from `nlpt.models.build(config)`.
Nothing here is imported by `nlpt params` or `--help`.

Run folder (RUN_DIR, written by rank 0 only; every file is written to a
temporary name and renamed into place):

    RUN_DIR/
      config.json          resolved run configuration: {"format": "nlpt-run/1", "model": {"family": ..., <registry
                           dataclass fields>}, "objective": "causal_lm", "tokenizer": "tokenizer.json",
                           "data": {...}, "train": {...}}  (see common.runfolder.RUN_CONFIG_KEYS)
      tokenizer.json       the Hugging Face `tokenizers` file the run was trained with (a copy)
      cpu-matmul.json      on CPU: whose BLAS the latest session multiplied with and why (nlpt.models.cpu_matmul)
      metrics.jsonl        one JSON object per line: {"step", "tokens", "elapsed_s", "split": "train"|"val",
                           "loss", "lr", ...objective metrics}; val lines add "ppl"
      tokens/              token files (see objective.TokenSplit), unless --token-dir puts them elsewhere
      checkpoints/step-N/  model.safetensors (weights) + state.pt (optimizer, scheduler, RNG, data position,
                           step, tokens; loaded with torch.load(weights_only=True)); under FSDP instead one
                           model-/optim-RRRRR-of-WWWWW.safetensors per rank + index.json (see checkpoint.py)
      checkpoints/latest   text file naming the newest complete step-N folder

`load_run(RUN_DIR)` returns `(model, tokenizer, run_config)` with the newest
checkpoint's weights, for sampling; `load_pretrained(PATH)` reads a run folder or a
Hugging Face folder alike, for finetune, compare and `pretrain eval`.
"""

from __future__ import annotations


def load_run(run_dir: str, checkpoint: str | None = None, device: str = "cpu"):
    """(model, tokenizer, run_config) from a run folder (newest checkpoint unless `checkpoint`); imports torch."""
    from nlpt.engine.run import load_run as _load_run

    return _load_run(run_dir, checkpoint=checkpoint, device=device)


def load_pretrained(path: str, need_head: bool = False):
    """(nlpt model, `tokenizers.Tokenizer`, source) from an `nlpt pretrain` run folder (newest checkpoint) or a
    Hugging Face folder (`nlpt.models.hf.load_hf`); source: {"kind": "run", "path", "objective"} or
    {"kind": "hf", "path"}. A folder of neither kind is a one-line NlptError before torch loads; so is, with
    `need_head` (scoring text), a Hugging Face model saved without its pretraining head (BertModel,
    T5EncoderModel...), whose head would be left at random."""
    import os

    from nlpt.common.errors import NlptError
    from nlpt.models.sources import source_kind

    if source_kind(path) == "run":
        model, tokenizer, run_config = load_run(path)
        return model, tokenizer, {"kind": "run", "path": os.path.abspath(path), "objective": run_config.get("objective")}
    from nlpt.models.hf import load_hf

    model, tokenizer, source = load_hf(path)
    fresh = source.pop("fresh")
    if need_head and fresh:
        more = f" and {len(fresh) - 1} more" if len(fresh) > 1 else ""
        raise NlptError(f"{path}: no weights for the language-model head ({fresh[0]}{more}); a model saved "
                        f"without its pretraining head cannot be scored")
    return model, tokenizer, source
