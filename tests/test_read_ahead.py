"""core.read_ahead: the items in order, the worker's error raised where its item would have
come, and a consumer that stops early stopping the worker."""

from __future__ import annotations

import threading
import time

import pytest

from cosmos_bench.core.read_ahead import read_ahead


def test_items_come_in_order_from_another_thread() -> None:
    seen = []

    def produce():
        for k in range(50):
            seen.append(threading.current_thread().name)
            yield k

    assert list(read_ahead(produce(), depth=3)) == list(range(50))
    assert set(seen) == {"read-ahead"}


def test_the_workers_error_is_raised_after_the_items_before_it() -> None:
    def produce():
        yield 1
        yield 2
        raise OSError("shard-00003.h5: truncated")

    got = []
    with pytest.raises(OSError, match="truncated"):
        for item in read_ahead(produce()):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_the_worker() -> None:
    produced = []

    def produce():
        for k in range(1000):
            produced.append(k)
            yield k

    items = read_ahead(produce(), depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    time.sleep(0.3)
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count < 10
    assert not any(t.name == "read-ahead" for t in threading.enumerate())


def test_a_consumer_error_stops_the_worker_before_its_source_closes() -> None:
    """infer_shard's order: the model fails, the read-ahead is closed (its worker joined),
    then the shard file; the worker never reads a closed file."""
    from contextlib import closing

    reads_after_close, closed = [], threading.Event()

    def produce():
        for k in range(100):
            if closed.is_set():
                reads_after_close.append(k)
            time.sleep(0.01)
            yield k

    with pytest.raises(RuntimeError, match="model failed"):
        try:
            with closing(read_ahead(produce(), depth=2)) as items:
                for item in items:
                    if item == 3:
                        raise RuntimeError("model failed")
        finally:
            closed.set()  # the shard file closes here
    time.sleep(0.1)
    assert reads_after_close == []
