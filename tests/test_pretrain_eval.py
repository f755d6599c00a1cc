"""`nlpt pretrain eval` (loss, perplexity, bits per byte over whole texts, sliding windows) for run folders and
Hugging Face folders of every family, equal to transformers' loss on the same windows; `nlpt compare --eval-data`."""

from __future__ import annotations

import json
import math
import os
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")

sys.path.insert(0, os.path.dirname(__file__))
from _cli import SYNTHETIC, nlpt  # noqa: E402

@pytest.fixture(scope="module")
def files(documents, tmp_path_factory):
    """The shared documents, held-out text (with non-ASCII bytes) and tokenizers, a second text, and a folder of
    this module's own for the runs it trains."""
    d = tmp_path_factory.mktemp("evaldata")
    with open(SYNTHETIC, encoding="utf-8") as fh:
        lines = [next(fh).strip() for _ in range(660)]
    second = d / "second.txt"
    second.write_text("\n".join(lines[640:660]) + "\n", encoding="utf-8")
    return {**documents, "dir": d, "second": str(second)}


TOKENIZER = {"gpt-mini": "char", "llama-mini": "bpe", "moe-mini": "char", "bert-mini": "wp", "t5-mini": "t5",
             "bart-mini": "bpe"}


def trained(files, arch: str, name: str = None, tokenizer: str = None) -> str:
    """A run folder trained for a few steps (cached per module)."""
    run = files["dir"] / (name or arch)
    if not run.exists():
        code = nlpt("pretrain", files["corpus"], "-o", run, "--tokenizer", files[tokenizer or TOKENIZER[arch]],
                    "--arch", arch, "--layers", 1, "--hidden", 32, "--heads", 2, "--ffn", 64, "--context", 32,
                    "--vocab", 360, "--batch", 8, "--max-steps", 6, "--lr", 3e-3, "--warmup", 1,
                    "--eval-batches", 1, "--threads", 1, "--dropout", 0, "--quiet")[0]
        assert code == 0
    return str(run)


def exported(files, arch: str) -> str:
    out = files["dir"] / f"{arch}-hf"
    if not out.exists():
        assert nlpt("pretrain", "export", trained(files, arch), "-o", out)[0] == 0
    return str(out)


def eval_json(source, *args) -> dict:
    code, out, err = nlpt("pretrain", "eval", source, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def hf_nats(hf_dir: str, tokenizer_file: str, family: str, text_file: str, context: int, stride: int) -> tuple:
    """(nats, scored tokens) from the transformers model on the windows `nlpt.engine.evaluate.batches` builds."""
    import transformers
    from tokenizers import Tokenizer

    from nlpt.engine.evaluate import batches, encode_text, read_text

    with open(os.path.join(hf_dir, "config.json")) as fh:
        cls = getattr(transformers, json.load(fh)["architectures"][0])
    model = cls.from_pretrained(hf_dir).eval()
    tok = Tokenizer.from_file(tokenizer_file)
    ids = encode_text(tok, read_text(text_file))
    nats, scored = 0.0, 0
    with torch.no_grad():
        for b in batches(family, tok, ids, context, stride, 4):
            out = model(**b["inputs"])
            logits = out.prediction_logits if hasattr(out, "prediction_logits") else out.logits
            logp = torch.log_softmax(logits.reshape(-1, logits.shape[-1]).float(), -1)[b["positions"]]
            nats -= float(logp.gather(1, b["targets"][:, None]).sum())
            scored += len(b["targets"])
    return nats, scored


def check_figures(doc: dict, text_files: list) -> None:
    n_bytes = sum(len(open(p, encoding="utf-8").read().encode("utf-8")) for p in text_files)
    assert doc["bytes"] == n_bytes
    assert doc["loss"] == pytest.approx(doc["nats"] / doc["scored_tokens"])
    assert doc["ppl"] == pytest.approx(math.exp(doc["loss"]))
    assert doc["bits_per_byte"] == pytest.approx(doc["nats"] / math.log(2) / n_bytes)


def test_decoder_eval_equals_transformers_sliding_window_loss(files, tmp_path):
    """GPT: the run, its export, and transformers' own loss (labels, -100 for the unscored) on each window agree."""
    import transformers

    from nlpt.engine.evaluate import decoder_windows, encode_text, read_text
    from tokenizers import Tokenizer

    run, hf = trained(files, "gpt-mini"), exported(files, "gpt-mini")
    doc = eval_json(run, "--data", files["held"], "--context", 24, "--stride", 10)
    check_figures(doc, [files["held"]])
    ids = encode_text(Tokenizer.from_file(files["char"]), read_text(files["held"]))
    assert doc["tokens"] == len(ids) and doc["scored_tokens"] == len(ids) - 1  # all but the first
    assert (doc["context"], doc["stride"]) == (24, 10)
    assert eval_json(hf, "--data", files["held"], "--context", 24, "--stride", 10)["nats"] == \
        pytest.approx(doc["nats"], rel=1e-5)
    # transformers' loss with its own label shift: window ids[b:e+1], targets before `first` ignored
    model = transformers.GPT2LMHeadModel.from_pretrained(hf).eval()
    nats = 0.0
    with torch.no_grad():
        for begin, end, first in decoder_windows(len(ids), 24, 10):
            window = torch.tensor(ids[begin:end + 1])[None]
            labels = window.clone()
            labels[0, :first - begin] = -100
            n = int((labels[0, 1:] != -100).sum())
            nats += float(model(window, labels=labels).loss) * n
    assert nats == pytest.approx(doc["nats"], rel=1e-5)
    # without overlap (stride = context) the same tokens are scored, with less history at each window start
    other = eval_json(run, "--data", files["held"], "--context", 24)
    assert other["scored_tokens"] == doc["scored_tokens"] and other["stride"] == 24 and other["nats"] != doc["nats"]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["llama-mini", "moe-mini", "bert-mini", "t5-mini", "bart-mini"])
