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
                           "data": {...}, "train": {...}}  (see objective.RUN_CONFIG_KEYS)
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
checkpoint's weights, for finetune, compare and sampling.
"""

from __future__ import annotations


def load_run(run_dir: str, checkpoint: str | None = None, device: str = "cpu"):
    """(model, tokenizer, run_config) from a run folder (newest checkpoint unless `checkpoint`); imports torch."""
    from nlpt.engine.run import load_run as _load_run

    return _load_run(run_dir, checkpoint=checkpoint, device=device)
