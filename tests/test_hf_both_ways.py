"""Hugging Face both ways, per family.

Exports: `AutoTokenizer` + `AutoModel*` on raw text give nlpt's logits (pairs and padding for encoders), the
tokenizer adds exactly the special tokens training inputs had, and the pipelines answer as nlpt's commands
(fill-mask = `nlpt pretrain fill-mask`, text-generation = `nlpt pretrain sample --temperature 0`, T5/BART
`generate` = nlpt's greedy decoding behind `infill`).

`--init`: tiny models created by transformers here (no downloads) continue pretraining in nlpt: the logits
before the first step equal transformers', an export after `--init` round-trips to the source's tensors,
continued pretraining lowers held-out loss, and flags that contradict the source are refused.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")

from _cli import nlpt, perturbed  # noqa: E402

COMMON = ["--batch", 8, "--eval-every", 0, "--eval-batches", 4, "--log-every", 1, "--threads", 1, "--dropout", 0,
          "--quiet", "--cpu-matmul", "torch"]
TEXTS = ["the city of the river", "and then some more"]
PAIRS = ["a short one", "the second part is longer"]


@pytest.fixture(scope="module")
def files(documents, tmp_path_factory):
    """The shared documents and tokenizers, with a folder of this module's own for architecture files."""
    return {**documents, "dir": tmp_path_factory.mktemp("hf")}


# ---------------------------------------------------------------------------------------------
# exports of nlpt runs

def _arch_file(d, name, data):
    path = d / f"arch-{name}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def _run_args(files, family):
    """(arch, tokenizer, extra flags) of a tiny run per family; T5/BART from config files so both stacks have one
    layer (transformers' T5 `generate` needs equal depths)."""
    d = files["dir"]
    small = ["--layers", 1, "--hidden", 32, "--heads", 2, "--ffn", 64, "--vocab", 320]
    if family == "t5":
        arch = _arch_file(d, "t5", {"family": "t5", "vocab_size": 320, "d_model": 32, "d_kv": 16, "num_heads": 2,
                                    "ffn_size": 64, "num_layers": 1, "num_decoder_layers": 1, "max_positions": 64})
        return arch, files["t5"], []
    if family == "bart":
        arch = _arch_file(d, "bart", {"family": "bart", "vocab_size": 320, "d_model": 32, "num_layers": 1,
                                      "num_decoder_layers": 1, "num_heads": 2, "ffn_size": 64, "max_positions": 66})
        return arch, files["bpe"], []
    arch, tok = {"gpt": ("gpt-mini", "bpe"), "llama": ("llama-mini", "bpe"), "mixtral": ("moe-mini", "bpe"),
                 "bert": ("bert-mini", "wp"), "albert": ("albert-base-v2", "wp"), "roberta": ("roberta-base", "bpe")}[family]
    extra = ["--kv-heads", 1] if family in ("llama", "mixtral") else []
    return arch, files[tok], small + extra


@pytest.fixture(scope="module")
def exported(files, tmp_path_factory):
    """family -> (run folder, export folder): trained 3 steps through the CLI and exported, made on first use."""
    made = {}

    def get(family):
        if family not in made:
            d = tmp_path_factory.mktemp(family)
            run, out = str(d / "run"), str(d / "hf")
            arch, tok, extra = _run_args(files, family)
            code, _, err = nlpt("pretrain", files["corpus"], "-o", run, "--tokenizer", tok, "--arch", arch, *extra,
                                "--context", 64, "--max-steps", 3, "--lr", 3e-3, "--warmup", 1, *COMMON)
            assert code == 0, err
            code, _, err = nlpt("pretrain", "export", run, "--export-hf", out)
            assert code == 0, err
            made[family] = (run, out)
        return made[family]

    return get


