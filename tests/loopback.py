"""A loopback HTTP server that misbehaves on request, so download code is tested without internet.

Usage::

    with serve({"/a.zip": data}, behaviour=Behaviour(fail_first=2)) as (base_url, log):
        fetch(base_url + "/a.zip", ...)
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOGIN_PAGE = b"<!DOCTYPE html><html><body><form>Please log in</form></body></html>"
MAX_STALL = 10.0
_RANGE = re.compile(r"bytes=(\d+)-")


@dataclass(frozen=True)
class Behaviour:
    """Switches for the ways real hosts fail."""

    ranges: bool = True  # honour `Range: bytes=N-` with 206 + Content-Range
    drop_after: int | None = None  # first request: send N body bytes, then close the connection
    fail_first: int = 0  # answer 500 to the first K requests
    status: int | None = None  # answer every request with this status (e.g. 403)
    html: bool = False  # answer 200 with a text/html login page
    stall: float = 0.0  # after the headers, wait this long (ended early when the server stops)
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Request:
    """One request as the server saw it and answered it."""

    path: str
    range: str | None
    status: int


@dataclass
class _State:
    files: dict[str, bytes]
    behaviour: Behaviour
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[Request] = field(default_factory=list)
    count: int = 0

    def arrive(self) -> int:
        """Number the request, so "first" and "first K" are well defined across threads."""
        with self.lock:
            self.count += 1
            return self.count - 1


class _Handler(BaseHTTPRequestHandler):
    state: _State

    def do_GET(self) -> None:
        """Answer according to the behaviour switches, first match wins."""
        how = self.state.behaviour
        seen = self.state.arrive()
        body = self.state.files.get(self.path)
        if seen < how.fail_first:
            return self._reply(500, b"server error")
        if how.status is not None:
            return self._reply(how.status, b"refused")
        if how.html:
            return self._reply(200, LOGIN_PAGE, content_type="text/html; charset=utf-8")
        if body is None:
            return self._reply(404, b"not found")
        match = _RANGE.fullmatch(self.headers.get("Range") or "") if how.ranges else None
        if match is None:
            return self._reply(200, body, drop=seen == 0)
        start = int(match[1])
        if start >= len(body):
            return self._reply(416, b"")
        extra = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
        self._reply(206, body[start:], drop=seen == 0, headers=extra)

    def _reply(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str | None = None,
        drop: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        how = self.state.behaviour
        with self.state.lock:
            self.state.log.append(Request(self.path, self.headers.get("Range"), status))
        self.send_response(status)
        self.send_header("Content-Type", content_type or how.content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if how.stall:
            self.state.stop.wait(min(how.stall, MAX_STALL))
        if drop and how.drop_after is not None:
            body = body[: how.drop_after]
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, fmt: str, *args: object) -> None:
        """Keep test output quiet; the request log is the record."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that gave up (timeouts, drops) break pipes here by design; stay quiet."""


@contextmanager
def serve(
    files: dict[str, bytes], *, behaviour: Behaviour = Behaviour()
) -> Iterator[tuple[str, list[Request]]]:
    """Serve `files` (path -> bytes) on 127.0.0.1 with an ephemeral port; yield (base URL, log)."""
    state = _State(files=files, behaviour=behaviour)
    handler = type("Handler", (_Handler,), {"state": state})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state.log
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
