"""word2vec: skip-gram and CBOW with negative sampling or hierarchical softmax (`w2v`), their numba
kernels (`kernels`), the Huffman tree of hierarchical softmax and the sampling tables."""