def test_every_family_equals_transformers_on_the_same_windows(arch, files):
    from tokenizers import Tokenizer

    from nlpt.engine.evaluate import encode_text, read_text

    run, hf = trained(files, arch), exported(files, arch)
    family = json.load(open(os.path.join(run, "config.json")))["model"]["family"]
    doc = eval_json(run, "--data", files["held"], "--context", 24, "--stride", 16)
    check_figures(doc, [files["held"]])
    ids = encode_text(Tokenizer.from_file(files[TOKENIZER[arch]]), read_text(files["held"]))
    masked = family not in ("gpt", "llama")
    assert doc["scored_tokens"] == len(ids) - (0 if masked else 1)  # every token once (decoders: but the first)
    from_hf = eval_json(hf, "--data", files["held"], "--context", 24, "--stride", 16)
    assert from_hf["nats"] == pytest.approx(doc["nats"], rel=1e-5)
    nats, scored = hf_nats(hf, files[TOKENIZER[arch]], family, files["held"], 24, 16)
    assert scored == doc["scored_tokens"] and nats == pytest.approx(doc["nats"], rel=1e-5)


def test_masked_passes_mask_every_token_once():
    from nlpt.engine.evaluate import BART_PASSES, ENCODER_PASSES, SPAN, _masked_passes

    for length in (1, 7, 23, 100):
        for passes, span in ((ENCODER_PASSES, 1), (ENCODER_PASSES, SPAN), (BART_PASSES, SPAN)):
            chosen = _masked_passes(length, passes, span)
            flat = sorted(int(j) for m in chosen for j in m)
            assert flat == list(range(length))
            if length >= passes * span:
                assert all(abs(len(m) - length / passes) <= span for m in chosen)


def test_several_files_sum_and_text_output(files):
    run = trained(files, "gpt-mini")
    both = eval_json(run, "--data", files["held"], "--data", files["second"])
    one = [eval_json(run, "--data", p) for p in (files["held"], files["second"])]
    assert both["nats"] == pytest.approx(one[0]["nats"] + one[1]["nats"], rel=1e-6)
    assert both["scored_tokens"] == one[0]["scored_tokens"] + one[1]["scored_tokens"]
    assert [f["path"] for f in both["files"]] == [files["held"], files["second"]]
    check_figures(both, [files["held"], files["second"]])
    code, out, err = nlpt("pretrain", "eval", run, "--data", files["held"])
    assert code == 0, err
    assert f"{one[0]['bits_per_byte']:.4f} bits per byte" in out and f"loss {one[0]['loss']:.4f}" in out


def test_compare_shows_eval_results_side_by_side(files):
    """A char model and a BPE model on the same bytes: bits per byte is comparable across tokenizers."""
    char_run, bpe_run = trained(files, "gpt-mini"), trained(files, "gpt-mini", "gpt-bpe", "bpe")
    code, out, err = nlpt("compare", char_run, bpe_run, "--eval-data", files["held"], "--json")
    assert code == 0, err
    rows = json.loads(out)["rows"] if isinstance(json.loads(out), dict) else json.loads(out)
    alone = [eval_json(r, "--data", files["held"]) for r in (char_run, bpe_run)]
    assert [r["source"] for r in rows] == [char_run, bpe_run]
    assert [r["bits_per_byte"] for r in rows] == pytest.approx([a["bits_per_byte"] for a in alone])
    assert rows[0]["tokenizer_entries"] != rows[1]["tokenizer_entries"] and rows[0]["bytes"] == rows[1]["bytes"]
    code, out, err = nlpt("compare", char_run, bpe_run, "--eval-data", files["held"])
    assert code == 0 and "bits/byte" in out and f"{alone[1]['bits_per_byte']:.4f}" in out, err


