"""The one HTTP stack against real, misbehaving HTTP servers: deadlines, retries, fail-closed exit codes, crashes.

`Hostile` is a real HTTP server in front of the emulator: a test scripts what it does to some requests (stall,
trickle, fail, answer garbage) and the rest pass through to the emulator untouched.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError

import pytest

from hublint.cli import main
from hublint.emulator.faults import Faults
from hublint.emulator.samples import BASE_7B, SEED_ADAPTER
from hublint.emulator.server import Emulator
from hublint.errors import HubError, HublintError, HubTimeout, HubUnavailable, StoreError
from hublint.hub import Deadline, HubClient, HubDiscussions, Retry, Timeouts
from hublint.store import Store

# A script gets the handler and returns True when it answered the request itself.
Script = Callable[[BaseHTTPRequestHandler], bool]
FORMATS = ("text", "json", "sarif", "github", "markdown")


class Hostile:
    def __init__(self, upstream: str) -> None:
        self.upstream, self.script = upstream, (lambda handler: False)
        self.requests: list[str] = []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                hostile.requests.append(self.path)
                if not hostile.script(self):
                    hostile.forward(self)

            do_POST = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length")}
        request = urllib.request.Request(self.upstream + handler.path, body, headers, method=handler.command)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, answer_headers, content = answer.status, answer.headers, answer.read()
        except HTTPError as error:
            status, answer_headers, content = error.code, error.headers, error.read()
        except OSError:  # the test is over and the emulator gone, while a stalled client still asks
            return
        handler.send_response(status)
        for key, value in answer_headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "location"):
                handler.send_header(key, value)
        if "Location" in answer_headers:  # the emulator's own redirects point at itself: keep them here
            handler.send_header("Location", answer_headers["Location"].replace(self.upstream, self.url))
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile(emulator: Emulator) -> Iterator[Hostile]:
    server = Hostile(emulator.url)
    yield server
    server.close()


def answer(
    handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> bool:
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
    return True


def on_base(action: Callable[[BaseHTTPRequestHandler], object]) -> Script:
    """Apply `action` to every request for the seed adapter's base model; pass the rest through."""

    def script(handler: BaseHTTPRequestHandler) -> bool:
        if BASE_7B not in handler.path:
            return False
        action(handler)
        return True

    return script


