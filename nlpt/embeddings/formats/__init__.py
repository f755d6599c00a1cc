"""Vector files shared by every trainer and reader: word2vec text/binary and GloVe text (`vectors`),
their '%.9g' number formatting (`textfloat`) and the JSON sidecar that records how they were made."""
