"""GloVe: co-occurrence counting (`cooccur`, spilled to sorted runs on disk beyond memory:
`cooccur_runs`), Stanford record files (`cooccur_records`), AdaGrad training (`glove`) and the
pipeline from corpus to vectors (`pipeline`)."""
