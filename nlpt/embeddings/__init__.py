"""Static embeddings: the word2vec, GloVe and subword (fastText) trainers and what they share.

- `word2vec/`: skip-gram/CBOW with negative sampling or hierarchical softmax (trainer, numba kernels,
  Huffman tree, sampling tables);
- `glove/`: co-occurrence counting (in memory or spilled to disk), training records and AdaGrad training;
- `subword/`: character n-gram vectors on word2vec's trainer, and fastText's `.bin` file format;
- `training/`: the driver the trainers share (threads, progress, corpus stream, checkpoints) and the
  numba corpus encoder;
- `formats/`: vector files (word2vec text/binary, GloVe text), their number formatting and JSON sidecar;
- `evaluate.py`: analogies, word-pair similarity and neighbours; `loading.py`: any vectors file,
  fastText models included.
"""
