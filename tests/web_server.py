"""A web server on 127.0.0.1 for fetch tests: canned replies by path, slow and dripping replies,
optional TLS, and a record of what each request asked for (path and Host header)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One canned response. ``delay`` waits before answering; ``drip`` waits between chunks of
    ``chunk`` bytes; ``header_drip`` sends the status line and headers a byte at a time, that long
    apart; without ``content_length`` the body ends when the connection closes."""

    body: bytes = b""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_length: bool = True
    delay: float = 0.0
    drip: float = 0.0
    chunk: int = 64 * 1024
    header_drip: float = 0.0


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, headers={"Location": location})


@dataclass(frozen=True)
class Seen:
    """A request as the server received it."""

    path: str
    host: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, routes: Mapping[str, Reply], stop: threading.Event) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes = routes
        self.stop = stop
        self.seen: list[Seen] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients in these tests hang up early on purpose (size limits, timeouts): stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.seen.append(Seen(self.path, self.headers.get("Host", "")))
        reply = self.server.routes.get(self.path.split("?", 1)[0], Reply(b"not here", status=404))
        if reply.delay and self.server.stop.wait(reply.delay):
            return
        if reply.header_drip:
            self._drip_headers(reply)
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.content_length:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self._send_body(reply)

    def _send_body(self, reply: Reply) -> None:
        try:
            for start in range(0, len(reply.body), reply.chunk):
                self.wfile.write(reply.body[start : start + reply.chunk])
                self.wfile.flush()
                if reply.drip and self.server.stop.wait(reply.drip):
                    return
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return

    def _drip_headers(self, reply: Reply) -> None:
        head = f"HTTP/1.0 {reply.status} OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
        raw = (head + "X-Padding: " + "a" * 4000 + "\r\n\r\n").encode() + reply.body
        try:
            for start in range(len(raw)):
                self.wfile.write(raw[start : start + 1])
                if self.server.stop.wait(reply.header_drip):
                    return
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return

    def log_message(self, format: str, *args: Any) -> None:
        """No request log on stderr."""


class PageServer:
    """Serve ``routes`` from 127.0.0.1 in a background thread (use as a context manager)."""

    def __init__(self, routes: Mapping[str, Reply], tls: ssl.SSLContext | None = None) -> None:
        self._stop = threading.Event()
        self._server = _Server(routes, self._stop)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="page-server", daemon=True)

    @property
    def seen(self) -> list[Seen]:
        return self._server.seen

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> PageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # sleeping and dripping replies end now, not when their delay runs out
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve(routes: Mapping[str, Reply], tls: ssl.SSLContext | None = None) -> Iterator[PageServer]:
    """A pytest fixture body: the server runs for the fixture's scope."""
    with PageServer(routes, tls) as server:
        yield server
