"""The official ``openai`` client against the live server: what it decodes equals ``interlingua.encode``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import interlingua
from tests.serve.conftest import DEU, ENG, LiveServer

SENTENCES = DEU[:4] + ENG[:4]  # the test server takes 8 inputs a request

openai = pytest.importorskip("openai")


@pytest.mark.parametrize("encoding_format", [None, "float"])  # None: the client asks for base64 and decodes it
def test_openai_client_gets_encodes_vectors(server: LiveServer, run_dir: Path, encoding_format: str | None) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    extra = {} if encoding_format is None else {"encoding_format": encoding_format}
    response = client.embeddings.create(model="tiny", input=SENTENCES, **extra)
    got = np.array([d.embedding for d in sorted(response.data, key=lambda d: d.index)], dtype=np.float32)
    diff = float(np.abs(got - interlingua.encode(run_dir, SENTENCES, quantize=False)).max())
    print(f"\nopenai client ({encoding_format or 'base64'}): {len(got)} vectors, max |diff| = {diff:.2e}")
    assert diff < 1e-5
    assert response.usage.prompt_tokens == sum(len(s.split()) + 2 for s in SENTENCES)
    with pytest.raises(openai.NotFoundError, match="not served"):
        client.embeddings.create(model="text-embedding-3-small", input="dog")
    with pytest.raises(openai.BadRequestError, match="empty"):
        client.embeddings.create(model="tiny", input=[])
