"""Request bodies. ``EmbeddingsRequest`` is OpenAI's (plus two optional fields text-embeddings-inference has:
``truncate`` and, for models with language embeddings, ``lang``); unknown fields are ignored, as OpenAI-
compatible servers do."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from interlingua.evaluation.align import METHODS

Method = Literal[METHODS]  # type: ignore[valid-type]


class EmbeddingsRequest(BaseModel):
    input: Any = Field(description="a string or a list of strings (checked by the route, for clearer messages)")
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None
    truncate: bool | None = Field(None, description="cut inputs to the model's length (default: the server's "
                                                    "--overlength); false answers 413 for a too-long input")
    lang: str | None = Field(None, description="ISO 639-3 code, for models with language embeddings")


class SearchRequest(BaseModel):
    query: str
    k: int = Field(10, ge=1)
    lang: str | list[str] | None = Field(None, description="only sentences in this language (or these)")
    query_lang: str | None = Field(None, description="the query's language, for models with language embeddings")


class AlignRequest(BaseModel):
    src: str | list[str]
    tgt: str | list[str]
    layer: int | None = Field(None, description="hidden layer (0 = embeddings); default round(2L/3)")
    method: Method = "argmax"
    src_lang: str | None = None
    tgt_lang: str | None = None
