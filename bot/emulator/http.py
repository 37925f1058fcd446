"""The emulator's HTTP plumbing: requests, responses (streamed file ranges, hostile bodies), errors in the Hub's
shape, cursors, byte ranges, statistics and a threaded HTTP/1.1 server around any `App`. Nothing here knows a
Hub endpoint: those live in `access`, `models`, `community` and `server`.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlencode

STREAM_CHUNK = 1024 * 1024
TRICKLE_CHUNK = 64
RANGE_PATTERN = re.compile(r"^bytes=(\d*)-(\d*)$")


class HubError(Exception):
    """An error response in the Hub's shape: status, `X-Error-Code`, `X-Error-Message` and ``{"error": ...}``."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        # Header values must be latin-1; the JSON body keeps the exact message.
        self.headers = {"X-Error-Message": message.encode("ascii", "replace").decode("ascii")}
        if code:
            self.headers["X-Error-Code"] = code
        self.headers.update(headers or {})


@dataclass(frozen=True)
class FileBody:
    """A byte range of a file, streamed in chunks so a 13 GB sparse file never sits in memory."""

    location: str
    start: int
    length: int


@dataclass
class Response:
    """What goes back. A hostile mode may cut the body short (`truncate_at` bytes, then the connection closes) or
    send it slowly (`trickle` seconds between small chunks); `Content-Length` always announces the whole body."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | FileBody = b""
    truncate_at: int | None = None
    trickle: float = 0.0

    @property
    def length(self) -> int:
        return self.body.length if isinstance(self.body, FileBody) else len(self.body)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data).encode()
    return Response(status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body)


def error_response(error: HubError) -> Response:
    return json_response({"error": error.message}, error.status, error.headers)


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # raw, still percent-encoded
    query: list[tuple[str, str]]
    headers: Message
    body: bytes
    user: str | None
    base_url: str

    @property
    def segments(self) -> list[str]:
        return self.path.strip("/").split("/")

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)

    def params(self, name: str) -> list[str]:
        """All values of a repeated parameter; also accepts ``name[]=`` and comma-separated values."""
        values = [value for key, value in self.query if key in (name, f"{name}[]")]
        return [item for value in values for item in value.split(",") if item]

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("1", "true")

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as error:
            raise HubError(400, f"Invalid JSON body: {error}") from error
        if not isinstance(data, dict):
            raise HubError(400, "Invalid JSON body: expected an object")
        return data

    def offset(self) -> int:
        """Where a page that counts its entries starts: its `cursor` (0 without one)."""
        cursor = self.param("cursor")
        start = decode_cursor(cursor) if cursor is not None else 0
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise HubError(400, "Invalid cursor")
        return start

    def next_link(self, cursor: Any) -> str:
        """The `Link` header to the next page: this URL and host with a new cursor (the client follows it verbatim)."""
        query = [(key, value) for key, value in self.query if key != "cursor"]
        query.append(("cursor", encode_cursor(cursor)))
        return f'<{self.base_url}{self.path}?{urlencode(query)}>; rel="next"'


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def decode_cursor(text: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError as error:
        raise HubError(400, "Invalid cursor") from error


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte range asked for, or None for the whole file.

    A malformed or multi-range header is ignored (RFC 9110 lets a server answer 200); a range starting past the
    end is unsatisfiable (416).
    """
    match = RANGE_PATTERN.match((header or "").strip())
    if match is None or match.groups() == ("", ""):
        return None
    first_text, last_text = match.groups()
    if first_text == "":
        first, last = max(0, size - int(last_text)), size - 1
        if int(last_text) == 0:
            first = size
    else:
        first, last = int(first_text), min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or last < first:
        raise HubError(416, "Requested Range Not Satisfiable", headers={"Content-Range": f"bytes */{size}"})
    return first, last


@dataclass
class Stats:
    """Request counts per route kind and per status, and the response body bytes served (HEAD: none)."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    bytes_sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status: int, sent: int) -> None:
        with self._lock:
            self.requests[kind] += 1
            self.statuses[str(status)] += 1
            self.bytes_sent += sent

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total_requests": sum(self.requests.values()),
                "bytes_sent": self.bytes_sent,
                "requests": dict(self.requests),
                "statuses": dict(self.statuses),
            }

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.statuses.clear()
            self.bytes_sent = 0


def positive_int(text: str | None, *, default: int, minimum: int = 1) -> int:
    """An integer query parameter; 400 for anything but ASCII digits at or above `minimum`."""
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < minimum:
        raise HubError(400, f"Invalid integer parameter: {text[:20]}")
    return int(text)


class App(Protocol):
    stats: Stats

    def respond(self, method: str, target: str, headers: Message, body: bytes, base_url: str) -> tuple[str, Response]:
        """The response to one request and its route kind ("admin" requests are not counted)."""
        ...


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive: the client's pooled connections matter for crawler throughput.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, delayed ACKs add ~40 ms to each response.
    disable_nagle_algorithm = True
    server: Server

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the emulator runs inside tests and `hublint demo`."""

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        app = self.server.app
        kind, response = app.respond(self.command, self.path, self.headers, body, f"http://{host}")
        if kind != "admin":
            # Counted before sending: a client that reads stats right after its last response must see that response.
            app.stats.record(kind, response.status, 0 if self.command == "HEAD" else response.length)
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError):
            # The client stopped reading (e.g. it had all the header bytes it needed); drop the connection.
            self.close_connection = True

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(response.length))
        self.end_headers()
        if self.command == "HEAD":
            return
        sent = response.length if response.truncate_at is None else min(response.truncate_at, response.length)
        size = TRICKLE_CHUNK if response.trickle else STREAM_CHUNK
        for chunk in _chunks(response.body, sent, size):
            self.wfile.write(chunk)
            if response.trickle:
                self.wfile.flush()
                time.sleep(response.trickle)
        if sent < response.length:
            self.close_connection = True  # the announced length never comes: the client sees the body cut short


def _chunks(body: bytes | FileBody, limit: int, size: int) -> Iterator[bytes]:
    """The first `limit` bytes of a body, `size` at a time (a file range is read as it is sent)."""
    if isinstance(body, bytes):
        yield from (body[start : min(start + size, limit)] for start in range(0, limit, size))
        return
    remaining = limit
    with open(body.location, "rb") as handle:
        handle.seek(body.start)
        while remaining > 0:
            chunk = handle.read(min(size, remaining))
            if not chunk:
                return
            yield chunk
            remaining -= len(chunk)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a concurrent crawler opens many connections at once

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-response (a capped range read, a killed crawler) is normal, not news.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)
