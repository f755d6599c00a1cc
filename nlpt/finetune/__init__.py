"""`nlpt finetune`: downstream classification and regression on top of learnt representations.

Two kinds of representation go into the same task reader, training loop, metrics and run folder:
static word vectors (`static.py`: bag of embeddings, TextCNN) and pretrained Transformers
(`pretrained.py`: an `nlpt pretrain` run folder or a Hugging Face folder, frozen or fine-tuned).
`data.py` and `metrics.py` need no torch.
"""
