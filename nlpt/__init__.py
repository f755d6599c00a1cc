"""nlpt: a command-line toolkit for NLP pretraining.

Light on import on purpose: `nlpt --help` and the arithmetic commands must start
fast, so nothing here imports numpy, numba or torch.
"""

__version__ = "0.1.0"
