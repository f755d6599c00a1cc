"""The choices of `nlpt finetune`'s options, in a module without torch: `--help` and option parsing read them
before torch is imported, and the trainers check against the same tuples."""

ENCODERS = ("bag", "cnn")  # static vectors: bag of embeddings (fastText-supervised style) or TextCNN
POOLINGS = ("cls", "last", "mean")  # a pretrained model's sequence representation
HEADS = ("linear", "mlp")  # the new output layer
FORMATS = ("tsv", "csv", "jsonl")  # task files
