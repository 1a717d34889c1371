"""The batcher alone, on a fake embedding function that records its calls: what is merged, what is not."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from interlingua.serve.batcher import Batcher, length_groups


class Recorder:
    """Embeds sentence s as [len(s), hash of its language] and remembers each call's sentences."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[list[str], str | None]] = []
        self.fail_on = fail_on

    def __call__(self, sentences: list[str], lang: str | None) -> np.ndarray:
        self.calls.append((list(sentences), lang))
        if self.fail_on in sentences:
            raise RuntimeError("boom")
        return np.array([[len(s), len(lang or "")] for s in sentences], dtype=np.float32)


def run_jobs(batcher: Batcher, jobs: list[tuple[list[str], int, str | None]]) -> list:
    async def main() -> list:
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.embed(s, n, lang) for s, n, lang in jobs), return_exceptions=True)
        finally:
            await batcher.stop()

    return asyncio.run(main())


@pytest.fixture
def executor():
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def test_concurrent_jobs_share_one_call_and_get_their_own_rows(executor: ThreadPoolExecutor) -> None:
    embed = Recorder()
    jobs = [(["a" * (i + 1)] * (i % 3 + 1), 4, None) for i in range(10)]
    results = run_jobs(Batcher(embed, executor, window_s=0.05), jobs)
    assert len(embed.calls) == 1 and len(embed.calls[0][0]) == sum(len(s) for s, _, _ in jobs)
    for (sentences, _, _), got in zip(jobs, results):
        np.testing.assert_array_equal(got[:, 0], [len(s) for s in sentences])


def test_without_batching_every_job_has_its_own_call(executor: ThreadPoolExecutor) -> None:
    embed = Recorder()
    run_jobs(Batcher(embed, executor, window_s=0.05, enabled=False), [(["a"], 3, None)] * 6)
    assert [len(s) for s, _ in embed.calls] == [1] * 6


def test_the_token_budget_cuts_batches_and_keeps_the_order(executor: ThreadPoolExecutor) -> None:
    """Budget 100, jobs of 30 tokens: 3 + 3 + 3 + 1 jobs; an 150-token job runs alone."""
    embed = Recorder()
    jobs = [([str(i)], 30, None) for i in range(10)] + [(["big"], 150, None)]
    run_jobs(Batcher(embed, executor, window_s=0.05, max_tokens=100), jobs)
    assert [s for s, _ in embed.calls] == [["0", "1", "2"], ["3", "4", "5"], ["6", "7", "8"], ["9"], ["big"]]


def test_languages_are_embedded_apart(executor: ThreadPoolExecutor) -> None:
    embed = Recorder()
    results = run_jobs(Batcher(embed, executor, window_s=0.05), [(["x"], 3, "deu"), (["yy"], 3, "fra"),
                                                                 (["z"], 3, "deu")])
    assert sorted(embed.calls) == [(["x", "z"], "deu"), (["yy"], "fra")]
    assert [r.tolist() for r in results] == [[[1, 3]], [[2, 3]], [[1, 3]]]


def test_a_failed_call_fails_its_jobs_only_and_the_loop_lives_on(executor: ThreadPoolExecutor) -> None:
    embed = Recorder(fail_on="bad")
    batcher = Batcher(embed, executor, window_s=0.0)

    async def main() -> tuple:
        await batcher.start()
        try:
            first = await asyncio.gather(batcher.embed(["bad"], 3), return_exceptions=True)
            second = await batcher.embed(["good"], 3)
            return first[0], second
        finally:
            await batcher.stop()

    error, vectors = asyncio.run(main())
    assert isinstance(error, RuntimeError) and vectors.tolist() == [[4, 0]]
    assert batcher.stats.as_dict()["requests"] == 2 and batcher.stats.calls == 2


def test_a_failed_merged_call_reruns_each_job_alone(executor: ThreadPoolExecutor) -> None:
    """Four concurrent jobs merged (window 50 ms), one of them poisoned: the merged call fails, the four rerun
    alone, and only the poisoned one gets the error. Calls: 1 merged + 4 alone."""
    embed = Recorder(fail_on="bad")
    batcher = Batcher(embed, executor, window_s=0.05)
    jobs = [(["a"], 3, None), (["bb", "bad"], 6, None), (["ccc"], 3, None), (["d"], 3, None)]
    results = run_jobs(batcher, jobs)
    assert isinstance(results[1], RuntimeError)
    assert [r[:, 0].tolist() for i, r in enumerate(results) if i != 1] == [[1], [3], [1]]
    assert [s for s, _ in embed.calls] == [["a", "bb", "bad", "ccc", "d"], ["a"], ["bb", "bad"], ["ccc"], ["d"]]
    assert batcher.stats.calls == 5 and batcher.stats.largest == 4


def test_length_groups_keep_long_sentences_from_padding_short_ones() -> None:
    """[150, 15, 15, 15] in one batch pads to 4 x 150 = 600 tokens; apart it is 150 + 3 x 15 = 195."""
    assert length_groups([15, 150, 15, 15]) == [[1], [0, 2, 3]]
    assert length_groups([10, 20, 11, 40, 5]) == [[3, 1], [2, 0], [4]]  # 20·2 ≥ 40; 11·2 < 40; 10·2 ≥ 11; 5·2 < 11
    assert length_groups([7]) == [[0]] and length_groups([]) == []
