"""fastText-style subword embeddings: words plus hashed character n-grams trained on word2vec's
trainer (`subword`), and fastText's `.bin` model format (`fasttext_bin`)."""