def _training_ids(tok, family, text, pair=None):
    """(ids, token types) as nlpt's objectives build them, from the run's own tokenizer."""
    a = tok.encode(text, add_special_tokens=False).ids
    b = tok.encode(pair, add_special_tokens=False).ids if pair is not None else None
    t = tok.token_to_id
    if family in ("bert", "albert"):
        cls, sep = (t("[CLS]"), t("[SEP]")) if t("[CLS]") is not None else (t("<s>"), t("</s>"))
        ids = [cls] + a + [sep] + (b + [sep] if b is not None else [])
        return ids, [0] * (len(a) + 2) + [1] * (len(ids) - len(a) - 2)
    if family == "roberta":
        ids = [t("<s>")] + a + [t("</s>")] + ([t("</s>")] + b + [t("</s>")] if b is not None else [])
        return ids, [0] * len(ids)
    if family == "t5":
        ids = a + [t("</s>")] + (b + [t("</s>")] if b is not None else [])
        return ids, [0] * len(ids)
    if family == "bart":
        ids = [t("<s>")] + a + [t("</s>")] + ([t("</s>")] + b + [t("</s>")] if b is not None else [])
        return ids, [0] * len(ids)
    return a, [0] * len(a)


ENCODERS = ("bert", "albert", "roberta")
DECODERS = ("gpt", "llama", "mixtral")


