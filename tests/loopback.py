"""A loopback HTTP server that misbehaves on request, so download code is tested without internet.

Usage::

    with serve({"/a.zip": data}, behaviour=Behaviour(status_burst=(503, 500))) as (base_url, log):
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
BODY_CHUNK = 1 << 16  # bodies go out in these pieces, so `throttle` makes a slow host
_RANGE = re.compile(r"bytes=(\d+)-")
_FLIP = bytes(255 - value for value in range(256))


@dataclass(frozen=True)
class Behaviour:
    """Switches for the ways real hosts fail."""

    ranges: bool = True  # honour `Range: bytes=N-` with 206 + Content-Range
    drop_after: int | None = None  # first request: send N body bytes, then close the connection
    status_burst: tuple[int, ...] = ()  # answer the first requests with these statuses, in order
    status: int | None = None  # answer every request with this status (e.g. 403)
    html: bool = False  # answer 200 with a text/html login page
    stall: float = 0.0  # after the headers, wait this long (ended early when the server stops)
    corrupt: bool = False  # serve wrong bytes: same length, every byte flipped
    content_length_delta: int = 0  # announce len(body) + delta bytes, still send len(body)
    lie_first: int | None = None  # corrupt and content_length_delta: first N requests (None: all)
    throttle: float = 0.0  # pause after each BODY_CHUNK of a body (ended early on stop)
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
        if seen < len(how.status_burst):
            return self._reply(how.status_burst[seen], b"server busy")
        if how.status is not None:
            return self._reply(how.status, b"refused")
        if how.html:
            return self._reply(200, LOGIN_PAGE, content_type="text/html; charset=utf-8")
        if body is None:
            return self._reply(404, b"not found")
        self._send_file(body, seen)

    def _send_file(self, body: bytes, seen: int) -> None:
        """200 or 206 with the file's bytes, damaged or mislabelled as the switches say."""
        how = self.state.behaviour
        match = _RANGE.fullmatch(self.headers.get("Range") or "") if how.ranges else None
        start, status, extra = 0, 200, {}
        if match is not None:
            start, status = int(match[1]), 206
            if start >= len(body):
                return self._reply(416, b"")
            extra["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        payload = body[start:]
        lying = how.lie_first is None or seen < how.lie_first
        if lying and how.corrupt:
            payload = payload.translate(_FLIP)
        delta = how.content_length_delta if lying else 0
        self._reply(status, payload, drop=seen == 0, headers=extra, length=len(payload) + delta)

    def _reply(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str | None = None,
        drop: bool = False,
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        how = self.state.behaviour
        with self.state.lock:
            self.state.log.append(Request(self.path, self.headers.get("Range"), status))
        self.send_response(status)
        self.send_header("Content-Type", content_type or how.content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if how.stall:
            self.state.stop.wait(min(how.stall, MAX_STALL))
        if drop and how.drop_after is not None:
            body = body[: how.drop_after]
        self._write(body)

    def _write(self, body: bytes) -> None:
        """Send in pieces; with `throttle`, pause between them like a slow host."""
        pause = self.state.behaviour.throttle
        for start in range(0, len(body), BODY_CHUNK):
            self.wfile.write(body[start : start + BODY_CHUNK])
            if pause:
                self.state.stop.wait(pause)
        self.wfile.flush()

    def log_message(self, fmt: str, *args: object) -> None:
        """Keep test output quiet; the request log is the record."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that gave up (timeouts, drops, kills) break pipes here by design; stay quiet."""


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
