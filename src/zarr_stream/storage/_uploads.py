"""Puts to an object store, run in the background: bounded in count and bytes, failures sticky.

An object store answers each PUT after a round trip, so the stream keeps several in
flight while its encoders go on, rather than waiting on each (the writer thread would
otherwise stall the whole pipeline behind the network). Holding encoded shards costs
memory, so ``Uploads.submit`` blocks while ``max_puts`` puts or ``max_bytes`` bytes
are queued or in flight: that is the backpressure a slow store puts on ``append``.

Documents (``zarr.json``) must never cover a shard that is not in the store yet, so a
document is put only once every upload submitted before it has succeeded: in the
background, in order, on one thread of their own (``Uploads.submit_after``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, wait

from zarr_stream._threads import DaemonPool

__all__ = ["Uploads"]


class Uploads:
    """Background puts: ``max_puts`` at once, at most ``max_bytes`` held (one put is always let in)."""

    def __init__(self, max_puts: int, max_bytes: int) -> None:
        self.max_puts = max_puts
        self.max_bytes = max_bytes
        self._puts = DaemonPool(max_puts, "zarr-stream-upload")
        self._ordered = DaemonPool(1, "zarr-stream-document")  # documents, in the order they came
        self._state = threading.Condition()
        self._held_bytes = 0  # bytes of the puts queued or running
        self._held_puts = 0  # puts queued or running
        self._pending: list[Future[None]] = []  # every put submitted, but those seen done
        self._failure: BaseException | None = None

    @property
    def failure(self) -> BaseException | None:
        """The first failure of a background put, if one failed."""
        return self._failure

    @property
    def pending(self) -> bool:
        """Whether some put is queued or running."""
        return self._held_puts > 0

    def submit(self, nbytes: int, put: Callable[[], None]) -> Future[None]:
        """Run ``put`` (which holds ``nbytes``) in the background; block while the limits are reached.

        Raises the first failure of an earlier put instead, if one failed.
        """
        with self._state:
            while self._failure is None and self._held_puts and not self._room_for(nbytes):
                self._state.wait()
            self._raise_failure()
            future = self._puts.submit(self._run, put, nbytes)
            self._hold(future, nbytes)
        return future

    def submit_after(self, put: Callable[[], None]) -> None:
        """Run ``put`` once every put submitted so far has succeeded, after the earlier
        ``submit_after`` calls; never when one failed."""
        with self._state:
            self._raise_failure()
            before = list(self._pending)
            self._hold(self._ordered.submit(self._run_after, before, put), 0)

    def wait(self) -> None:
        """Wait for every put submitted so far; raise the first failure, if any."""
        with self._state:
            pending = list(self._pending)
        wait(pending)
        with self._state:
            self._raise_failure()

    def close(self) -> None:
        """Wait for the puts already submitted, then stop the threads."""
        self._puts.shutdown(wait=True)
        self._ordered.shutdown(wait=True)

    def _room_for(self, nbytes: int) -> bool:
        return self._held_puts < 2 * self.max_puts and self._held_bytes + nbytes <= self.max_bytes

    def _hold(self, future: Future[None], nbytes: int) -> None:
        """Count a put just submitted (under ``_state``); its ``_run`` lets it go."""
        self._held_puts += 1
        self._held_bytes += nbytes
        self._pending = [*(pending for pending in self._pending if not pending.done()), future]

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _run(self, put: Callable[[], None], nbytes: int) -> None:
        try:
            if self._failure is None:
                put()
        except BaseException as error:
            with self._state:
                self._failure = self._failure or error
            raise
        finally:
            with self._state:
                self._held_puts -= 1
                self._held_bytes -= nbytes
                self._state.notify_all()

    def _run_after(self, before: list[Future[None]], put: Callable[[], None]) -> None:
        wait(before)
        self._run(put, 0)
