"""A small fault-injecting HTTP proxy to put in front of the S3 test server.

Each request is forwarded to the server, or meets a fault drawn from a seeded plan:

* ``status``: answered 500 or 503 at once (a SlowDown-like error), never forwarded;
* ``drop_upload``: the connection is closed halfway through reading the request body;
* ``drop_answer``: forwarded, so the server *did* it, then the connection is closed
  without an answer (the client must retry a request that already took effect);
* ``delay``: forwarded after a pause.

Only requests whose method is in ``methods`` are touched. ``counts`` records what was done.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("status", "drop_upload", "drop_answer", "delay")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class FaultPlan:
    """Which fault, if any, the next request meets: each with its own probability."""

    def __init__(self, seed: int = 0, methods: tuple[str, ...] = ("PUT",), **rates: float) -> None:
        unknown = set(rates) - set(FAULTS)
        assert not unknown, unknown
        self.rates = rates
        self.methods = methods
        self.always_fail = False  # every request of ``methods`` is answered 503
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def draw(self, method: str) -> str | None:
        with self._lock:
            if method not in self.methods:
                return None
            if self.always_fail:
                self.counts["status"] += 1
                return "status"
            roll = self._random.random()
            for fault, rate in self.rates.items():
                if roll < rate:
                    self.counts[fault] += 1
                    return fault
                roll -= rate
            self.counts["forwarded"] += 1
            return None


class FaultProxy:
    """Listens on 127.0.0.1 (a free port); forwards to ``upstream`` with ``plan``'s faults."""

    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        self.plan = plan
        target = urlsplit(upstream)
        handler = _handler(target.hostname or "127.0.0.1", target.port or 80, plan)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(host: str, port: int, plan: FaultPlan) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as S3 clients expect

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _any(self) -> None:
            fault = plan.draw(self.command)
            length = int(self.headers.get("Content-Length") or 0)
            if fault == "drop_upload":
                self.rfile.read(length // 2)
                self.close_connection = True
                self.connection.close()
                return
            body = self.rfile.read(length) if length else b""
            if fault == "status":
                self._answer(self._random_status(), {"Content-Type": "application/xml"}, _ERROR)
                return
            if fault == "delay":
                time.sleep(0.2)
            status, headers, answer = self._forward(body)
            if fault == "drop_answer":
                self.close_connection = True
                self.connection.close()
                return
            self._answer(status, headers, answer)

        def _random_status(self) -> int:
            return 503 if plan.counts["status"] % 2 else 500

        def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
            upstream = http.client.HTTPConnection(host, port, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                answer = response.read()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
                return response.status, kept, answer
            finally:
                upstream.close()

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response_only(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(body)))
            elif "content-length" in {k.lower() for k in headers}:
                self.send_header(
                    "Content-Length", next(v for k, v in headers.items() if k.lower() == "content-length")
                )
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

    return Handler


_ERROR = b"""<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>InternalError</Code><Message>injected by the fault proxy</Message></Error>"""
