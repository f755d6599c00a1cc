"""Vocabularies: the word counts shared by every trainer (tokenizers live in `nlpt.tokenizer`)."""
