"""Request bodies. ``EmbeddingsRequest`` is OpenAI's (plus two optional fields text-embeddings-inference has:
``truncate`` and, for models with language embeddings, ``lang``); unknown fields are ignored, as OpenAI-
compatible servers do.

Fields are strict: ``"k": true`` or ``"k": "5"`` is a 400, not k=1 or k=5. Every string (alone or in a list)
must be valid Unicode: JSON lets a body spell a lone surrogate (``"\\ud800"``), which has no UTF-8 form, so the
tokenizer and the response encoder would fail on it later with a 500.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from interlingua.evaluation.align import METHODS

Method = Literal[METHODS]  # type: ignore[valid-type]


def lone_surrogate(value: object) -> str | None:
    """Where ``value`` (a string or a list) first holds a string UTF-8 cannot encode, in words; else None."""
    items = [(None, value)] if isinstance(value, str) else enumerate(value) if isinstance(value, list) else []
    for i, item in items:
        if not isinstance(item, str):
            continue  # a non-string item is the route's or the type's error, with its own message
        try:
            item.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"U+{ord(item[exc.start]):04X} at character {exc.start}" + ("" if i is None else f" of item {i}")
    return None


class Request(BaseModel):
    model_config = ConfigDict(strict=True)

    @field_validator("*")
    @classmethod
    def _unicode_only(cls, value: Any) -> Any:
        where = lone_surrogate(value)
        if where is not None:  # the message names no text: the text itself cannot be encoded
            raise PydanticCustomError("lone_surrogate", "lone surrogate {where}: not valid Unicode text (a JSON "
                                      "\\uD800-\\uDFFF escape must be one half of a pair)", {"where": where})
        return value


class EmbeddingsRequest(Request):
    input: Any = Field(description="a string or a list of strings (checked by the route, for clearer messages)")
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None
    truncate: bool | None = Field(None, description="cut inputs to the model's length (default: the server's "
                                                    "--overlength); false answers 413 for a too-long input")
    lang: str | None = Field(None, description="ISO 639-3 code, for models with language embeddings")


class SearchRequest(Request):
    query: str
    k: int = Field(10, ge=1)
    lang: str | list[str] | None = Field(None, description="only sentences in this language (or these)")
    query_lang: str | None = Field(None, description="the query's language, for models with language embeddings")


class AlignRequest(Request):
    src: str | list[str]
    tgt: str | list[str]
    layer: int | None = Field(None, description="hidden layer (0 = embeddings); default round(2L/3)")
    method: Method = "argmax"
    src_lang: str | None = None
    tgt_lang: str | None = None
