"""The FastAPI application: OpenAI-style ``/v1/embeddings``, ``/search``, ``/align``, ``/health`` and the page.

Every error is ``{"error": {"message", "type", "param", "code"}}`` (OpenAI's shape) with a 4xx status for
anything wrong with the request: invalid JSON or fields 400, a missing or wrong key 401, an unknown model or
route 404, an input over the model's length (when not truncating) or a body over ``--max-body-bytes`` 413
(chunked ones too), a Host header other than this machine's 400 when bound to loopback without a key.
A 5xx means a bug, logged with its traceback; the server stays up either way.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlingua.encoding import SentenceEncoder
from interlingua.errors import InterlinguaError
from interlingua.serve.align import align_pair
from interlingua.serve.batcher import Batcher, length_groups
from interlingua.serve.config import ServeConfig
from interlingua.serve.index import SentenceIndex
from interlingua.serve.page import PAGE
from interlingua.serve.schemas import AlignRequest, EmbeddingsRequest, SearchRequest

log = logging.getLogger("interlingua.serve")
_PUBLIC = {("GET", "/")}  # the page holds no data; it asks for the key and sends it with every call


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped. An error message may quote what the client sent, and a
    lone surrogate there has no UTF-8 form: Starlette's UTF-8 rendering would raise and turn a 400 into a 500."""

    def render(self, content: object) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_response(status: int, message: str, param: str | None = None, code: str | None = None,
                   headers: dict | None = None) -> JSONResponse:
    kind = "authentication_error" if status == 401 else "invalid_request_error" if status < 500 else "server_error"
    return AsciiJSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}},
                             status_code=status, headers=headers)


@dataclass
class ServeState:
    """What the routes share: the encoder (used only on ``executor``'s one thread), the index and the batcher."""

    encoder: SentenceEncoder
    config: ServeConfig
    index: SentenceIndex | None
    executor: ThreadPoolExecutor
    batcher: Batcher

    @classmethod
    def create(cls, encoder: SentenceEncoder, config: ServeConfig, index: SentenceIndex | None) -> ServeState:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="interlingua-model")

        def embed(sentences: list[str], lang: str | None) -> np.ndarray:
            lengths = token_counts(encoder, sentences)
            out = np.empty((len(sentences), encoder.dim), dtype=np.float32)
            for rows in length_groups(lengths):
                out[rows] = encoder.embed([sentences[i] for i in rows], batch_size=config.batch_size, lang=lang)
            return out

        batcher = Batcher(embed, executor, window_s=config.batch_window_ms / 1000, max_tokens=config.batch_tokens,
                          enabled=config.batching)
        return cls(encoder, config, index, executor, batcher)

    def count_tokens(self, sentences: list[str]) -> list[int]:
        return token_counts(self.encoder, sentences)


def token_counts(encoder: SentenceEncoder, sentences: list[str]) -> list[int]:
    """Tokens each sentence takes in the model, special tokens and the model's prefix included, capped at its
    length (so a count equal to ``max_length`` means the input reached, maybe passed, the limit)."""
    return [len(ids) for ids in encoder.tokenize([encoder.prefix + s for s in sentences])]