@pytest.mark.parametrize("family", ENCODERS + DECODERS + ("t5", "bart"))
def test_autotokenizer_and_model_on_raw_text_equal_nlpt(family, exported):
    from nlpt.engine import load_run

    run, out = exported(family)
    model, tok, _ = load_run(run)
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    declared = {"cls_token", "sep_token", "mask_token", "pad_token", "unk_token"} if family in ENCODERS else \
        {"eos_token", "pad_token"} if family in ("t5", "bart") else {"eos_token", "bos_token"}
    assert all(getattr(hf_tok, role) is not None for role in declared), {r: getattr(hf_tok, r) for r in declared}
    pairs = PAIRS if family in ENCODERS + ("t5", "bart") else None
    hf_tok.padding_side = "right"
    if hf_tok.pad_token is None:
        hf_tok.pad_token = hf_tok.eos_token
    enc = hf_tok(TEXTS, pairs, padding=True, return_tensors="pt")
    rows = [_training_ids(tok, family, a, b) for a, b in zip(TEXTS, pairs or [None] * len(TEXTS))]
    for i, (ids, types) in enumerate(rows):  # the template adds exactly what training inputs had
        n = int(enc["attention_mask"][i].sum())
        assert enc["input_ids"][i, :n].tolist() == ids
        if family in ("bert", "albert"):
            assert enc["token_type_ids"][i, :n].tolist() == types
        else:
            assert "token_type_ids" not in enc
    with torch.no_grad():
        if family in ("bert", "albert"):
            ref = transformers.AutoModelForPreTraining.from_pretrained(out).eval()(**enc)
            for i, (ids, types) in enumerate(rows):
                mlm, sentence = model(torch.tensor([ids]), None, torch.tensor([types]))
                torch.testing.assert_close(mlm, ref.prediction_logits[i, :len(ids)], atol=1e-4, rtol=0)
                theirs = ref.seq_relationship_logits if family == "bert" else ref.sop_logits
                torch.testing.assert_close(sentence[0], theirs[i], atol=1e-4, rtol=0)
        elif family == "roberta":
            ref = transformers.AutoModelForMaskedLM.from_pretrained(out).eval()(**enc).logits
            for i, (ids, _) in enumerate(rows):
                mlm, _ = model(torch.tensor([ids]))
                torch.testing.assert_close(mlm, ref[i, :len(ids)], atol=1e-4, rtol=0)
        elif family in DECODERS:
            ref = transformers.AutoModelForCausalLM.from_pretrained(out).eval()(**enc).logits
            for i, (ids, _) in enumerate(rows):
                mine = model(torch.tensor([ids]))["logits"][0]
                torch.testing.assert_close(mine, ref[i, :len(ids)], atol=1e-4, rtol=0)
        else:
            hf = transformers.AutoModelForSeq2SeqLM.from_pretrained(out).eval()
            start = hf.config.decoder_start_token_id
            dec = torch.tensor([[start, 5, 9, 7]] * len(TEXTS))
            ref = hf(**enc, decoder_input_ids=dec).logits
            for i, (ids, _) in enumerate(rows):
                mine = model(torch.tensor([ids]), dec[i:i + 1])
                torch.testing.assert_close(mine[0], ref[i], atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", ENCODERS + DECODERS + ("t5", "bart"))
def test_config_names_the_tokenizers_special_ids(family, exported):
    """config.json's bos/eos/pad ids are the exported tokenizer's tokens of those roles (transformers fills in its
    class defaults for ids a config leaves out: RoBERTa's 0 and 2 for <s> and </s>)."""
    _, out = exported(family)
    config = transformers.AutoConfig.from_pretrained(out)
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    checked = 0
    for role in ("bos", "eos", "pad"):
        token = getattr(hf_tok, f"{role}_token")
        named = getattr(config, f"{role}_token_id", None)
        if token is not None and named is not None:
            assert named == hf_tok.convert_tokens_to_ids(token), (role, named, token)
            checked += 1
    assert checked >= (2 if family in ("roberta", "t5", "bart") + DECODERS else 1)


@pytest.mark.parametrize("family", ENCODERS)
def test_fill_mask_pipeline_equals_nlpt_fill_mask(family, exported):
    run, out = exported(family)
    pipe = transformers.pipeline("fill-mask", model=out, tokenizer=out)
    text = f"the {pipe.tokenizer.mask_token} of the river"
    code, stdout, err = nlpt("pretrain", "fill-mask", run, text, "--top-k", 3, "--json")
    assert code == 0, err
    mine = json.loads(stdout)[0]["masks"][0]["predictions"]
    theirs = pipe(text, top_k=3)
    from nlpt.engine import load_run

    _, tok, _ = load_run(run)
    assert [tok.token_to_id(p["token"]) for p in mine] == [t["token"] for t in theirs]
    assert [p["p"] for p in mine] == pytest.approx([t["score"] for t in theirs], abs=1e-4)


@pytest.mark.parametrize("family", DECODERS)
def test_text_generation_pipeline_equals_nlpt_sample_greedy(family, exported):
    run, out = exported(family)
    prompt = "the city of"
    code, stdout, err = nlpt("pretrain", "sample", run, "--prompt", prompt, "--temperature", 0, "--max-new-tokens", 12)
    assert code == 0, err
    pipe = transformers.pipeline("text-generation", model=out, tokenizer=out)
    hf = pipe(prompt, max_new_tokens=12, min_new_tokens=12, do_sample=False)[0]["generated_text"]
    assert stdout.rstrip("\n") == hf.rstrip("\n") and len(hf) > len(prompt)


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_generate_equals_nlpt_greedy_decoding(family, exported):
    """`generate` (transformers 5 has no text2text pipeline) on AutoTokenizer's input = nlpt's greedy decoding
    (what `nlpt pretrain infill` runs); the decoded text equals `infill`'s for BART."""
    from nlpt.engine import load_run
    from nlpt.engine.inference import greedy

    run, out = exported(family)
    model, tok, _ = load_run(run)
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    hf = transformers.AutoModelForSeq2SeqLM.from_pretrained(out).eval()
    gap = "<mask>" if family == "bart" else "<extra_id_0>"
    text = f"the city {gap} of the river"
    enc = hf_tok(text, return_tensors="pt")
    n = 20
    theirs = hf.generate(**enc, max_new_tokens=n, do_sample=False, num_beams=1)[0, 1:].tolist()
    start = hf.config.decoder_start_token_id
    mine = greedy(model, enc["input_ids"], start, hf.config.eos_token_id, n)[0]
    eos = hf.config.eos_token_id
    assert mine[:len(theirs)] == theirs and (len(theirs) == n or theirs[-1] == eos)
    if family == "bart":
        code, stdout, err = nlpt("pretrain", "infill", run, text, "--max-new-tokens", n, "--json")
        assert code == 0, err
        full = greedy(model, enc["input_ids"], start, eos, min(max(n, 2 * enc["input_ids"].shape[1]), 63))[0]
        assert json.loads(stdout)[0]["output"] == hf_tok.decode(full, skip_special_tokens=True)


# ---------------------------------------------------------------------------------------------
# --init from tiny transformers models

def _hf_models():
    """name -> (transformers model class, config, tokenizer key), tiny, built here."""
    t = transformers
    dec = dict(vocab_size=320, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
               intermediate_size=64, max_position_embeddings=64)
    enc = dict(vocab_size=320, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
               max_position_embeddings=64)
    s2s = dict(vocab_size=320, d_model=32, d_kv=16, num_heads=2, d_ff=64, num_layers=2, num_decoder_layers=2)
    models = {
        "gpt2": (t.GPT2LMHeadModel, t.GPT2Config(vocab_size=320, n_embd=32, n_layer=2, n_head=2, n_positions=64), "bpe"),
        "llama": (t.LlamaForCausalLM, t.LlamaConfig(**dec, rope_theta=500000.0), "bpe"),
        "mistral": (t.MistralForCausalLM, t.MistralConfig(**dec, sliding_window=None), "bpe"),
        "qwen2": (t.Qwen2ForCausalLM, t.Qwen2Config(**dec, tie_word_embeddings=True), "bpe"),
        "mixtral": (t.MixtralForCausalLM, t.MixtralConfig(**dec, num_local_experts=4, num_experts_per_tok=2), "bpe"),
        "bert": (t.BertForPreTraining, t.BertConfig(**enc, pad_token_id=0), "wp"),
        "roberta": (t.RobertaForMaskedLM, t.RobertaConfig(**{**enc, "max_position_embeddings": 66}, pad_token_id=0), "bpe"),
        "albert": (t.AlbertForPreTraining, t.AlbertConfig(**enc, embedding_size=16, pad_token_id=0), "wp"),
        "t5": (t.T5ForConditionalGeneration, t.T5Config(**s2s, pad_token_id=0, eos_token_id=3, decoder_start_token_id=0), "t5"),
        "t5-v1.1": (t.T5ForConditionalGeneration, t.T5Config(**s2s, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                                                              pad_token_id=0, eos_token_id=3, decoder_start_token_id=0), "t5"),
        "bart": (t.BartForConditionalGeneration, t.BartConfig(vocab_size=320, d_model=32, encoder_layers=2, decoder_layers=2,
                                                              encoder_attention_heads=2, decoder_attention_heads=2,
                                                              encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                                                              pad_token_id=0, bos_token_id=2, eos_token_id=3,
                                                              decoder_start_token_id=3, forced_eos_token_id=None), "bpe"),
    }
    assert list(models) == HF_NAMES
    return models


# the names of _hf_models(), written out: building its configs at collection would load transformers' models
HF_NAMES = ["gpt2", "llama", "mistral", "qwen2", "mixtral", "bert", "roberta", "albert", "t5", "t5-v1.1", "bart"]


@pytest.fixture(scope="module")
def hf_source(files, tmp_path_factory):
    """name -> a saved transformers folder (random weights, the norms and biases perturbed) with a tokenizer.json."""
    made = {}

    def get(name):
        if name not in made:
            cls, config, tok = _hf_models()[name]
            torch.manual_seed(0)
            model = perturbed(cls(config).eval(), 0.1, vectors_only=True)
            path = tmp_path_factory.mktemp(name) / "hf"
            model.save_pretrained(str(path))
            shutil.copyfile(files[tok], path / "tokenizer.json")
            made[name] = (str(path), model)
        return made[name]

    return get


def _logits(name, model, ids):
    """transformers' or nlpt's model on the same input -> comparable logits [T, V]."""
    theirs = isinstance(model, transformers.PreTrainedModel)
    if name in ("t5", "t5-v1.1", "bart"):
        dec = torch.tensor([[0, 5, 9, 7]])
        return model(input_ids=ids, decoder_input_ids=dec).logits[0] if theirs else model(ids, dec)[0]
    if name in ("bert", "albert", "roberta"):
        if theirs:
            out = model(input_ids=ids)
            return out.prediction_logits[0] if hasattr(out, "prediction_logits") else out.logits[0]
        return model(ids)[0]
    return model(input_ids=ids).logits[0] if theirs else model(ids)["logits"][0]


@pytest.mark.parametrize("name", HF_NAMES)
def test_init_logits_equal_transformers_before_the_first_step(name, hf_source):
    from nlpt.engine.init_source import load_init_weights, read_init_source
    from nlpt.models import build

    path, hf = hf_source(name)
    src = read_init_source(path)
    model = build(src.config).eval()
    assert load_init_weights(model, {"source": path, "kind": "hf"}) == [] or name in ("bert", "albert")
    ids = torch.tensor([[4, 17, 93, 250, 31, 8, 77, 5]])
    with torch.no_grad():
        mine, theirs = _logits(name, model, ids), _logits(name, hf, ids)
    assert mine.abs().max() > 1e-3
    torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=0)


