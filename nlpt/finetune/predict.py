"""`nlpt finetune predict RUN_DIR FILE|-`: JSONL predictions from a finetune run folder.

The run folder holds everything: the classifier's architecture (config.json), its best-on-dev
weights, the label names and the tokenizer or word table. Each output line is
`{"line": N, "label": L, "probabilities": {label: p, ...}}` (regression: `{"line": N, "score": x}`),
N being the input's line number, so rows skipped for empty text are visible as gaps.
"""

from __future__ import annotations

import os

from nlpt.common import jsontext
from nlpt.common.errors import NlptError, exception_reason
from nlpt.common.progress import log
from nlpt.common.runfolder import CONFIG_FILE, WEIGHTS_FILE, WORDS_FILE, check_run_fields, read_json


def read_run_config(run_dir: str) -> dict:
    if not os.path.isdir(run_dir):
        raise NlptError(f"{run_dir}: no such run folder")
    config = read_json(os.path.join(run_dir, CONFIG_FILE), missing=f"{run_dir}: not a finetune run folder (no config.json)")
    if not isinstance(config, dict) or not str(config.get("format", "")).startswith("nlpt-finetune/"):
        raise NlptError(f"{run_dir}: not a finetune run folder (config.json is not from `nlpt finetune`)")
    check_run_fields(config, os.path.join(run_dir, CONFIG_FILE))
    if not os.path.exists(os.path.join(run_dir, WEIGHTS_FILE)):
        raise NlptError(f"{run_dir}: no model.safetensors (the run ended before its first epoch?)")
    return config


def load_classifier(run_dir: str):
    """(classifier in eval mode, run config, encode(texts, pairs) -> fields) from a finetune run folder."""
    from safetensors.torch import load_model

    from nlpt.finetune.classification import SequenceClassifier

    config = read_run_config(run_dir)
    enc, head = config["encoder"], config["head"]
    if enc["kind"] == "static":
        from nlpt.finetune import static

        vocab = static.WordVocabulary.load(os.path.join(run_dir, WORDS_FILE), enc["tokenizer"], enc["max_length"])
        encoder = static.build_encoder(enc["type"], enc["words"], enc["dim"], enc["pair"], True, enc["filters"], enc["kernel_sizes"])
        min_length = getattr(encoder, "min_length", 1)
        pad_ids: dict = {}

        def encode(texts, pairs):
            return static.encode_split(vocab, texts, pairs)
    else:
        from nlpt.finetune import pretrained as pt
        from nlpt.models import build
        from nlpt.tokenizer.files import load_tokenizer
        from nlpt.transformer.config_file import config_from_json

        model_config = config_from_json(config, os.path.join(run_dir, "config.json"))
        tokenizer = load_tokenizer(os.path.join(run_dir, "tokenizer.json"))
        builder = pt.input_builder(tokenizer, model_config, enc["max_length"])
        encoder = pt.PretrainedEncoder(build(model_config), enc["pooling"])
        min_length = 1
        pad_ids = {"input_ids": builder.pad}
        encode = builder.encode_batch
    classifier = SequenceClassifier(encoder, head["outputs"], head["type"], head["dropout"])
    try:
        missing, unexpected = load_model(classifier, os.path.join(run_dir, WEIGHTS_FILE), strict=False)
    except Exception as exc:  # noqa: BLE001 - corrupt or foreign file
        raise NlptError(f"{run_dir}/model.safetensors: cannot load ({exception_reason(exc)})") from None
    if missing or unexpected:
        name = (missing or unexpected)[0]
        raise NlptError(f"{run_dir}/model.safetensors: does not match config.json ({'missing' if missing else 'unexpected'} {name})")
    classifier.eval()
    return classifier, config, encode, pad_ids, min_length


class Written:
    """What predictions to `output` exist when a stop signal comes, for its one line (`stop_note(written.note)`):
    a file is complete once it was renamed into place (a new inode under its name), standard output has the
    lines written so far."""

    def __init__(self, output: str):
        self.output, self.lines = output, 0
        self._before = self._inode()

    def _inode(self):
        try:
            return os.stat(self.output).st_ino
        except OSError:
            return None

    def note(self) -> str | None:
        if self.output == "-":
            return f"{self.lines} prediction lines were written to standard output" if self.lines else None
        return f"{self.output} is complete" if self._inode() not in (None, self._before) else None


def run_predict(run_dir: str, input_path: str, output: str, fmt: str | None = None, text_column: str | None = None,
                pair_column: str | None = None, batch_size: int = 64, device: str = "auto", strict: bool = False,
                quiet: bool = False, threads: int | None = None, written: Written | None = None) -> dict:
    """Write JSONL predictions for `input_path` (`-`: stdin) to `output` (`-`: stdout); returns a summary.
    `threads`: torch's intra-op threads (None: SLURM_CPUS_PER_TASK or the CPUs available, as everywhere);
    `written` counts the lines written."""
    import torch

    from nlpt.common.threads import resolve_threads

    torch.set_num_threads(resolve_threads(threads))

    from nlpt.common.output import atomic_output, check_writable
    from nlpt.finetune.data import Columns, _EXTENSIONS, describe_skipped, read_lines, read_split
    from nlpt.engine.distributed import pick_device
    from nlpt.finetune.classification import EncodedSplit, predict

    config = read_run_config(run_dir)
    check_writable(output)
    columns = config["task"]["columns"]
    pair = columns["pair"] is not None
    ext = os.path.splitext(input_path)[1].lower()
    if fmt is None and (input_path == "-" or ext not in _EXTENSIONS):
        split = read_lines(input_path, pair, strict)  # plain text, one example per line
    else:
        wanted = Columns(text_column or columns["text"], (pair_column or columns["pair"]) if pair else None, columns["label"])
        split, _ = read_split("input", input_path, fmt, wanted, strict=strict, need_label=False)
    message = describe_skipped(split)
    if message:
        log(message, quiet)
    classifier, config, encode, pad_ids, min_length = load_classifier(run_dir)
    dev = pick_device(device)
    classifier.to(dev)
    data = EncodedSplit("input", encode(split.texts, split.pairs), torch.zeros(len(split)), pad_ids=pad_ids, min_length=min_length)
    out = predict(classifier, data, batch_size, dev, __import__("contextlib").nullcontext) if len(split) else torch.zeros(0)
    labels = config["labels"]
    with atomic_output(output) as fh:
        for i, line in enumerate(split.lines):
            if labels is None:
                record = {"line": line, "score": float(out[i])}
            else:
                probs = out[i].tolist()
                best = max(range(len(probs)), key=probs.__getitem__)
                record = {"line": line, "label": labels[best], "probabilities": {l: round(p, 6) for l, p in zip(labels, probs)}}
            fh.write(jsontext.dumps(record, "predictions", ensure_ascii=False) + "\n")
            if written is not None:
                written.lines += 1
    return {"predicted": len(split), "skipped": dict(split.skipped)}
