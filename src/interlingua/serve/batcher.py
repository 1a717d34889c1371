"""Request batching: sentences of requests that arrive together go through one forward pass.

Every request's sentences become a :class:`Job` on a queue. One loop takes the oldest job and gathers the
jobs behind it until ``window_s`` has passed *since the oldest arrived* or their tokens reach ``max_tokens``;
the merged sentences are embedded in one call on the model thread and each job gets its own rows back.
While a batch runs, new requests queue up, so under load the next batch is taken at once (their wait
already exceeds the window) and the batch size grows with the load, without any delay added then.

Jobs for different languages (models with language embeddings) are embedded in separate calls, since a call
has one language row. A job larger than ``max_tokens`` runs alone; it is never split across batches.
When a merged call fails, each of its jobs is run again alone, so only a job that fails by itself gets the
error (one bad input must not fail the requests that happened to share its batch).
With ``enabled=False`` every job runs alone, which is the baseline ``benchmarks/serve_load.py`` compares with.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger("interlingua.serve")

# (sentences, lang) -> (len(sentences), D) unit vectors; runs on the model thread.
EmbedFn = Callable[[list[str], "str | None"], np.ndarray]


@dataclass
class Job:
    sentences: list[str]
    tokens: int
    lang: str | None
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)


@dataclass
class BatchStats:
    """Counters for ``/health`` and the tests: how many requests shared how many embedding calls."""

    requests: int = 0
    calls: int = 0  # reruns of a failed batch's jobs included
    sentences: int = 0
    largest: int = 0  # most requests merged into one call

    def as_dict(self) -> dict:
        mean = self.requests / self.calls if self.calls else 0.0
        return {"requests": self.requests, "calls": self.calls, "sentences": self.sentences,
                "largest_batch": self.largest, "mean_requests_per_call": round(mean, 3)}


def length_groups(lengths: list[int], ratio: float = 2.0) -> list[list[int]]:
    """Indices in groups of similar length, longest first: a group ends where a length falls below its
    longest / ``ratio``, so padding at most doubles a row's work. ``SentenceEncoder.embed``'s token budget
    alone would pad three short requests merged with one long one to the long one's length."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and lengths[i] * ratio >= lengths[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


class Batcher:
    """Merges concurrent :meth:`embed` calls; :meth:`start` inside the event loop, :meth:`stop` at shutdown."""

    def __init__(self, embed: EmbedFn, executor: Executor, *, window_s: float = 0.005, max_tokens: int = 16384,
                 enabled: bool = True) -> None:
        self._embed, self._executor = embed, executor
        self.window_s, self.max_tokens, self.enabled = window_s, max_tokens, enabled
        self.stats = BatchStats()
        self._queue: asyncio.Queue[Job] | None = None
        self._held: deque[Job] = deque()  # taken from the queue but over the last batch's budget
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="interlingua-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def embed(self, sentences: list[str], tokens: int, lang: str | None = None) -> np.ndarray:
        """(len(sentences), D) unit vectors, computed together with whatever else is waiting."""
        if self._queue is None:
            raise RuntimeError("Batcher.start() was not called")
        job = Job(sentences, tokens, lang, asyncio.get_running_loop().create_future())
        self.stats.requests += 1
        await self._queue.put(job)
        return await job.future

    async def _run(self) -> None:
        while True:
            await self._serve(await self._gather())

    async def _next(self, timeout: float | None) -> Job | None:
        if self._held:
            return self._held.popleft()
        assert self._queue is not None
        if timeout is None:
            return await self._queue.get()
        if timeout <= 0:
            return self._queue.get_nowait() if not self._queue.empty() else None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    async def _gather(self) -> list[Job]:
        """The oldest job and those behind it, within the window and the token budget."""
        first = await self._next(None)
        assert first is not None
        jobs, tokens = [first], first.tokens
        deadline = first.arrived + self.window_s
        while self.enabled and tokens < self.max_tokens:
            job = await self._next(deadline - time.monotonic())
            if job is None:
                break
            if tokens + job.tokens > self.max_tokens:
                self._held.appendleft(job)  # first in the next batch
                break
            jobs.append(job)
            tokens += job.tokens
        return jobs

    async def _serve(self, jobs: list[Job]) -> None:
        # A future is done here only when the task awaiting it was cancelled (at shutdown, say). A client that
        # disconnects cancels nothing: Starlette lets its handler run on, so its sentences are still embedded.
        jobs = [j for j in jobs if not j.future.done()]
        by_lang: dict[str | None, list[Job]] = {}
        for job in jobs:
            by_lang.setdefault(job.lang, []).append(job)
        for lang, group in by_lang.items():
            self.stats.largest = max(self.stats.largest, len(group))
            await self._call(group, lang)

    async def _call(self, group: list[Job], lang: str | None) -> None:
        """``group``'s sentences in one embedding call; when it fails, each job again alone."""
        sentences = [s for job in group for s in job.sentences]
        self.stats.calls += 1
        self.stats.sentences += len(sentences)
        try:
            vectors = await asyncio.get_running_loop().run_in_executor(self._executor, self._embed, sentences, lang)
        except Exception as exc:  # the loop lives on for the next jobs either way
            if len(group) == 1:
                log.exception("embedding a request of %d sentences failed", len(sentences))
                _settle(group, error=exc)
                return
            log.warning("embedding %d requests together failed (%r): running each alone", len(group), exc)
            for job in group:
                if not job.future.done():
                    await self._call([job], lang)
        else:
            _settle(group, vectors=vectors)


def _settle(jobs: list[Job], vectors: np.ndarray | None = None, error: Exception | None = None) -> None:
    """Each job its own rows of ``vectors`` (in order), or ``error``; a cancelled job is skipped."""
    start = 0
    for job in jobs:
        if not job.future.done():
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(vectors[start: start + len(job.sentences)])
        start += len(job.sentences)
