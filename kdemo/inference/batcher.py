"""A micro-batcher: single-text predictions from concurrent callers, run as padded batches on one thread.

A web server that answers each ``/predict`` request on its own thread runs many small forward passes at once: on a
2-core CPU they fight over the cores (every request's intra-op threads, the GIL) and each pays the whole per-call
cost of a forward pass. :class:`MicroBatcher` instead queues the requests and serves them from one worker thread:
requests for the same model that arrive within ``max_wait_s`` of each other run as one length-sorted, padded batch
(:meth:`kdemo.inference.predictor.Predictor.predict_proba` on a list), and requests for different models are
served in turn, oldest first, never at the same time.

Gradio's own ``batch=True`` cannot do this for kdemo: a batched event function receives only the first request's
``gr.Request`` (``gradio.blocks.Blocks.call_function``), so it cannot keep per-session models apart.

Two predictors are batched together only when they share the same model module and tokenizer objects and the same
``maxlen``, ``precision`` and ``task`` (:func:`batch_key`), e.g. sessions whose predictors come from
:func:`kdemo.inference.shared_models.load_shared` on the same folder; single texts and sentence pairs are batched
apart. Results agree with one-at-a-time prediction
within float32 rounding (padding is masked; tests check 1e-5).
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from kdemo.errors import DataError, KdemoError

log = logging.getLogger("kdemo.batcher")


class BatcherClosed(KdemoError):
    """The micro-batcher was closed (the server is shutting down) before the request ran."""


def batch_key(predictor) -> tuple:
    """The key under which requests may share a batch: same weights, tokenizer and settings.

    Args:
        predictor: A :class:`~kdemo.inference.predictor.Predictor`.

    Returns:
        A hashable tuple; two predictors with equal keys compute the same outputs for the same text.
    """
    return (id(predictor.model), id(predictor.tokenizer), predictor.maxlen, predictor.precision, predictor.task)


def _check_item(item) -> Any:
    """One text or one ``(text_a, text_b)`` pair of strings; anything else is refused before it is queued."""
    if isinstance(item, str):
        return item
    if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(t, str) for t in item):
        return tuple(item)
    raise DataError(f"Expected one text or a (text_a, text_b) pair of strings. Received: {type(item).__name__}.")


@dataclass(eq=False)
class _Request:
    predictor: Any
    item: Any
    key: tuple
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    queued_at: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """Serve single predictions from many threads as batches on one worker thread.

    Args:
        max_batch_size: Most requests run in one forward pass.
        max_wait_s: Seconds the oldest waiting request may be held for others to join its batch (a batch that is
            full runs at once). A few milliseconds: long enough for a burst of concurrent clients to meet, short
            against a forward pass.
        threads: Intra-op torch threads of the worker thread (``torch.set_num_threads`` is per thread): an int, a
            function returning one before each batch (e.g. 1 while a training job uses the cores), or None for
            torch's default.
        name: The worker thread's name.

    Raises:
        ValueError: If ``max_batch_size`` < 1 or ``max_wait_s`` < 0.
    """

    def __init__(self, max_batch_size: int = 64, max_wait_s: float = 0.004, *,
                 threads: int | Callable[[], int] | None = None, name: str = "kdemo-predict"):
        if max_batch_size < 1:
            raise ValueError(f"Expected max_batch_size >= 1. Received: max_batch_size={max_batch_size}.")
        if max_wait_s < 0:
            raise ValueError(f"Expected max_wait_s >= 0 (seconds). Received: max_wait_s={max_wait_s}.")
        self.max_batch_size = int(max_batch_size)
        self.max_wait_s = float(max_wait_s)
        self.threads = threads
        self.name = name
        self._pending: collections.deque[_Request] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._worker: threading.Thread | None = None
        #: Sizes of the batches run so far (counts per size), for tests and benchmarks.
        self.batch_sizes: collections.Counter[int] = collections.Counter()

    # -- callers -----------------------------------------------------------------------------------------------
    def submit(self, predictor, item) -> concurrent.futures.Future:
        """Queue one prediction; returns at once.

        Args:
            predictor: The :class:`~kdemo.inference.predictor.Predictor` to use.
            item: One text or a ``(text_a, text_b)`` pair.

        Returns:
            A future whose result is ``predictor.predict_proba(item)``: float32 of shape ``(num_outputs,)``, or the
            exception that prediction raised for this item.

        Raises:
            DataError: If ``item`` is not a text or a pair of texts.
            BatcherClosed: If :meth:`close` was called.
        """
        item = _check_item(item)
        # single texts and sentence pairs never share a batch (a list is either texts or pairs)
        request = _Request(predictor, item, (*batch_key(predictor), isinstance(item, tuple)))
        with self._cond:
            if self._closed:
                raise BatcherClosed("Expected a running predictor service. Received: a request after shutdown. Restart the app.")
            self._pending.append(request)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name=f"{self.name}-worker", daemon=True)
                self._worker.start()
            self._cond.notify_all()
        return request.future

    def predict_proba(self, predictor, item, timeout: float | None = None) -> np.ndarray:
        """Blocking :meth:`submit`: the class probabilities (or regression values) of one text or pair.

        Args:
            predictor: The predictor to use.
            item: One text or a ``(text_a, text_b)`` pair.
            timeout: Seconds to wait for the result (None: no limit).

        Returns:
            Float32 array of shape ``(num_outputs,)``, as ``predictor.predict_proba(item)``.

        Raises:
            Whatever ``predictor.predict_proba(item)`` raises for this item; TimeoutError after ``timeout``.
        """
        return self.submit(predictor, item).result(timeout)

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop the worker: requests still queued fail with :class:`BatcherClosed`; a running batch finishes.

        Args:
            timeout: Seconds to wait for the worker thread to end.
        """
        with self._cond:
            self._closed = True
            dropped = list(self._pending)
            self._pending.clear()
            self._cond.notify_all()
            worker = self._worker
        for request in dropped:
            request.future.set_exception(BatcherClosed(
                "Expected a running predictor service. Received: a shutdown while this request waited. Try again."))
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    # -- worker ------------------------------------------------------------------------------------------------
    def _take_batch(self) -> list[_Request] | None:
        """Wait for work and return the next batch (the oldest request's key, oldest first); None when closed."""
        with self._cond:
            while not self._pending:
                if self._closed:
                    return None
                if not self._cond.wait(timeout=60) and not self._pending:  # idle for a minute: the thread ends
                    self._worker = None  # submit starts a new one
                    return None
            key = self._pending[0].key
            deadline = self._pending[0].queued_at + self.max_wait_s
            while not self._closed:
                same = sum(1 for r in self._pending if r.key == key)
                left = deadline - time.monotonic()
                if same >= self.max_batch_size or left <= 0:
                    break
                self._cond.wait(timeout=left)
            batch = [r for r in self._pending if r.key == key][: self.max_batch_size]
            for request in batch:
                self._pending.remove(request)
            return batch

    def _work(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            batch = [r for r in batch if r.future.set_running_or_notify_cancel()]
            if not batch:
                continue
            threads = self.threads() if callable(self.threads) else self.threads
            if threads and torch.get_num_threads() != threads:
                torch.set_num_threads(int(threads))  # this thread's intra-op pool only
            self.batch_sizes[len(batch)] += 1
            self._run(batch)
            del batch  # the requests hold their predictor: do not keep the last model alive while idle

    @staticmethod
    def _run(batch: list[_Request]) -> None:
        predictor = batch[0].predictor
        try:
            if len(batch) == 1:
                results = [predictor.predict_proba(batch[0].item)]
            else:
                results = list(predictor.predict_proba([r.item for r in batch]))
        except Exception as exc:  # noqa: BLE001 - one bad item must fail its own caller only: retry one by one
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            log.warning("a batch of %d failed; running its requests one at a time", len(batch))
            for request in batch:
                MicroBatcher._run([request])
            return
        for request, out in zip(batch, results):
            request.future.set_result(out)