def create_app(state: ServeState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await state.batcher.start()
        yield
        await state.batcher.stop()
        state.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="interlingua", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.serve = state
    _add_guards(app, state.config)
    _add_error_handlers(app)
    _add_routes(app, state)
    return app


def _key_matches(header: str, key: str) -> bool:
    scheme, _, token = header.partition(" ")
    # Digests first, so compare_digest sees equal lengths and the time taken says nothing about the key.
    given, wanted = hashlib.sha256(token.strip().encode()).digest(), hashlib.sha256(key.encode()).digest()
    return hmac.compare_digest(given, wanted) and scheme.lower() == "bearer"


def host_name(header: str) -> str:
    """The name in a Host header, port dropped: ``[::1]:8000`` -> ``[::1]``, ``LocalHost:80`` -> ``localhost``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.partition(":")[0]


class BodyLimit:
    """Pure ASGI: counts the body bytes the app reads and raises a 413 past ``limit``. A chunked body has no
    Content-Length for the guard to check up front, so only counting what arrives catches it; raised while
    FastAPI reads the body, the HTTPException reaches the error handlers (FastAPI re-raises those as they are)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise StarletteHTTPException(413, too_large(self.limit))
            return message

        await self.app(scope, counted, send)


def too_large(limit: int) -> str:
    return f"request body over {limit} bytes (--max-body-bytes)"


def _add_guards(app: FastAPI, cfg: ServeConfig) -> None:
    app.add_middleware(BodyLimit, limit=cfg.max_body_bytes)  # added first, so it runs last, after the guard
    hosts = cfg.trusted_hosts

    @app.middleware("http")
    async def guard(request: Request, call_next):
        host = request.headers.get("host")
        if hosts is not None and host is not None and host_name(host) not in hosts:
            return error_response(400, f"Host {host!r} is not this machine: a server on loopback without a key "
                                  "answers only localhost, 127.0.0.1 and [::1] (--allowed-host adds names)")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > cfg.max_body_bytes):
            return error_response(413, too_large(cfg.max_body_bytes))
        public = (request.method, request.url.path) in _PUBLIC
        if cfg.api_key and not public and not _key_matches(request.headers.get("authorization", ""), cfg.api_key):
            return error_response(401, "missing or wrong API key: send 'Authorization: Bearer KEY'",
                                  code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    if cfg.cors_origin:  # added last, so it runs first: preflight requests carry no key
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=cfg.cors_origin, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "invalid request", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        return f"invalid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}", None
    if not loc and first.get("type") == "missing":
        return "the request body is empty: send a JSON object", None
    where = ".".join(loc) or "body"
    return f"{where}: {first.get('msg')}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""), where


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.param, exc.code)

    @app.exception_handler(InterlinguaError)
    async def interlingua_error(request: Request, exc: InterlinguaError) -> JSONResponse:
        return error_response(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return error_response(400, message, param)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); see the server's log")