def check(capsys: pytest.CaptureFixture[str], url: str, *extra: str) -> tuple[int, str, str]:
    code = main(["check", SEED_ADAPTER, "--endpoint", url, "--no-cache", *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return code, out, err


# -- fail closed ----------------------------------------------------------------------------------------------------


def test_a_base_the_hub_keeps_failing_exits_2_with_the_error_in_the_json(hostile, capsys):
    hostile.script = on_base(lambda h: answer(h, 500, b'{"error": "Internal Error"}'))
    code, out, err = check(capsys, hostile.url, "--format", "json")
    assert code == 2
    [line] = err.splitlines()
    assert re.match(rf"hublint: {SEED_ADAPTER}: base model {BASE_7B} could not be read: .*HTTP 500", line)
    [result] = json.loads(out)["results"]
    assert result["error"] == line.removeprefix(f"hublint: {SEED_ADAPTER}: ")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_rate_limited_base_exits_2_in_every_format_and_a_healthy_one_exits_1(hostile, capsys, fmt):
    hostile.script = on_base(lambda h: answer(h, 429, b"{}", {"Retry-After": "3600"}))
    code, _, err = check(capsys, hostile.url, "--format", fmt)
    assert code == 2 and err.count("\n") == 1
    assert f"base model {BASE_7B} could not be read" in err and "asks to wait 3600 s (HTTP 429)" in err
    hostile.script = lambda h: False
    assert check(capsys, hostile.url, "--format", fmt)[0] == 1  # the same adapter on a healthy Hub: its HL101


def test_an_absent_base_is_a_finding_not_an_operational_error(hostile, capsys):
    hostile.script = on_base(
        lambda h: answer(h, 404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
    )
    code, out, _ = check(capsys, hostile.url, "--format", "json")
    assert code == 1 and "HL403" in {f["rule"] for f in json.loads(out)["results"][0]["findings"]}


# -- deadlines -------------------------------------------------------------------------------------------------------


def trickle(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    try:
        for _ in range(100):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass  # the client hung up, as it should


def silence(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(5)


def test_a_trickling_body_cannot_hold_a_request_past_its_total_deadline(hostile):
    hostile.script = trickle
    timeouts = Timeouts(connect=1, read=1, request=1.0)
    started = time.monotonic()
    client = HubClient(hostile.url, False, timeouts=timeouts, retry=Retry(silent_attempts=2))
    with client, pytest.raises(HubTimeout, match="did not answer in time"):
        client.get(hostile.url + "/api/models/x", what="x")
    assert time.monotonic() - started < 4  # two attempts of one second, a short backoff; not 20 s of trickle
    assert len(hostile.requests) == 2


def test_a_server_that_never_answers_costs_bounded_time(hostile, capsys):
    hostile.script = silence
    started = time.monotonic()
    code, _, err = check(capsys, hostile.url, "--timeout", "1.5")
    assert code == 2 and time.monotonic() - started < 4
    assert err.count("\n") == 1 and ("--timeout" in err or "did not answer in time" in err)


def test_a_retry_after_a_timeout_in_the_middle_of_a_body_works(hostile):
    attempts: list[int] = []

    def stall_once(handler: BaseHTTPRequestHandler) -> bool:
        attempts.append(1)
        if len(attempts) > 1:
            return False
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b'{"id": ')  # half a body, then silence past the read timeout
        handler.wfile.flush()
        time.sleep(2)
        return True

    hostile.script = stall_once
    with HubClient(hostile.url, False, timeouts=Timeouts(read=0.5)) as client:
        repo = client.open_repo(SEED_ADAPTER)
    assert repo.revision and len(attempts) == 2


def test_the_command_deadline_stops_retries_and_rate_limit_waits(hostile):
    hostile.script = lambda h: answer(h, 503, b"{}", {"Retry-After": "2"})
    started = time.monotonic()
    with HubClient(hostile.url, False, deadline=Deadline(1.0)) as client, pytest.raises(HubTimeout, match="--timeout"):
        client.open_repo(SEED_ADAPTER)
    assert time.monotonic() - started < 1.5  # the 2 s Retry-After would end past the deadline: no sleep at all


# -- answers that used to crash --------------------------------------------------------------------------------------


def json_answer(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Script:
    return lambda h: answer(
        h, status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


@pytest.mark.parametrize(
    "reply",
    [
        {"sha": "a" * 40},  # no id
        {"id": "a/b", "sha": "a" * 40, "siblings": "not a list"},
        {"id": "a/b", "sha": "a" * 40, "siblings": [{"rfilename": 5}]},
        {"id": "a/b", "sha": "a" * 40, "cardData": ["not", "a", "mapping"]},
        ["not", "an", "object"],
    ],
)
def test_a_malformed_model_info_is_one_line_and_exit_2(hostile, capsys, reply):
    hostile.script = json_answer(reply)
    code, _, err = check(capsys, hostile.url)
    assert code == 2 and err.count("\n") == 1
    assert "is it a Hub?" in err or "malformed" in err


def test_a_huge_ratelimit_reset_is_reported_not_slept(hostile, capsys):
    reset = "9" * 5000  # past Python's int-string limit
    headers = {"RateLimit": f'"api";r=0;t={reset}', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}
    hostile.script = lambda h: h.path.startswith("/api/") and answer(h, 200, b"{}", headers)
    code, _, err = check(capsys, hostile.url)
    assert code == 2 and err.count("\n") == 1


def test_a_huge_ratelimit_reset_within_bounds_pauses_the_bucket(hostile):
    headers = {"RateLimit": f'"api";r=0;t={10**30}'}
    hostile.script = lambda h: answer(h, 200, b"{}", headers)
    with HubClient(hostile.url, False) as client:
        client.get(hostile.url + "/api/whoami-v2", what="whoami")
        with pytest.raises(HubError, match="rate limit is used up"):
            client.get(hostile.url + "/api/whoami-v2", what="whoami")


def test_a_redirect_loop_is_one_line_and_exit_2(hostile, capsys):
    hostile.script = lambda h: answer(h, 302, b"", {"Location": h.path})
    code, _, err = check(capsys, hostile.url)
    assert code == 2 and "redirects in a loop" in err and err.count("\n") == 1


@pytest.mark.parametrize("retry_after", ["²", "9" * 5000, "later", "-3"])
def test_a_garbled_retry_after_falls_back_to_backoff(hostile, retry_after):
    served: list[int] = []

    def once(handler: BaseHTTPRequestHandler) -> bool:
        served.append(1)
        if len(served) > 1:
            return False
        answer(handler, 503, b"{}", {"Retry-After": retry_after})
        return True

    hostile.script = once
    with HubClient(hostile.url, False) as client:
        assert client.open_repo(SEED_ADAPTER).revision
    assert len(served) == 2


@pytest.mark.parametrize("content_range", ["bytes 0-7/²", "bytes 0-7/" + "9" * 5000, "garbage"])
def test_a_garbled_content_range_is_no_crash(hostile, capsys, content_range):
    def script(handler: BaseHTTPRequestHandler) -> bool:
        if "/resolve/" not in handler.path or "safetensors" not in handler.path:
            return False
        answer(handler, 206, b"\x08" + b"\x00" * 7, {"Content-Range": content_range})
        return True

    hostile.script = script
    code, _, _ = check(capsys, hostile.url)
    assert code in (1, 2)


def test_a_create_discussion_reply_without_num_is_one_line(hostile, hub_tokens):
    hostile.script = lambda h: h.command == "POST" and json_answer({"title": "x"})(h)
    with HubClient(hostile.url, "hf_alice") as client:
        with pytest.raises(HubError, match="did not say its number") as caught:
            HubDiscussions(client).create(SEED_ADAPTER, "[bot] t", "body")
        assert "\n" not in str(caught.value)


def test_discussions_go_through_the_one_counted_stack(emulator):
    with HubClient(emulator.url, "hf_alice") as client:
        discussions = HubDiscussions(client)
        num = discussions.create(SEED_ADAPTER, "[bot] hello", "body")
        discussions.comment(SEED_ADAPTER, num, "more")
        assert [m.text for m in discussions.details(SEED_ADAPTER, num).messages] == ["body", "more"]
        assert [d.num for d in discussions.list(SEED_ADAPTER)] == [num]
        assert client.stats.http_requests == 4 and client.stats.bytes_downloaded > 0


def test_a_write_is_never_sent_twice(hostile):
    hostile.script = lambda h: h.command == "POST" and answer(h, 503, b"{}")
    with HubClient(hostile.url, "hf_alice") as client, pytest.raises(HubUnavailable, match="HTTP 503"):
        HubDiscussions(client).create(SEED_ADAPTER, "[bot] t", "body")
    assert sum(1 for path in hostile.requests if path.endswith("/discussions")) == 1


# -- the crawl: one deadline for every worker; the store's failures are one line -------------------------------------


def test_a_crawl_stops_starting_work_at_its_timeout(emulator, tmp_path, capsys):
    emulator.set_faults(Faults(latency=0.3))
    started = time.monotonic()
    code = main(["crawl", "--endpoint", emulator.url, "--db", f"sqlite:///{tmp_path / 'crawl.db'}", "--timeout", "1"])
    out, err = capsys.readouterr()
    assert code in (0, 2) and time.monotonic() - started < 6
    assert "internal error" not in err and "Traceback" not in err
    assert "--timeout reached" in out or "gave up after 1 s (--timeout)" in err


def test_a_broken_database_is_one_line_and_exit_2_not_sqlalchemy(emulator, tmp_path, capsys):
    broken = tmp_path / "crawl.db"
    broken.write_bytes(b"this is not a SQLite database" * 100)
    code = main(["crawl", "--endpoint", emulator.url, "--db", f"sqlite:///{broken}"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and err.startswith("hublint: the database failed: ")
    assert "sqlalchemy" not in err.lower() and "internal error" not in err
    with pytest.raises(StoreError) as caught:
        Store(f"sqlite:///{broken}")
    assert isinstance(caught.value, HublintError)
