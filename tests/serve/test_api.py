"""The HTTP API on a live server: vectors equal ``interlingua.encode``'s, concurrent requests share forward
passes, search and alignment answer what the library computes, and every bad request is a 4xx."""
from __future__ import annotations

import asyncio
import base64
import json
import random
import threading
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import interlingua
from interlingua.cli import build_parser
from interlingua.encoding import load_encoder
from interlingua.errors import ConfigError
from interlingua.evaluation.align import default_layer, predict_links
from interlingua.evaluation.word_alignment import GoldPair
from interlingua.serve.app import embeddings, error_response, host_name, search
from interlingua.serve.config import API_KEY_ENV, ServeConfig, from_args
from interlingua.serve.schemas import EmbeddingsRequest, SearchRequest
from tests.serve.conftest import DEU, ENG, Chunked, LiveServer, live_server

LONG = " ".join(["the big red house"] * 12)  # 48 words + 2 specials, over the tiny model's 32 positions


def reference(run_dir: Path, sentences: list[str]) -> np.ndarray:
    return interlingua.encode(run_dir, sentences, quantize=False)


def vectors_of(body: dict) -> np.ndarray:
    rows = []
    for item in sorted(body["data"], key=lambda d: d["index"]):
        e = item["embedding"]
        rows.append(np.frombuffer(base64.b64decode(e), dtype="<f4") if isinstance(e, str) else np.asarray(e))
    return np.stack(rows)


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_embeddings_equal_encode_and_count_tokens(server: LiveServer, run_dir: Path, encoding_format: str) -> None:
    """Word-level tokenizer, no prefix: "der hund" is <s> der hund </s> = 4 tokens, "the cat sleeps" 5: usage 9."""
    status, body = server.post("/v1/embeddings", {"input": ["der hund", "the cat sleeps"], "model": "tiny",
                                                  "encoding_format": encoding_format})
    assert status == 200, body
    assert body["object"] == "list" and body["model"] == "tiny"
    assert body["usage"] == {"prompt_tokens": 9, "total_tokens": 9}
    got = vectors_of(body)
    np.testing.assert_allclose(got, reference(run_dir, ["der hund", "the cat sleeps"]), atol=1e-5)
    status, one = server.post("/v1/embeddings", {"input": "der hund", "encoding_format": encoding_format})
    np.testing.assert_allclose(vectors_of(one)[0], got[0], atol=1e-5)


def test_concurrent_requests_share_forward_passes(server: LiveServer, run_dir: Path) -> None:
    """16 clients at once within the 20 ms window: fewer embedding calls than requests, each its own vectors."""
    sentences = (DEU + ENG) * 2
    before = server.request("GET", "/health")[1]["batching"]
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(len(sentences))

    def client(i: int) -> None:
        barrier.wait()
        status, body = server.post("/v1/embeddings", {"input": [sentences[i]]})
        assert status == 200, body
        results[i] = vectors_of(body)[0]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(sentences))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = server.request("GET", "/health")[1]["batching"]
    assert after["requests"] - before["requests"] == len(sentences)
    assert after["calls"] - before["calls"] < len(sentences) / 2, (before, after)
    assert after["largest_batch"] >= 2
    got = np.stack([results[i] for i in range(len(sentences))])
    np.testing.assert_allclose(got, reference(run_dir, sentences), atol=1e-5)


def test_overlength_input_is_truncated_by_default(server: LiveServer, run_dir: Path) -> None:
    status, body = server.post("/v1/embeddings", {"input": LONG})
    assert status == 200, body
    assert body["usage"]["prompt_tokens"] == 32  # the model's max_length
    np.testing.assert_allclose(vectors_of(body), reference(run_dir, [LONG]), atol=1e-5)