def _json_type(value: object) -> str:
    names = {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return names.get(type(value), "null")


def _inputs(req: EmbeddingsRequest, max_inputs: int) -> list[str]:
    texts = [req.input] if isinstance(req.input, str) else req.input
    if not isinstance(texts, list):
        raise ApiError(400, f"input must be a string or a list of strings, not {_json_type(texts)}", "input")
    if not texts:
        raise ApiError(400, "input is empty: send a string or a non-empty list of strings", "input")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        if isinstance(texts[bad], (int, list)) and not isinstance(texts[bad], bool):
            raise ApiError(400, "token-id input is not supported: send text", "input")
        raise ApiError(400, f"input[{bad}] must be a string, not {_json_type(texts[bad])}", "input")
    if len(texts) > max_inputs:
        raise ApiError(400, f"{len(texts)} inputs; at most {max_inputs} in one request (--max-inputs)", "input")
    empty = next((i for i, t in enumerate(texts) if not t.strip()), None)
    if empty is not None:
        raise ApiError(400, f"input[{empty}] is empty" if len(texts) > 1 else "input is an empty string", "input")
    return texts


def _check_model(name: str | None, cfg: ServeConfig) -> None:
    if name is not None and name not in (cfg.served_name, cfg.model):
        raise ApiError(404, f"model {name!r} is not served here; this server serves {cfg.served_name!r}", "model",
                       "model_not_found")


def _embedding(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":  # OpenAI's: the float32 little-endian bytes
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()


async def embeddings(state: ServeState, req: EmbeddingsRequest) -> Response:
    cfg, enc = state.config, state.encoder
    _check_model(req.model, cfg)
    texts = _inputs(req, cfg.max_inputs)
    if req.dimensions is not None and req.dimensions != enc.dim:
        raise ApiError(400, f"dimensions={req.dimensions}: this model gives {enc.dim}-dimensional vectors only",
                       "dimensions")
    enc.lang_row(req.lang)  # a model with language embeddings needs a known lang: ConfigError -> 400
    counts = await asyncio.to_thread(state.count_tokens, texts)  # 2048 long inputs take a while: not on the loop
    truncate = req.truncate if req.truncate is not None else cfg.overlength == "truncate"
    too_long = next((i for i, n in enumerate(counts) if n >= enc.max_length), None)
    if not truncate and too_long is not None:
        raise ApiError(413, f"input[{too_long}] reaches the model's length of {enc.max_length} tokens; shorten it "
                       "or send truncate=true", "input", "context_length_exceeded")
    vectors = await state.batcher.embed(texts, sum(counts), req.lang)
    data = [{"object": "embedding", "index": i, "embedding": _embedding(v, req.encoding_format)}
            for i, v in enumerate(vectors)]
    body = {"object": "list", "data": data, "model": cfg.served_name,
            "usage": {"prompt_tokens": sum(counts), "total_tokens": sum(counts)}}
    # json.dumps directly: FastAPI's generic encoder walks every float and is far slower on 384 x 2048 of them.
    return Response(json.dumps(body), media_type="application/json")


async def search(state: ServeState, req: SearchRequest) -> dict:
    if state.index is None:
        raise ApiError(404, "no index is loaded: start the server with --index FILE (or --index-file)")
    if not req.query.strip():
        raise ApiError(400, "query is empty", "query")
    if req.k > state.config.max_k:
        raise ApiError(400, f"k={req.k}; at most {state.config.max_k} (--max-k)", "k")
    state.encoder.lang_row(req.query_lang)
    [n] = await asyncio.to_thread(state.count_tokens, [req.query])  # a long query takes a while: not on the loop
    vector = (await state.batcher.embed([req.query], n, req.query_lang))[0]
    langs = [req.lang] if isinstance(req.lang, str) else req.lang
    hits = await asyncio.to_thread(state.index.search, vector, req.k, langs)
    return {"query": req.query, "model": state.config.served_name,
            "results": [{"id": h.id, "sentence": h.sentence, "lang": h.lang, "score": round(h.score, 6)}
                        for h in hits]}


async def align(state: ServeState, req: AlignRequest) -> dict:
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(
        state.executor, lambda: align_pair(state.encoder, req.src, req.tgt, layer=req.layer, method=req.method,
                                           langs=(req.src_lang, req.tgt_lang), max_words=state.config.align_max_words))
    return {**result, "model": state.config.served_name}


def health(state: ServeState) -> dict:
    enc, index = state.encoder, state.index
    return {"status": "ok", "model": state.config.served_name, "dim": enc.dim, "max_length": enc.max_length,
            "langs": enc.langs, "int8": enc.quantized,
            "index": None if index is None else {"sentences": len(index.sentences), "langs": index.lang_counts()},
            "batching": {"enabled": state.batcher.enabled, "window_ms": state.config.batch_window_ms,
                         "max_tokens": state.batcher.max_tokens, **state.batcher.stats.as_dict()}}


def _add_routes(app: FastAPI, state: ServeState) -> None:
    @app.post("/v1/embeddings")
    @app.post("/embeddings", include_in_schema=False)
    async def _embeddings(req: EmbeddingsRequest) -> Response:
        return await embeddings(state, req)

    @app.post("/search")
    async def _search(req: SearchRequest) -> dict:
        return await search(state, req)

    @app.post("/align")
    async def _align(req: AlignRequest) -> dict:
        return await align(state, req)

    @app.get("/health")
    async def _health() -> dict:
        return health(state)

    @app.get("/v1/models")
    async def _models() -> dict:
        return {"object": "list", "data": [{"id": state.config.served_name, "object": "model", "created": 0,
                                            "owned_by": "interlingua"}]}

    @app.get("/", response_class=HTMLResponse)
    async def _page() -> HTMLResponse:
        return HTMLResponse(PAGE)
