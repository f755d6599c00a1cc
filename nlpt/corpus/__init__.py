"""Corpora: the one streaming reader every command uses, plus corpus tools."""