def _init_run(files, path, run, steps, lr, *extra):
    return nlpt("pretrain", files["corpus"], "--init", path, "-o", run, "--context", 32, "--max-steps", steps,
                "--lr", lr, "--warmup", 0, "--schedule", "constant", "--weight-decay", 0, "--eval-batches", 0,
                *COMMON, *extra)


@pytest.mark.parametrize("name", HF_NAMES)
def test_init_run_records_the_source_and_its_export_round_trips(name, hf_source, files, tmp_path):
    """One step at lr 1e-9 from --init: the run starts at step 0 with the source's tokenizer, records the source,
    and its export holds the source's tensors (to 1e-6) under the source's names."""
    from safetensors.torch import load_file

    path, _ = hf_source(name)
    run, out = str(tmp_path / "run"), str(tmp_path / "hf")
    code, _, err = _init_run(files, path, run, 1, 1e-9, "--export-hf", out)
    assert code == 0, err
    with open(os.path.join(run, "config.json")) as fh:
        cfg = json.load(fh)
    assert cfg["train"]["init"] == {"source": os.path.abspath(path), "kind": "hf"}
    with open(os.path.join(run, "metrics.jsonl")) as fh:
        assert json.loads(fh.readline())["step"] == 1
    with open(os.path.join(run, "tokenizer.json"), "rb") as a, open(os.path.join(path, "tokenizer.json"), "rb") as b:
        assert a.read() == b.read()
    with open(os.path.join(path, "config.json")) as a, open(os.path.join(out, "config.json")) as b:
        assert json.load(a)["model_type"] == json.load(b)["model_type"]
    source, back = load_file(os.path.join(path, "model.safetensors")), load_file(os.path.join(out, "model.safetensors"))
    shared = [k for k in back if k in source]
    assert len(shared) >= 0.9 * len(back), (sorted(back)[:5], sorted(source)[:5])
    for k in shared:
        torch.testing.assert_close(back[k], source[k], atol=1e-6, rtol=0, msg=k)


