"""Transformer architectures and their arithmetic, pure Python (no numpy, numba or torch: `nlpt params` and
`--help` import it).

- `configs`: one frozen config dataclass per family, and its JSON form (a run's config.json "model");
- `registry`: the named architectures (`nlpt params --list`) and name resolution;
- `hf_config`: a Hugging Face config.json read into a config;
- `config_file`: `config_from_path`, the one reader of config.json files and the folders holding them;
- `validate`: what every config must satisfy, wherever it came from;
- `flags` and `derive`: architecture flags applied to a config, and what follows from them;
- `params`, `memory`, `hardware`, `reported`, `taxonomy`, `report`: the counts, FLOPs, memory and the
  `nlpt params` document built from them.

Model code that needs torch lives in `nlpt.models`, imported only by the commands that train.
"""