# Bodies with lone surrogates are JSON bytes: as Python strings in the parameters, pytest could not print them.
BAD = [
    ("POST", "/v1/embeddings", b'{"input": "der hund"', 400, "invalid JSON"),
    ("POST", "/v1/embeddings", b"", 400, "body is empty"),
    ("POST", "/v1/embeddings", b"[1, 2]", 400, "body"),
    ("POST", "/v1/embeddings", {}, 400, "input: Field required"),
    ("POST", "/v1/embeddings", {"input": None}, 400, "not null"),
    ("POST", "/v1/embeddings", {"input": {"a": 1}}, 400, "not an object"),
    ("POST", "/v1/embeddings", {"input": ["dog", True]}, 400, "input[1] must be a string, not a boolean"),
    ("POST", "/v1/embeddings", {"input": ""}, 400, "empty"),
    ("POST", "/v1/embeddings", {"input": []}, 400, "empty"),
    ("POST", "/v1/embeddings", {"input": ["der hund", " "]}, 400, "input[1]"),
    ("POST", "/v1/embeddings", {"input": ["dog"] * 9}, 400, "at most 8"),
    ("POST", "/v1/embeddings", {"input": "dog", "model": "gpt-4"}, 404, "not served"),
    ("POST", "/v1/embeddings", {"input": LONG, "truncate": False}, 413, "model's length of 32"),
    ("POST", "/v1/embeddings", {"input": 5}, 400, "not a number"),
    ("POST", "/v1/embeddings", {"input": [[8, 9]]}, 400, "token-id"),
    ("POST", "/v1/embeddings", {"input": [8, 9]}, 400, "token-id"),
    ("POST", "/v1/embeddings", {"input": "dog", "encoding_format": "hex"}, 400, "encoding_format"),
    ("POST", "/v1/embeddings", {"input": "dog", "dimensions": 7}, 400, "32-dimensional"),
    ("POST", "/v1/embeddings", {"input": "x" * 70_000}, 413, "body over"),
    ("POST", "/v1/embeddings", Chunked(json.dumps({"input": "x" * 70_000}).encode()), 413, "body over"),
    ("POST", "/v1/embeddings", b'{"input": "dog \\ud800"}', 400, "input: lone surrogate U+D800 at character 4"),
    ("POST", "/v1/embeddings", b'{"input": ["the dog", "\\udfff"]}', 400, "U+DFFF at character 0 of item 1"),
    ("POST", "/v1/embeddings", b'{"input": "dog", "model": "\\ud800"}', 400, "model: lone surrogate"),
    ("POST", "/v1/embeddings", {"input": "dog", "dimensions": True}, 400, "dimensions: Input should be a valid int"),
    ("POST", "/v1/embeddings", {"input": "dog", "truncate": 1}, 400, "truncate: Input should be a valid bool"),
    ("POST", "/search", {"query": "dog", "k": 0}, 400, "k"),
    ("POST", "/search", {"query": "dog", "k": 21}, 400, "at most 20"),
    ("POST", "/search", {"query": "dog", "k": True}, 400, "k: Input should be a valid integer"),
    ("POST", "/search", {"query": "dog", "k": "5"}, 400, "k: Input should be a valid integer"),
    ("POST", "/search", b'{"query": "\\ud800"}', 400, "query: lone surrogate"),
    ("POST", "/search", b'{"query": "dog", "lang": "\\ud800"}', 400, "lang: lone surrogate"),
    ("POST", "/search", b'{"query": "dog", "lang": ["eng", "\\udc00"]}', 400, "lang: lone surrogate U+DC00"),
    ("POST", "/search", {"query": "dog", "lang": "xyz"}, 400, "xyz is not in the index"),
    ("POST", "/search", {"query": "  "}, 400, "empty"),
    ("POST", "/search", {"k": 3}, 400, "query"),
    ("POST", "/align", {"src": "", "tgt": "the dog"}, 400, "no words"),
    ("POST", "/align", {"src": "le chien", "tgt": "the dog", "layer": 9}, 400, "layers 0"),
    ("POST", "/align", {"src": "le chien", "tgt": "the dog", "method": "magic"}, 400, "method"),
    ("POST", "/align", {"src": "a " * 130, "tgt": "the dog"}, 400, "limit is 128"),
    ("POST", "/align", b'{"src": "\\ud800", "tgt": "the dog"}', 400, "src: lone surrogate"),
    ("POST", "/align", b'{"src": "le chien", "tgt": ["the", "\\ud800"]}', 400, "tgt: lone surrogate"),
    ("POST", "/align", {"src": "le chien", "tgt": "the dog", "layer": True}, 400, "layer: Input should be a valid"),
    ("GET", "/nowhere", None, 404, "Not Found"),
    ("GET", "/v1/embeddings", None, 405, "Method Not Allowed"),
]


