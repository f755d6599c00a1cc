"""Vocabularies: word counts shared by every trainer, and subword tokenizers."""
