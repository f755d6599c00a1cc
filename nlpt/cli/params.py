"""`nlpt params`: exact parameter, FLOP and memory arithmetic for Transformer architectures.

Imports only typer at module level; the work is pure Python in `nlpt.transformer`
(no numpy, numba or torch), so the command answers in a blink.
"""

from __future__ import annotations

from typing import Optional

import typer

from nlpt.cli.options import choice_option, float_option, int_option
from nlpt.common import jsontext


# The choices live with the arithmetic; imported when a value is parsed, not when `--help` is built.
def _kv_dtypes() -> tuple:
    from nlpt.transformer.params import DTYPE_BYTES

    return tuple(DTYPE_BYTES)


def _precisions() -> tuple:
    from nlpt.transformer.memory import PRECISIONS

    return PRECISIONS


def _strategies() -> tuple:
    from nlpt.transformer.memory import STRATEGIES

    return STRATEGIES


COMMAND = {
    "help": (
        "Parameter, FLOP and memory arithmetic for Transformer architectures.\n\n"
        "MODEL is a registry name (see --list), a Hugging Face config.json (or a folder holding one), or omitted "
        "with --family and architecture flags for a custom model; flags given with a name or config override it.\n\n"
        "Totals count tied weights once, as sum(p.numel() for p in model.parameters()) of the Hugging Face class "
        "shown (encoders: bare model with pooler; decoders: with LM head; T5/BART: ForConditionalGeneration). "
        "Forward FLOPs/token = 2·N + attention (n_layer·n_ctx·(d_qk+d_v), causal average); training = 6·N·D "
        "and 3 × forward × D (used for GPU-hours at the GPU's dense bf16 peak × --mfu)."
    ),
}

_ARCH = "Architecture (custom model, or overrides)"


def params(
    model: Optional[str] = typer.Argument(None, metavar="MODEL", help="Registry name or alias, or a config.json path.", show_default=False),
    list_: bool = typer.Option(False, "--list", help="List the registry and exit."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout (stable keys, exact integers)."),
    context: Optional[int] = int_option(None, "--context", min=1, show_default=False,
                                          help="Context length for FLOPs and KV cache [default: the model's]; "
                                               "with --family also the learned position table size."),
    batch: int = int_option(1, "--batch", min=1, help="Batch size (per rank) for the KV-cache total and training memory."),
    tokens: Optional[str] = typer.Option(None, "--tokens", metavar="TEXT", show_default=False,
                                         help="Training tokens D, e.g. 300B or 14.8T [default: the reported figure if known]."),
    gpu: Optional[str] = typer.Option(None, "--gpu", metavar="TEXT", show_default=False,
                                      help="GPU for GPU-hours: v100, a100, h100, h800, h200, b200, mi300x, tpu-v5p, ... "
                                           "[default: the reported one, else h100]."),
    mfu: float = float_option(0.4, "--mfu", help="Model FLOPs utilisation assumed for GPU-hours."),
    kv_dtype: str = choice_option("bf16", "--kv-dtype", choices=_kv_dtypes, metavar="TEXT", help="KV-cache element type: fp32, bf16, fp16, fp8, int8, int4."),
    precision: str = choice_option("bf16", "--precision", choices=_precisions, metavar="TEXT", help="Training precision for training memory: fp32, or "
                                  "bf16/fp16 autocast (as nlpt pretrain)."),
    ranks: int = int_option(1, "--ranks", min=1, help="Ranks (GPUs) the training run is spread over."),
    strategy: str = choice_option("ddp", "--strategy", choices=_strategies, metavar="TEXT", help="With several ranks: ddp or fsdp (FSDP2, as nlpt pretrain)."),
    activation_checkpointing: bool = typer.Option(False, "--activation-checkpointing",
                                                  help="Training memory with activation checkpointing per block."),
    family: Optional[str] = typer.Option(None, "--family", metavar="TEXT", show_default=False, rich_help_panel=_ARCH,
                                         help="Custom model family: bert, roberta, distilbert, albert, gpt (gpt2), gpt1, "
                                              "llama, mistral, qwen2, mixtral (moe), t5, bart, deepseek."),
    layers: Optional[int] = int_option(None, "--layers", min=1, show_default=False, help="Layers (encoder layers for T5/BART)."),
    hidden: Optional[int] = int_option(None, "--hidden", min=1, show_default=False, help="Hidden size d_model."),
    heads: Optional[int] = int_option(None, "--heads", min=1, show_default=False, help="Attention heads [default: hidden / the family's head size, 64 or 128]."),
    kv_heads: Optional[int] = int_option(None, "--kv-heads", min=1, show_default=False, help="Key/value heads (GQA) [default: heads]."),
    head_dim: Optional[int] = int_option(None, "--head-dim", min=1, show_default=False, help="Head size (Llama family, T5 d_kv)."),
    ffn: Optional[int] = int_option(None, "--ffn", min=1, show_default=False,
                                      help="Feed-forward width [default: 4·hidden; SwiGLU: 8·hidden/3 rounded up to 256]."),
    vocab: Optional[int] = int_option(None, "--vocab", min=1, show_default=False, help="Vocabulary size."),
    experts: Optional[int] = int_option(None, "--experts", min=0, show_default=False, help="Experts per MoE layer (routed experts for deepseek)."),
    top_k: Optional[int] = int_option(None, "--top-k", min=1, show_default=False, help="Experts used per token [default: 2]."),
    shared_experts: Optional[int] = int_option(None, "--shared-experts", min=0, show_default=False, help="Shared experts (deepseek)."),
    moe_ffn: Optional[int] = int_option(None, "--moe-ffn", min=1, show_default=False, help="Expert width (deepseek)."),
    dense_layers: Optional[int] = int_option(None, "--dense-layers", min=0, show_default=False, help="Leading dense layers (deepseek)."),
    decoder_layers: Optional[int] = int_option(None, "--decoder-layers", min=1, show_default=False, help="Decoder layers (T5/BART) [default: --layers]."),
    embedding_size: Optional[int] = int_option(None, "--embedding-size", min=1, show_default=False, help="Factorised embedding size E (encoders, as ALBERT)."),
    tie: Optional[bool] = typer.Option(None, "--tie/--no-tie", show_default=False, help="Tie the LM head to the token embeddings."),
) -> None:
    """Parameter, FLOP and memory arithmetic for Transformer architectures."""
    import sys

    from nlpt.cli import params_tables
    from nlpt.transformer import report

    if list_:
        models = report.list_models()
        if json_out:
            sys.stdout.write(jsontext.dumps(models, indent=2) + "\n")
        else:
            params_tables.render_list(models)
        return
    flags = {"layers": layers, "hidden": hidden, "heads": heads, "kv_heads": kv_heads, "head_dim": head_dim, "ffn": ffn,
             "vocab": vocab, "context": context, "experts": experts, "top_k": top_k, "shared_experts": shared_experts,
             "moe_ffn": moe_ffn, "dense_layers": dense_layers, "decoder_layers": decoder_layers,
             "embedding_size": embedding_size, "tie": tie}
    resolved = report.resolve_model(model, family, flags)
    doc = report.build(resolved, context=context, batch=batch, tokens=tokens, gpu=gpu.lower() if gpu else None,
                       mfu=mfu, kv_dtype=kv_dtype, precision=precision, ranks=ranks, strategy=strategy,
                       checkpointing=activation_checkpointing)
    if json_out:
        sys.stdout.write(jsontext.dumps(doc, indent=2) + "\n")
    else:
        params_tables.render(doc)
