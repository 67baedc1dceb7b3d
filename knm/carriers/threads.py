"""The threads network carriers are asked on, which never keep a program from exiting.

`concurrent.futures.ThreadPoolExecutor` joins its workers when the interpreter exits, so a
carrier that never returns (a third-party carrier with no timeout of its own) would keep a
finished `knm search` — or any program that searched — running after it printed its results.
A search already stops waiting at its deadline and reports the carrier `timed_out`; this pool
lets the program end as well, abandoning such a thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class DaemonPool:
    """A minimal thread pool of daemon threads: `submit` returns a `Future`; threads are
    started on demand up to `max_workers` and then live for the process."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max = max_workers
        self._name = name
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] \
            = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # one token per thread that finished and waits
        self._lock = threading.Lock()
        self._started = 0

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        self._work.put((future, fn, args))
        if not self._idle.acquire(blocking=False):
            self._grow()
        return future

    def _grow(self) -> None:
        with self._lock:
            if self._started >= self._max:
                return  # the work waits for a busy thread to finish
            self._started += 1
            number = self._started
        threading.Thread(target=self._serve, name=f"{self._name}_{number}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            future, fn, args = self._work.get()
            if future.set_running_or_notify_cancel():  # else: cancelled while queued
                try:
                    result = fn(*args)
                except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on it
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, fn, args  # nothing of the finished call is kept while idle
            self._idle.release()  # a submit may now hand its work to this thread
