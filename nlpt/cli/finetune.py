"""`nlpt finetune`: train a classifier on a task (the default subcommand) and `predict` with it."""

from __future__ import annotations

from typing import Optional

import typer

from nlpt.cli.defaultgroup import DefaultGroup
from nlpt.cli.options import JSON, QUIET, THREADS, App, choice_option, exit_if_stopped, float_option, int_option
from nlpt.finetune.choices import ENCODERS, FORMATS, HEADS, POOLINGS
from nlpt.common import jsontext


class _FinetuneGroup(DefaultGroup):
    default_command = "train"
    needs_torch = "finetune"


app = App(
    cls=_FinetuneGroup,
    help=(
        "Downstream classification/regression from a pretrained Transformer (fine-tuned or frozen) or from "
        "static word vectors. `nlpt finetune --train FILE ...` runs `train` (the default subcommand)."
    ),
    no_args_is_help=True,
)

TRAIN_HELP = """Train a classifier (or regressor) on a labelled task and keep the best-on-dev model.

Task files are TSV (GLUE-style, with a header), CSV or JSONL; columns are chosen by name
(--text-column, --pair-column for sentence pairs, --label-column). Labels become class ids in
sorted order and are saved with the model; --regression predicts a number instead (Pearson and
Spearman). Rows with a missing column or empty text are skipped and counted (--strict: an error).

The representation is one of:

  --model DIR      an `nlpt pretrain` run folder or a Hugging Face folder (bert/gpt2/llama/t5/bart);
                   pooled [CLS] (encoders), last token (decoders) or mean (encoder-decoders);
                   --freeze trains only the head on features computed once (ELMo-style), otherwise
                   the whole model trains, the body at --body-lr; --from-scratch re-initialises it.

  --vectors FILE   word2vec text/binary or GloVe vectors: --encoder bag (mean of word vectors,
                   fastText-supervised style) or cnn (TextCNN); --freeze keeps the vectors fixed.
                   Text is tokenized as the vectors were trained when nlpt's sidecar FILE.json says
                   how (--lower/--keep-case, --nfkc, --split-punct, --cjk change that); the log says which.

  --dim N          random word vectors of size N, trained with the task (no pretraining).

Each epoch is evaluated on dev and test (accuracy, macro-F1, ROC-AUC for two classes); training
stops early when dev has not improved for --patience epochs. RUN_DIR gets config.json,
model.safetensors (best on dev), metrics.jsonl, results.json, and the tokenizer or word table.

Training runs on `nlpt pretrain`'s engine: --global-batch accumulates micro-batches of
--batch-size; SIGINT, SIGTERM or SIGUSR1 saves a checkpoint and exits (130, 143, 138), and the same
command continues the run (or does nothing once it has finished; other settings are refused unless
--resume-with-changes); under `torchrun --nproc_per_node N` each rank trains on its share.

Examples:

  nlpt finetune --train sst2/train.tsv --dev sst2/dev.tsv --test sst2/test.tsv --vectors w2v.bin -o runs/sst2-bag

  nlpt finetune --train train.tsv --dev dev.tsv --model runs/bert-enwiki --freeze -o runs/sst2-bert-frozen

  nlpt finetune --train sick.tsv --dev-split 0.1 --text-column sentence_A --pair-column sentence_B \\
      --label-column relatedness_score --regression --model runs/bert-enwiki -o runs/sick
"""


def _kernel_sizes(value: str) -> tuple:
    from nlpt.common.errors import UsageError

    try:
        sizes = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise UsageError(f"--kernel-sizes must be comma-separated integers, not {value!r}") from None
    if not sizes or min(sizes) < 1:
        raise UsageError(f"--kernel-sizes must be positive integers, not {value!r}")
    return sizes


