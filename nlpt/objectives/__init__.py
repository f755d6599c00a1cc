"""Training objectives (see `nlpt.engine.objective.Objective` for the contract).

`causal_lm.py` (GPT, Llama), `mlm.py` (MLM + NSP/SOP), `denoising.py` (T5 span
corruption, BART infilling), `classification.py` (finetune heads). The engine
finds them by name through `nlpt.engine.objective.OBJECTIVES`.
"""