@pytest.mark.parametrize("args, message, code", [
    (("--data", "/nonexistent.txt"), "/nonexistent.txt: no such file", 1),
    (("--data", "HELD", "--stride", 500), "--stride must be between 1 and", 2),
    (("--data", "HELD", "--context", 4096), "exceeds the model's", 2),
])
def test_eval_errors_are_one_line(args, message, code, files):
    run = trained(files, "gpt-mini")
    args = [files["held"] if a == "HELD" else a for a in args]
    rc, out, err = nlpt("pretrain", "eval", run, *args)
    assert rc == code and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_eval_refuses_a_folder_that_is_no_model(files, tmp_path):
    rc, _, err = nlpt("pretrain", "eval", str(tmp_path), "--data", files["held"])
    assert rc == 1 and "no config.json" in err and len(err.strip().splitlines()) == 1


def _transformers_model(name: str, vocab: int):
    import transformers

    small = dict(vocab_size=vocab)
    if name == "roberta":
        return transformers.RobertaForMaskedLM(transformers.RobertaConfig(
            hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=66, pad_token_id=1, type_vocab_size=1, **small))
    if name == "albert":
        return transformers.AlbertForMaskedLM(transformers.AlbertConfig(
            embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64, **small))
    family = name
    if family == "encoder":
        return transformers.BertForPreTraining(transformers.BertConfig(
            hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64, **small))
    if family == "t5":
        return transformers.T5ForConditionalGeneration(transformers.T5Config(
            d_model=32, num_layers=1, num_heads=2, d_ff=64, d_kv=16, decoder_start_token_id=0, **small))
    if family == "bart":
        return transformers.BartForConditionalGeneration(transformers.BartConfig(
            d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
            encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, **small))
    if family == "gpt":
        return transformers.GPT2LMHeadModel(transformers.GPT2Config(n_embd=32, n_layer=1, n_head=2, n_positions=64,
                                                                    bos_token_id=0, eos_token_id=0, **small))
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, intermediate_size=64,
        max_position_embeddings=64, **small))


@pytest.mark.slow
@pytest.mark.parametrize("name, family, tokenizer", [
    ("gpt", "gpt", "bpe"), ("llama", "llama", "bpe"), ("encoder", "encoder", "wp"), ("roberta", "encoder", "bpe"),
    ("albert", "encoder", "wp"), ("t5", "t5", "t5"), ("bart", "bart", "bpe")])
def test_folders_saved_by_transformers_equal_transformers(name, family, tokenizer, files, tmp_path):
    """Folders transformers itself writes (tied heads not stored) score as transformers scores them."""
    import shutil

    torch.manual_seed(0)
    folder = str(tmp_path / name)
    _transformers_model(name, 340).save_pretrained(folder)
    shutil.copyfile(files[tokenizer], os.path.join(folder, "tokenizer.json"))
    doc = eval_json(folder, "--data", files["held"], "--context", 24, "--stride", 16)
    nats, scored = hf_nats(folder, files[tokenizer], family, files["held"], 24, 16)
    assert scored == doc["scored_tokens"] and nats == pytest.approx(doc["nats"], rel=1e-5)


def test_a_folder_without_its_head_is_refused(files, tmp_path):
    """A bare BertModel folder (no MLM head) would score at random: refused in one line."""
    import shutil

    import transformers

    folder = str(tmp_path / "bare")
    transformers.BertModel(transformers.BertConfig(vocab_size=340, hidden_size=32, num_hidden_layers=1,
                                                   num_attention_heads=2, intermediate_size=64,
                                                   max_position_embeddings=64)).save_pretrained(folder)
    shutil.copyfile(files["wp"], os.path.join(folder, "tokenizer.json"))
    rc, out, err = nlpt("pretrain", "eval", folder, "--data", files["held"])
    assert rc == 1 and "no weights for the language-model head (cls." in err and len(err.strip().splitlines()) == 1
    rc, _, err = nlpt("compare", folder, "--eval-data", files["held"], "--plot", tmp_path / "p.png")
    assert rc == 2 and "does not combine with --plot" in err
