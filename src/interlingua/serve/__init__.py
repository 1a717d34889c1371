"""``interlingua serve``: an encoder behind HTTP, for clients that speak OpenAI's embeddings API.

Modules, bottom to top:
    config    ServeConfig and the command-line flags (no heavy imports)
    index     the /search sentences: read, embed, FAISS, save / load
    batcher   concurrent requests merged into shared forward passes
    align     the evaluation suite's word aligner on one pair
    schemas   request bodies
    page      the HTML page served at /
    app       the FastAPI app: routes, errors, auth
    server    load everything and run uvicorn

``docs/serving.md`` describes the API.
"""
from __future__ import annotations
