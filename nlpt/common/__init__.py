"""Conventions shared by every command: errors, atomic output, progress, threads."""