@pytest.mark.parametrize("method,path,body,status,fragment", BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_requests_are_4xx_with_a_message(server: LiveServer, method: str, path: str, body: object, status: int,
                                             fragment: str) -> None:
    got, answer = server.request(method, path, body)
    assert got == status, answer
    assert fragment in answer["error"]["message"]


def test_chunked_bodies_are_counted_against_the_body_limit(server: LiveServer) -> None:
    """A chunked body has no Content-Length: under the limit it is served, over it 413, and the connection
    still answers the next request (the server skips the rest of the body)."""
    conn = server.connect()
    small = Chunked(json.dumps({"input": ["der hund"] * 8}).encode())
    assert server.post("/v1/embeddings", small, conn=conn)[0] == 200
    status, answer = server.post("/v1/embeddings", Chunked(json.dumps({"input": "dog " * 20_000}).encode()), conn=conn)
    assert status == 413 and "65536 bytes" in answer["error"]["message"], answer
    assert server.request("GET", "/health", conn=conn)[0] == 200
    conn.close()


def test_error_responses_render_any_message() -> None:
    """A message quoting a lone surrogate (an unknown ``lang``, say) still renders: as a JSON escape."""
    message = f"lang {chr(0xD800)} is not in the index"
    assert json.loads(error_response(400, message).body)["error"]["message"] == message


def test_search_and_embeddings_count_tokens_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokenizing is slow for long inputs; on the event loop it would hold up every other request."""
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    threads: list[threading.Thread] = []

    def count_tokens(sentences: list[str]) -> list[int]:
        threads.append(threading.current_thread())
        return [3] * len(sentences)

    async def embed(sentences: list[str], tokens: int, lang: str | None) -> np.ndarray:
        return np.ones((len(sentences), 4), dtype=np.float32)

    state = SimpleNamespace(config=ServeConfig(), count_tokens=count_tokens, batcher=SimpleNamespace(embed=embed),
                            encoder=SimpleNamespace(dim=4, max_length=32, lang_row=lambda lang: None),
                            index=SimpleNamespace(search=lambda vector, k, langs: []))
    asyncio.run(search(state, SearchRequest(query="dog")))
    asyncio.run(embeddings(state, EmbeddingsRequest(input=["dog"])))
    assert len(threads) == 2 and threading.main_thread() not in threads  # asyncio.run's loop is the main thread


def test_host_header_must_name_this_machine(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: a page from evil.example, its name re-pointed at 127.0.0.1, calls the server with
    ``Host: evil.example``; bound to loopback without a key, the server answers only its own names."""
    status, answer = server.request("GET", "/health", headers={"Host": f"evil.example:{server.port}"})
    assert status == 400 and "--allowed-host" in answer["error"]["message"], answer
    for host in (f"localhost:{server.port}", "127.0.0.1", f"[::1]:{server.port}", "LocalHost"):
        assert server.request("GET", "/health", headers={"Host": host})[0] == 200, host
    assert (host_name("[::1]:8000"), host_name("Example.ORG:80"), host_name("localhost")) == ("[::1]", "example.org",
                                                                                             "localhost")
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    assert ServeConfig(allowed_host=["Box.lan"]).trusted_hosts == {"localhost", "127.0.0.1", "[::1]", "box.lan"}
    for unchecked in (ServeConfig(api_key="k"), ServeConfig(host="0.0.0.0"), ServeConfig(allowed_host=["*"])):
        assert unchecked.trusted_hosts is None


def test_a_thousand_mixed_requests_get_no_5xx_and_the_server_stays_up(server: LiveServer) -> None:
    """1,000 requests from 4 keep-alive clients, a third good, the rest drawn from the bad ones above."""
    rng = random.Random(0)
    good = [("POST", "/v1/embeddings", {"input": rng.sample(ENG + DEU, 3)}, 200, ""),
            ("POST", "/search", {"query": "der hund", "k": 3}, 200, ""),
            ("POST", "/align", {"src": "le chien", "tgt": "the dog"}, 200, "")]
    plan = [rng.choice(good) if rng.random() < 1 / 3 else rng.choice(BAD) for _ in range(1000)]
    seen: Counter = Counter()
    wrong: list = []
    lock = threading.Lock()

    def client(part: list) -> None:
        conn = server.connect()
        for method, path, body, status, _ in part:
            got, _answer = server.request(method, path, body, conn=conn)
            with lock:
                seen[got] += 1
                if got != status:
                    wrong.append((path, body, got))
        conn.close()

    threads = [threading.Thread(target=client, args=(plan[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"\nsent={len(plan)} answered={sum(seen.values())} by status={dict(sorted(seen.items()))} "
          f"5xx={sum(n for s, n in seen.items() if s >= 500)}")
    assert sum(seen.values()) == 1000 and not wrong, wrong[:5]
    assert all(s < 500 for s in seen)
    assert server.request("GET", "/health")[0] == 200


def test_search_finds_the_sentence_itself_and_filters_by_language(server: LiveServer) -> None:
    status, body = server.post("/search", {"query": "der hund", "k": 5})
    assert status == 200, body
    first = body["results"][0]
    assert (first["sentence"], first["lang"]) == ("der hund", "deu") and first["score"] == pytest.approx(1, abs=1e-5)
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 5
    _, eng = server.post("/search", {"query": "der hund", "k": 20, "lang": "eng"})
    assert {r["lang"] for r in eng["results"]} == {"eng"} and len(eng["results"]) == len(ENG)
    _, two = server.post("/search", {"query": "der hund", "k": 20, "lang": ["eng", "fra"]})
    assert {r["lang"] for r in two["results"]} == {"eng", "fra"}


def test_align_gives_the_suites_links(server: LiveServer, run_dir: Path) -> None:
    """A sentence with itself links each word to itself; another pair gets what ``predict_links`` finds."""
    status, same = server.post("/align", {"src": "the cat sleeps", "tgt": "the cat sleeps"})
    assert status == 200, same
    assert same["links"] == [[0, 0], [1, 1], [2, 2]]
    assert np.diag(same["similarity"]) == pytest.approx([1, 1, 1], abs=1e-3)
    src, tgt = "le chat dog".split(), "the small blue dog runs".split()
    _, other = server.post("/align", {"src": src, "tgt": " ".join(tgt), "method": "itermax"})
    enc = load_encoder(run_dir, quantize=False)
    layer = default_layer(2)
    links, _ = predict_links(enc, [GoldPair(src, tgt, frozenset(), frozenset())], (None, None), [layer], "itermax")
    assert other["layer"] == layer and np.shape(other["similarity"]) == (3, 5)
    assert sorted(map(tuple, other["links"])) == sorted(links[layer][0])


def test_health_models_and_page(server: LiveServer) -> None:
    status, health = server.request("GET", "/health")
    assert status == 200 and health["model"] == "tiny" and health["dim"] == 32
    assert health["index"] == {"sentences": 14, "langs": {"deu": 5, "eng": 5, "fra": 4}}  # blank and duplicate dropped
    assert server.request("GET", "/v1/models")[1]["data"][0]["id"] == "tiny"
    status, page = server.request("GET", "/")
    assert status == 200 and 'id="search-form"' in page


def test_api_key_and_cors(run_dir: Path) -> None:
    cfg = ServeConfig(model=str(run_dir), api_key="s3cret", cors_origin=["http://example.org"])
    with live_server(cfg) as live:
        body = {"input": "dog"}
        assert live.post("/v1/embeddings", body)[0] == 401
        for header in ("Bearer wrong", "Basic s3cret", "Bearer", "s3cret"):
            status, answer = live.post("/v1/embeddings", body, headers={"Authorization": header})
            assert status == 401 and "API key" in answer["error"]["message"], header
        assert live.post("/v1/embeddings", body, headers={"Authorization": "Bearer s3cret"})[0] == 200
        assert live.request("GET", "/health")[0] == 401
        assert live.request("GET", "/")[0] == 200  # the page itself holds nothing; it sends the key it is given
        status, answer = live.post("/search", {"query": "dog"}, headers={"Authorization": "Bearer s3cret"})
        assert status == 404 and "no index" in answer["error"]["message"]
        conn = live.connect()
        conn.request("OPTIONS", "/v1/embeddings", headers={"Origin": "http://example.org",
                                                           "Access-Control-Request-Method": "POST"})
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("access-control-allow-origin") == "http://example.org"


def test_no_cors_headers_unless_asked(server: LiveServer) -> None:
    conn = server.connect()
    conn.request("POST", "/v1/embeddings", body=json.dumps({"input": "dog"}),
                 headers={"Origin": "http://example.org", "Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("access-control-allow-origin") is None


def test_cli_flags_reach_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    args = build_parser().parse_args(["serve", "--model", "m", "--index", "deu:a.txt", "--index", "b.tsv",
                                      "--no-batching", "--port", "0", "--overlength", "error",
                                      "--allowed-host", "box.lan"])
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    cfg = from_args(args)
    assert (cfg.model, cfg.index, cfg.batching, cfg.port, cfg.host) == ("m", ["deu:a.txt", "b.tsv"], False, 0,
                                                                        "127.0.0.1")
    assert cfg.api_key == "from-env" and cfg.overlength == "error" and args.fn.__name__ == "cmd_serve"
    assert cfg.allowed_host == ["box.lan"]
    with pytest.raises(ConfigError, match="--batch-size"):
        ServeConfig(batch_size=0)
    monkeypatch.delenv(API_KEY_ENV)
    assert ServeConfig(host="0.0.0.0").exposed and not ServeConfig(host="0.0.0.0", api_key="k").exposed
