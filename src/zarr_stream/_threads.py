"""A thread pool of daemon threads, for every background thread a stream runs.

``concurrent.futures.ThreadPoolExecutor`` would do, but for exit: its workers are told to
stop, and joined, before ``atexit`` handlers run, and it refuses new work from then on. A
stream the program never closed is closed by an ``atexit`` handler (after every other
thread of the program has finished with it), and that close needs its encoder, writer and
fsync threads. Daemon threads stay until the interpreter goes down, and never hold it up.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

__all__ = ["DaemonPool", "in_pool_thread"]

P = ParamSpec("P")
T = TypeVar("T")
_Task = tuple[Future[Any], Callable[[], Any]] | None

_ours = threading.local()  # .pool is set in our workers


def in_pool_thread() -> bool:
    """Whether the calling thread is a worker of some ``DaemonPool``."""
    return getattr(_ours, "pool", False)


class DaemonPool(Executor):
    """``workers`` daemon threads named ``name-0``, ``name-1``, ... running submitted calls in order.

    Examples
    --------
    >>> pool = DaemonPool(2, "doc")
    >>> pool.submit(sum, [1, 2, 3]).result()
    6
    >>> pool.shutdown()
    """

    def __init__(self, workers: int, name: str) -> None:
        self._tasks: queue.SimpleQueue[_Task] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a DaemonPool after shutdown()")
            self._tasks.put((future, lambda: fn(*args, **kwargs)))
        return future

    @property
    def closed(self) -> bool:
        """True once ``shutdown`` has been called: no more work is taken."""
        return self._closed

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._tasks.put(None)  # after the tasks already queued
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _work(self) -> None:
        _ours.pool = True
        while (task := self._tasks.get()) is not None:
            future, call = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as error:
                future.set_exception(error)
            else:
                future.set_result(result)
            del task, future, call  # drop references to the task's arguments (slabs) at once
