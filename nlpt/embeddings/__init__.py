"""Static embeddings: word2vec, GloVe and subword trainers sharing vector I/O and evaluation."""
