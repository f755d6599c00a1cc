"""Pretraining objectives (see `nlpt.engine.objective.Objective` for the contract).

`causal_lm.py` (GPT, Llama), `mlm.py` (MLM + NSP/SOP), `denoising.py` (T5 span
corruption, BART infilling), `batching.py` (padding shared with the evaluation and
finetune). The engine finds them by name through `nlpt.engine.objective.OBJECTIVES`.
Queries of a trained model live in `nlpt.engine.inference`, the finetune heads and
their objective in `nlpt.finetune.classification`, special tokens in `nlpt.tokenizer`.
"""
