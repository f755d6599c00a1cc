"""Transformer architectures (config dataclasses + named registry) and their arithmetic.

Importing this package must stay cheap: no numpy, numba or torch here. Model
code that needs torch lives in modules imported only by the commands that train.
"""

from nlpt.transformer.config import (
    ALIASES, FAMILIES, REGISTRY, BartConfig, DeepSeekConfig, EncoderConfig, Entry, GPTConfig, LlamaConfig, T5Config,
    from_hf_config, resolve,
)

__all__ = ["ALIASES", "FAMILIES", "REGISTRY", "BartConfig", "DeepSeekConfig", "EncoderConfig", "Entry", "GPTConfig",
           "LlamaConfig", "T5Config", "from_hf_config", "resolve"]
