"""Tokenizers: text to token ids for the Transformer commands, in one place.

* `train`: `nlpt vocab --tokenizer bpe|wordpiece|char` (byte-level BPE and WordPiece trained with the
  Hugging Face `tokenizers` library; `chars` builds the character-level one).
* `files`: reading and writing `tokenizer.json` (and the older `vocab.txt` / `vocab.json` + `merges.txt`
  files of a Hugging Face folder), `TokenizerFile` (one read per run), and the hash that keys the token files.
* `specials`: special tokens found by name ([CLS] or <s>, [SEP] or </s>, …), the newline token.
* `sentinels`: T5's `<extra_id_N>` tokens: their names, their ids, adding them.
* `inputs`: lines of text to the ids the token files hold; text and text pairs to ids in a family's format,
  as `nlpt finetune` feeds its encoders.
* `hf_folder`: the tokenizer files of a Hugging Face export, with the family's template.

The package sits beside `nlpt.vocab`, above `nlpt.corpus` (training reads through the corpus reader) and
below every trainer and the engine. It imports neither torch nor numpy, and `tokenizers` only inside the
functions that use it, so `nlpt params` and `--help` never load it.
"""