@app.command("train", help=TRAIN_HELP)
def train(
    train_file: str = typer.Option(..., "--train", metavar="PATH", help="Training file (.tsv, .csv or .jsonl).", show_default=False),
    output: str = typer.Option(..., "--output", "-o", metavar="PATH", help="Run folder to create (must not exist or be empty).", show_default=False),
    dev: Optional[str] = typer.Option(None, "--dev", metavar="PATH", help="Dev file for model selection and early stopping.", show_default=False),
    dev_split: Optional[float] = float_option(None, "--dev-split", help="Hold out this share of --train as dev [default: 0.1 without --dev; 0 = no dev].", show_default=False),
    test: Optional[str] = typer.Option(None, "--test", metavar="PATH", help="Test file, evaluated each epoch (never used for selection).", show_default=False),
    fmt: Optional[str] = choice_option(None, "--format", choices=FORMATS, help="File format [default: from the extension].", show_default=False),
    text_column: Optional[str] = typer.Option(None, "--text-column", metavar="TEXT", help="Text column [default: text, sentence, sentence1 or sentence_A].", show_default=False),
    pair_column: Optional[str] = typer.Option(None, "--pair-column", metavar="TEXT", help="Second text of a sentence pair [default: sentence2/sentence_B beside sentence1/sentence_A].", show_default=False),
    label_column: Optional[str] = typer.Option(None, "--label-column", metavar="TEXT", help="Label column [default: label or gold_label].", show_default=False),
    regression: bool = typer.Option(False, "--regression", help="Predict a number (e.g. a similarity score) instead of a class."),
    strict: bool = typer.Option(False, "--strict", help="Rows with missing columns or empty text are errors, not skipped."),
    model: Optional[str] = typer.Option(None, "--model", "-m", metavar="PATH", help="Pretrained model: an `nlpt pretrain` run folder or a Hugging Face folder.", show_default=False),
    vectors: Optional[str] = typer.Option(None, "--vectors", metavar="PATH", help="Static word vectors (word2vec text/binary, GloVe).", show_default=False),
    dim: Optional[int] = int_option(None, "--dim", min=1, help="Random word vectors of this size, trained with the task (with --vectors: the size they must have).", show_default=False),
    freeze: bool = typer.Option(False, "--freeze", help="Train only the head: frozen pretrained body / frozen vectors."),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="With --model: same architecture and tokenizer, random weights."),
    encoder: str = choice_option("bag", "--encoder", choices=ENCODERS, help="Static classifier: bag of embeddings or TextCNN."),
    filters: int = int_option(100, "--filters", min=1, help="TextCNN feature maps per kernel size."),
    kernel_sizes: str = typer.Option("3,4,5", "--kernel-sizes", metavar="TEXT", help="TextCNN kernel widths."),
    lower: Optional[bool] = typer.Option(None, "--lower/--keep-case", help="Lower-case text for static vectors [default: as the vectors were trained, else lower-case when they have no upper case].", show_default=False),
    split_punct: bool = typer.Option(False, "--split-punct", help="Split punctuation from words (static vectors) [default: as the vectors were trained]."),
    nfkc: bool = typer.Option(False, "--nfkc", help="NFKC-normalise text (static vectors) [default: as the vectors were trained]."),
    cjk: bool = typer.Option(False, "--cjk", help="One token per CJK character (static vectors) [default: as the vectors were trained]."),
    pooling: Optional[str] = choice_option(None, "--pooling", choices=POOLINGS, help="Sequence representation [default: cls for encoders, last for decoders, mean for encoder-decoders].", show_default=False),
    head: str = choice_option("linear", "--head", choices=HEADS, help="The new output layer."),
    max_length: int = int_option(128, "--max-length", min=2, help="Tokens per example (longer texts are cut)."),
    epochs: int = int_option(5, "--epochs", min=1, help="Maximum epochs."),
    batch_size: int = int_option(32, "--batch-size", min=1, help="Examples per micro-batch (per rank)."),
    global_batch: Optional[int] = int_option(None, "--global-batch", min=1, help="Examples per optimizer step over all ranks, reached by accumulating micro-batches [default: --batch-size × ranks].", show_default=False),
    lr: float = float_option(1e-3, "--lr", min=0.0, help="Learning rate of the head (and of static vectors)."),
    body_lr: Optional[float] = float_option(None, "--body-lr", min=0.0, help="Learning rate of a pretrained body [default: --lr / 10].", show_default=False),
    weight_decay: float = float_option(0.01, "--weight-decay", min=0.0, help="AdamW weight decay (not on biases, norms, embeddings)."),
    dropout: Optional[float] = float_option(None, "--dropout", min=0.0, max=0.99, help="Dropout before the head [default: 0.5 for TextCNN, else 0.1].", show_default=False),
    warmup: float = float_option(0.1, "--warmup", min=0.0, max=1.0, help="Share of steps with linear warm-up, then linear decay."),
    patience: int = int_option(2, "--patience", min=1, help="Stop after this many epochs without a better dev score."),
    seed: int = int_option(0, "--seed", min=0, help="Seed for initialisation, shuffling and --dev-split."),
    device: str = typer.Option("auto", "--device", metavar="TEXT", help="auto, cpu, cuda[:N] or mps."),
    precision: str = typer.Option("fp32", "--precision", metavar="fp32|bf16|fp16", help="Autocast precision on GPU."),
    cpu_matmul: str = typer.Option("auto", "--cpu-matmul", metavar="auto|torch|numpy", help="On CPU, whose BLAS multiplies matrices: torch's, numpy's, or auto (the faster on this machine, timed at start)."),
    resume_with_changes: bool = typer.Option(False, "--resume-with-changes", help="Continue a stopped run in RUN_DIR with settings that differ from its own (recorded in RUN_DIR/changes.jsonl); without it such a rerun is refused."),
    resume_from_older: bool = typer.Option(False, "--resume-from-older", help="When the newest checkpoint cannot be read, continue from the newest one that can (without it: stop)."),
    threads: Optional[int] = THREADS,
    quiet: bool = QUIET,
    json: bool = JSON,
) -> None:
    from nlpt.finetune.train import Settings, run_finetune

    settings = Settings(
        output=output, train=train_file, dev=dev, dev_split=dev_split, test=test, format=fmt, text_column=text_column,
        pair_column=pair_column, label_column=label_column, regression=regression, strict=strict, vectors=vectors,
        model=model, dim=dim, from_scratch=from_scratch, encoder=encoder, filters=filters,
        kernel_sizes=_kernel_sizes(kernel_sizes), lower=lower, split_punct=split_punct, nfkc=nfkc, cjk=cjk, pooling=pooling, head=head,
        freeze=freeze, max_length=max_length, epochs=epochs, batch_size=batch_size, global_batch=global_batch, lr=lr, body_lr=body_lr,
        weight_decay=weight_decay, dropout=dropout, warmup=warmup, patience=patience, seed=seed, device=device,
        precision=precision, cpu_matmul=cpu_matmul, threads=threads, quiet=quiet,
        resume_with_changes=resume_with_changes, resume_from_older=resume_from_older,
    )
    from nlpt.common.plan import OutputPlan
    from nlpt.common.runfolder import FINETUNE_WRITES

    (OutputPlan().read("--train", train_file).read("--dev", dev).read("--test", test).read("--vectors", vectors)
     .read_folder("--model", model).write_folder("--output", output, FINETUNE_WRITES).check())
    from nlpt.common.errors import stop_note
    from nlpt.finetune.train import stop_note_for

    # a stop signal outside the training loop (start-up, results.json, the table) says what RUN_DIR holds
    with stop_note(lambda: stop_note_for(output)):
        results = run_finetune(settings)
        if results is None:  # a non-zero rank under torchrun: rank 0 reports
            return
        exit_if_stopped(results)
        if json:
            print(jsontext.dumps(results, indent=2))
        else:
            _print_results(results)


