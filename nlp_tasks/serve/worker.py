"""Dynamic batching: one worker thread per served model groups concurrent requests into one call.

A request handler (on the event loop) puts a :class:`Job` (an operation and its items) on the
model's queue and awaits its future; the model is only ever called from its worker thread, never
on the event loop, and one model runs one call at a time. The worker takes the next job and, when
its operation is ``batched``, keeps taking jobs of the same operation until the batch holds
``max_batch`` items or ``batch_wait_ms`` has passed since the first job arrived (TF Serving's
batch timeout). Requests that arrive while the model is busy wait in the queue, so under load a
batch fills without waiting at all. Jobs of another operation keep their place in line.

If a batched call fails with a user's mistake (a character the language model never saw, say),
each job of the batch is run again on its own, so only the request at fault gets the error.

When the server stops, :meth:`ModelWorker.drain` answers every request still waiting for the
model (queued, or in a call that cannot be interrupted) with :class:`Unavailable` (503) at once,
and refuses new ones: a client is told, and the process need not wait for a long generation.
Jobs whose request is already answered are dropped rather than run.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import queue
import sys
import threading
import time
import traceback
from typing import Any

from nlp_tasks.errors import UserError
from nlp_tasks.serve.spec import Limits, Operation

STOPPING = "the server is shutting down: the request was not answered; try again later"


@dataclasses.dataclass
class Job:
    operation: Operation
    items: list
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


class InternalError(Exception):
    """An unexpected failure inside a model call (logged with its traceback on the server's stderr)."""


class Unavailable(Exception):
    """The server is stopping: the request was not (or will not be) run; answered 503."""


class ModelWorker:
    """The thread that runs every call of one model (see the module docstring)."""

    def __init__(self, name: str, limits: Limits, operations=()):
        self.name, self.limits = name, limits
        self.operations = list(operations)  # their warm-up runs first, in the worker thread
        self.queue: queue.Queue = queue.Queue()
        self.calls = 0  # model calls made, and the items they held: the batching at work
        self.items = 0
        self.pending: set[asyncio.Future] = set()  # futures of requests not answered yet (event loop only)
        self.draining = False
        self._thread = threading.Thread(target=self._serve, name=f"model-{name}", daemon=True)
        self._thread.start()

    async def submit(self, operation: Operation, items: list) -> list:
        """Run ``items`` through ``operation`` in the worker thread; one result per item."""
        if self.draining:
            raise Unavailable(STOPPING)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.add(future)
        try:
            self.queue.put(Job(operation, items, loop, future))
            return await future
        finally:
            self.pending.discard(future)

    def drain(self) -> None:
        """Answer every waiting request :class:`Unavailable` and refuse new ones (on the event loop)."""
        self.draining = True
        for future in list(self.pending):
            if not future.done():
                future.set_exception(Unavailable(STOPPING))

    def stop(self, timeout: float = 1.0) -> None:
        """End the thread after its current call; wait at most ``timeout`` seconds for it (it is
        a daemon thread: a model call cannot be interrupted, and the process does not wait for it)."""
        self.queue.put(None)
        self._thread.join(timeout=timeout)

    # ------------------------------------------------------------ the worker thread
    def _serve(self) -> None:
        for operation in self.operations:
            for items in operation.warmup:
                try:
                    operation.run(items)
                except Exception as err:  # noqa: BLE001 - a request will meet it again and say so
                    print(f"warning: warming up {self.name}/{operation.name} failed: {err}", file=sys.stderr)
        waiting: collections.deque = collections.deque()  # taken from the queue, not yet run
        while True:
            job = waiting.popleft() if waiting else self.queue.get()
            if job is None:
                return
            batch = [job]
            if job.operation.batched and self.limits.batching:
                batch = self._gather(job, waiting)
            batch = [job for job in batch if not job.future.done()]  # answered already (drained): not run
            if batch:
                self._run(batch)

    def _gather(self, first: Job, waiting: collections.deque) -> list[Job]:
        """``first`` and the jobs of the same operation that fit in the batch, from the jobs already
        taken and then from the queue until the batch is full or the wait is over."""
        batch, size, limit = [first], len(first.items), self.limits.max_batch
        for job in list(waiting):
            if job is not None and job.operation is first.operation and size + len(job.items) <= limit:
                waiting.remove(job)
                batch.append(job)
                size += len(job.items)
        deadline = time.monotonic() + self.limits.batch_wait_ms / 1000
        while size < limit:
            try:
                job = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is not None and job.operation is first.operation and size + len(job.items) <= limit:
                batch.append(job)
                size += len(job.items)
            else:
                waiting.append(job)
                if job is None:
                    break
        return batch

    def _run(self, batch: list[Job]) -> None:
        operation = batch[0].operation
        items = [item for job in batch for item in job.items]
        try:
            results = self._call(operation, items)
        except UserError as err:
            if len(batch) > 1:  # find the request at fault: each on its own
                for job in batch:
                    self._run([job])
                return
            return self._answer(batch[0], error=err)
        except Exception as err:  # noqa: BLE001 - the server keeps running; the log has the traceback
            print(f"error in {self.name}/{operation.name}:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            for job in batch:
                self._answer(job, error=InternalError(f"{type(err).__name__} in the model call"))
            return
        start = 0
        for job in batch:
            self._answer(job, result=results[start:start + len(job.items)])
            start += len(job.items)

    def _call(self, operation: Operation, items: list) -> list:
        self.calls += 1
        self.items += len(items)
        results = operation.run(items)
        if len(results) != len(items):
            raise RuntimeError(f"{operation.name} gave {len(results)} results for {len(items)} items")
        return results

    @staticmethod
    def _answer(job: Job, result: Any = None, error: Exception | None = None) -> None:
        def settle():
            if job.future.done():  # the client went away
                return
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)

        try:
            job.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the event loop is closed: the server is shutting down
            pass