@pytest.mark.slow
@pytest.mark.parametrize("name", HF_NAMES)
def test_continued_pretraining_lowers_held_out_loss(name, hf_source, files, tmp_path):
    path, _ = hf_source(name)
    before, after = str(tmp_path / "before"), str(tmp_path / "after")
    code, _, err = _init_run(files, path, before, 1, 1e-9)
    assert code == 0, err
    code, _, err = _init_run(files, path, after, 40, 3e-3, "--token-dir", os.path.join(before, "tokens"))
    assert code == 0, err

    def val(run):
        with open(os.path.join(run, "metrics.jsonl")) as fh:
            return [r for r in map(json.loads, fh) if r["split"] == "val"][-1]["loss"]

    assert val(after) < val(before) - 0.3, (val(before), val(after))


def test_init_refuses_what_contradicts_the_source(hf_source, files, tmp_path):
    path, _ = hf_source("gpt2")
    run = str(tmp_path / "run")
    for extra, words in ((["--layers", 3], "--layers 3 contradicts --init"), (["--arch", "llama-mini"], "--arch contradicts"),
                         (["--context", 65], "--context 65 exceeds"), (["--tokenizer", files["wp"]], "is not the vocabulary"),
                         (["--sentence-head", "nsp"], "--sentence-head applies to encoders")):
        code, _, err = _init_run(files, path, run, 1, 1e-9, *extra)
        assert code == 2 and words in err and "Traceback" not in err, (extra, err)
        assert not os.path.exists(run), extra
    code, _, err = _init_run(files, path, run, 1, 1e-9, "--layers", 2, "--tokenizer", files["bpe"])
    assert code == 0, err  # a flag equal to the source's and the source's own vocabulary are fine
    code, _, err = nlpt("pretrain", files["corpus"], "--init", str(tmp_path / "nowhere"), "-o", str(tmp_path / "r2"),
                        "--max-steps", 1)
    assert code == 1 and "nowhere" in err and len(err.strip().splitlines()) == 1, err
    distil = tmp_path / "distilbert"  # a layout nlpt's encoder cannot hold: refused before anything is written
    transformers.DistilBertForMaskedLM(transformers.DistilBertConfig(
        vocab_size=320, dim=32, n_layers=1, n_heads=2, hidden_dim=64, max_position_embeddings=64)).save_pretrained(str(distil))
    shutil.copyfile(files["wp"], distil / "tokenizer.json")
    code, _, err = _init_run(files, str(distil), str(tmp_path / "r3"), 1, 1e-9)
    assert code == 1 and "cannot continue this encoder model" in err and len(err.strip().splitlines()) == 1, err
    assert not os.path.exists(tmp_path / "r3")


