"""Items of an iterator produced in a worker thread, a few ahead of the one consuming them:
the next batch of a shard is read and decoded while the model works on this one.

PyTorch releases the interpreter lock while it computes (on the GPU it waits for the device
without it), so the worker's reading and decoding run in that time instead of after it. The
worker alone touches what the iterator reads (a shard file), so nothing is shared."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """`items` in order, produced up to `depth` ahead by one worker thread; an exception in
    the worker is raised here, where the item it failed on would have come; a consumer that
    stops early (close the generator: `contextlib.closing`) stops the worker and waits for it,
    so what it reads can be closed after."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple) -> bool:
        """Queue `entry` unless the consumer has stopped; whether it was queued."""
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            offer((_DONE, exc))

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        worker.join()