_SHORT = {"accuracy": "acc", "macro_f1": "F1", "roc_auc": "AUC", "pearson": "r", "spearman": "rho"}


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def results_table(results: dict):
    """The run's epochs as an aligned plain-text table (`nlpt.common.texttable`), the kept epoch starred; the note
    under it says which epoch was kept, from what, and how many parameters trained."""
    from nlpt.common.texttable import TextTable

    regression = results["task"] == "regression"
    names = ("pearson", "spearman") if regression else ("accuracy", "macro_f1") + (("roc_auc",) if len(results["labels"]) == 2 else ())
    splits = [split for split in ("dev", "test") if any(split in h for h in results["history"])]
    header = ["epoch", "train loss"] + [f"{split} {_SHORT[name]}" for split in splits for name in names]
    table = TextTable(f"nlpt finetune: {results['run_dir']}", header=header, right=tuple(range(len(header))))
    for h in results["history"]:
        cells = [f"{h['epoch']}{' *' if h['epoch'] == results['best_epoch'] else ''}", f"{h['train_loss']:.4f}"]
        for split in splits:
            cells += [_fmt(h[split][name]) if split in h else "" for name in names]
        table.add(*cells)
    source = results["source"]
    what = source.get("path") or f"random vectors (dim {source.get('dim')})"
    table.notes.append(f"* kept: epoch {results['best_epoch']} ({results['selected_on']}); {what}; "
                       f"{results['parameters']['trainable']:,} of {results['parameters']['total']:,} parameters "
                       f"trained; {results['elapsed_s']:.1f} s")
    return table


