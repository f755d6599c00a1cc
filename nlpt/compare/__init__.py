"""Comparisons behind `nlpt compare`: every kind builds one `Table` (see `table.py`).

    architectures.py  registry/config.json/reported-only models: taxonomy, sizes, reported figures (pure Python)
    vectors.py        vector files: analogies, word similarity, neighbours (numpy)
    context.py        one word in several contexts: static vectors vs contextual models (numpy; torch lazily)
    runs.py           `nlpt pretrain`/`finetune` run folders: config.json + metrics.jsonl (pure Python)
    plot.py           the pictures for --plot (matplotlib, the optional extra `nlpt[plot]`)

Nothing here prints; the CLI renders the tables.
"""