def test_init_from_an_nlpt_run_and_checkpoint(hf_source, files, tmp_path):
    """An nlpt run (or one of its step-N checkpoints) as the source: the same weights, step 0 again."""
    from safetensors.torch import load_file

    path, _ = hf_source("llama")
    first = str(tmp_path / "first")
    code, _, err = _init_run(files, path, first, 2, 1e-3, "--checkpoint-every", 1, "--keep-last", 0)
    assert code == 0, err
    for source in (first, os.path.join(first, "checkpoints", "step-1")):
        run = str(tmp_path / f"from-{os.path.basename(source)}")
        code, _, err = _init_run(files, source, run, 1, 1e-9)
        assert code == 0, err
        with open(os.path.join(run, "config.json")) as fh:
            assert json.load(fh)["train"]["init"]["kind"] == ("run" if source == first else "checkpoint")
        step = "step-2" if source == first else "step-1"
        a = load_file(os.path.join(first, "checkpoints", step, "model.safetensors"))
        b = load_file(os.path.join(run, "checkpoints", "step-1", "model.safetensors"))
        for k in a:
            torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0, msg=k)


def test_init_from_a_folder_with_only_vocab_txt(hf_source, files, tmp_path):
    """A BERT folder with BERT's vocab.txt instead of tokenizer.json: the run trains on (and keeps) that vocabulary."""
    from tokenizers import Tokenizer

    path, _ = hf_source("bert")
    folder = tmp_path / "bert-vocab-txt"
    shutil.copytree(path, folder)
    os.unlink(folder / "tokenizer.json")
    vocab = Tokenizer.from_file(files["wp"]).get_vocab(with_added_tokens=True)
    (folder / "vocab.txt").write_text("".join(t + "\n" for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])),
                                      encoding="utf-8")
    run = str(tmp_path / "run")
    code, _, err = _init_run(files, str(folder), run, 1, 1e-9)
    assert code == 0, err
    assert Tokenizer.from_file(os.path.join(run, "tokenizer.json")).get_vocab(with_added_tokens=True) == vocab


def test_a_character_tokenizer_exports_without_inventing_special_tokens(files, tmp_path):
    """A character tokenizer's `<unk>` is a vocabulary entry text never produces: it is not declared, so
    AutoTokenizer splits a literal "<unk>" into characters as nlpt does."""
    from nlpt.tokenizer.hf_folder import write_tokenizer_folder
    from nlpt.tokenizer.chars import char_tokenizer

    tok = char_tokenizer([files["corpus"]], 100)
    assert write_tokenizer_folder(tok, str(tmp_path), "gpt", None, 64) == {}
    hf = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    text = "the <unk> city\n"
    assert hf(text)["input_ids"] == tok.encode(text, add_special_tokens=False).ids