def _print_results(results: dict) -> None:
    import sys

    from nlpt.common.texttable import Style, write

    write([results_table(results)], Style(sys.stdout), indent=0)


@app.command("predict")
def predict(
    run_dir: str = typer.Argument(..., metavar="RUN_DIR", help="A run folder written by `nlpt finetune`.", show_default=False),
    input_path: str = typer.Argument(..., metavar="FILE|-", help="Texts to classify: .tsv/.csv/.jsonl with the training's text column(s), or plain lines (stdin: -; pairs: text TAB pair).", show_default=False),
    output: str = typer.Option("-", "--output", "-o", metavar="PATH", help="JSONL output file, or - for stdout."),
    fmt: Optional[str] = choice_option(None, "--format", choices=FORMATS, help="Input format [default: from the extension; plain lines for - and other files].", show_default=False),
    text_column: Optional[str] = typer.Option(None, "--text-column", metavar="TEXT", help="Text column [default: the training's].", show_default=False),
    pair_column: Optional[str] = typer.Option(None, "--pair-column", metavar="TEXT", help="Pair column [default: the training's].", show_default=False),
    batch_size: int = int_option(64, "--batch-size", min=1, help="Examples per forward pass."),
    device: str = typer.Option("auto", "--device", metavar="TEXT", help="auto, cpu, cuda[:N] or mps."),
    strict: bool = typer.Option(False, "--strict", help="Rows with missing columns or empty text are errors, not skipped."),
    threads: Optional[int] = THREADS,
    quiet: bool = QUIET,
) -> None:
    """Write one JSON line per input row: {"line", "label", "probabilities"} ({"line", "score"} for regression).

    Examples:

      nlpt finetune predict runs/sst2-bag ../shared/data/sst2/test.tsv -o predictions.jsonl

      echo "a gorgeous , witty , seductive movie ." | nlpt finetune predict runs/sst2-bag -
    """
    from nlpt.common.plan import OutputPlan

    OutputPlan().read_folder("RUN_DIR", run_dir).read("FILE", input_path).write("--output", output).check()
    from nlpt.common.errors import stop_note
    from nlpt.finetune.predict import Written, run_predict

    written = Written(output)  # a stop signal's line says what was written (a complete file, lines on stdout)
    with stop_note(written.note):
        run_predict(run_dir, input_path, output, fmt, text_column, pair_column, batch_size, device, strict, quiet,
                    threads, written)
