"""`mnist-tui serve` over real HTTP and WebSocket connections: a token, an Origin check, a Host allow-list."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time

import aiohttp
import pytest

from mnist_tui.cli.serve import HostCheck, exposure_warning, host_of

TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """`mnist-tui serve` in a subprocess; its stdout and stderr lines are collected as they come."""

    def __init__(self, runs_dir, data_dir, *flags: str):
        self.port = free_port()
        self.lines: list[str] = []
        self.errors: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mnist_tui",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--runs-dir",
                str(runs_dir),
                "--data-dir",
                str(data_dir),
                *flags,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for stream, sink in ((self.process.stdout, self.lines), (self.process.stderr, self.errors)):
            threading.Thread(target=lambda s=stream, k=sink: k.extend(iter(s.readline, "")), daemon=True).start()
        deadline = time.monotonic() + 60
        while not any("serving mnist-tui at" in line for line in self.lines):
            assert self.process.poll() is None, "".join(self.errors)
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{self.port}"

    def url_line(self) -> str:
        return next(line for line in self.lines if "serving mnist-tui at" in line)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from mnist_tui.engine.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("serve")
    data_dir = root / "data"
    write_synthetic(data_dir)
    server = Served(root / "runs", data_dir, "--token", TOKEN, "--allow-host", "tunnel.example")
    yield server
    server.stop()


async def fetch(served, path, headers=None, cookies=None):
    async with aiohttp.ClientSession(cookies=cookies) as session:
        async with session.get(served.base + path, headers=headers or {}, allow_redirects=False) as response:
            return response.status, await response.text(), response.cookies


async def ws_status(served, headers=None, cookies=None, query=""):
    """The status of a WebSocket upgrade: 101 when it is accepted."""
    async with aiohttp.ClientSession(cookies=cookies) as session:
        try:
            async with session.ws_connect(f"ws://127.0.0.1:{served.port}/ws{query}", headers=headers or {}):
                return 101
        except aiohttp.WSServerHandshakeError as error:
            return error.status


# ---------------------------------------------------------------- the token


def test_the_url_printed_carries_the_token(served):
    assert f"http://127.0.0.1:{served.port}/?token={TOKEN}" in served.url_line()


async def test_a_page_request_without_the_token_is_refused(served):
    status, text, _ = await fetch(served, "/")
    assert status == 403 and "token" in text


async def test_a_page_request_with_a_wrong_token_is_refused(served):
    status, _, _ = await fetch(served, "/?token=" + "x" * len(TOKEN))
    assert status == 403


async def test_a_static_file_without_the_token_is_refused(served):
    status, _, _ = await fetch(served, "/static/js/textual.js")
    assert status == 403


async def test_the_token_in_the_url_sets_a_cookie_the_page_uses_later(served):
    status, page, cookies = await fetch(served, f"/?token={TOKEN}")
    assert status == 200 and "mnist-tui" in page
    cookie = cookies[f"mnist-tui-token-{served.port}"]
    assert cookie.value == TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
    # the page's own later requests carry the cookie only: its script and its WebSocket
    assert f'data-session-websocket-url="ws://127.0.0.1:{served.port}/ws"' in page
    status, script, _ = await fetch(served, "/static/js/textual.js", cookies={cookie.key: cookie.value})
    assert status == 200 and "WebSocket" in script


async def test_an_authorization_header_is_accepted(served):
    status, _, _ = await fetch(served, "/", headers={"Authorization": f"token {TOKEN}"})
    assert status == 200


async def test_static_lists_no_directories(served):
    auth = {"Authorization": f"token {TOKEN}"}
    for path in ("/static/", "/static/js/", "/static/js"):
        status, text, _ = await fetch(served, path, headers=auth)
        assert status in (403, 404), path
        assert "textual.js" not in text


# ---------------------------------------------------------------- the Host allow-list (DNS rebinding)


@pytest.mark.parametrize(
    "host,allowed",
    [
        ("evil.example", False),
        ("evil.example:8000", False),
        ("127.0.0.1.evil.example", False),
        ("localhost", True),
        ("tunnel.example", True),  # --allow-host
    ],
)
async def test_the_host_header_is_checked_against_the_allow_list(served, host, allowed):
    status, _, _ = await fetch(
        served, f"/?token={TOKEN}", headers={"Host": f"{host}:{served.port}" if ":" not in host else host}
    )
    assert (status == 200) == allowed, (host, status)


def test_host_check_rules():
    local = HostCheck("127.0.0.1", ["Tunnel.Example"])
    assert local.allows("localhost:8000") and local.allows("[::1]:8000") and local.allows("127.0.0.1")
    assert local.allows("tunnel.example:80")
    assert not local.allows("10.0.0.5:8000") and not local.allows("") and not local.allows("evil.example")
    anywhere = HostCheck("0.0.0.0")
    assert anywhere.allows("10.0.0.5:8000") and anywhere.allows(f"{socket.gethostname()}:8000")
    assert not anywhere.allows("rebind.evil.example:8000")
    named = HostCheck("lab-box.example")
    assert named.allows("lab-box.example:8000") and not named.allows("10.0.0.5:8000")
    assert host_of("[::1]:8000") == "::1" and host_of("Example.ORG:1") == "example.org"


# ---------------------------------------------------------------- WebSockets


async def test_a_websocket_without_the_token_is_refused(served):
    assert await ws_status(served) == 403


async def test_a_websocket_from_another_origin_is_refused(served):
    cookies = {f"mnist-tui-token-{served.port}": TOKEN}
    assert await ws_status(served, headers={"Origin": "http://evil.example"}, cookies=cookies) == 403
    assert await ws_status(served, headers={"Origin": f"http://evil.example:{served.port}"}, cookies=cookies) == 403
    assert await ws_status(served, headers={"Origin": "null"}, cookies=cookies) == 403


async def test_a_websocket_with_a_wrong_token_is_refused(served):
    assert await ws_status(served, cookies={f"mnist-tui-token-{served.port}": "wrong-token-000000"}) == 403


@pytest.mark.slow
async def test_a_websocket_with_the_token_and_the_same_origin_gets_the_app(served):
    cookies = {f"mnist-tui-token-{served.port}": TOKEN}
    headers = {"Origin": served.base}
    async with aiohttp.ClientSession(cookies=cookies) as session:
        async with session.ws_connect(f"ws://127.0.0.1:{served.port}/ws?width=100&height=30", headers=headers) as ws:
            screen = ""
            deadline = time.monotonic() + 60
            while "Train" not in screen and time.monotonic() < deadline:
                message = await ws.receive(timeout=60)
                if message.type == aiohttp.WSMsgType.TEXT:
                    screen += message.data
                elif message.type == aiohttp.WSMsgType.BINARY:
                    screen += message.data.decode("utf-8", "replace")
                else:
                    break
            assert "Train" in screen  # the menu drawn by the app process the session started


# ---------------------------------------------------------------- start-up


@pytest.mark.slow
def test_each_start_gets_a_new_random_token(tmp_path, synthetic_dir):
    tokens = []
    for _ in range(2):
        server = Served(tmp_path / "runs", synthetic_dir)
        try:
            tokens.append(re.search(r"\?token=([0-9a-f]+)", server.url_line()).group(1))
            assert not server.errors or "WARNING" not in "".join(server.errors)  # loopback: no warning
        finally:
            server.stop()
    assert tokens[0] != tokens[1] and len(tokens[0]) >= 32


@pytest.mark.slow
def test_a_short_token_is_refused(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnist_tui",
            "serve",
            "--token",
            "abc",
            "--port",
            str(free_port()),
            "--runs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "mnist-tui: error: --token must be at least 8 characters"


def test_binding_beyond_loopback_prints_a_loud_warning():
    assert exposure_warning("127.0.0.1") is None and exposure_warning("localhost") is None
    assert exposure_warning("::1") is None
    for host in ("0.0.0.0", "::", "192.168.1.20", "lab-box.example"):
        warning = exposure_warning(host)
        assert warning.startswith("WARNING") and "ssh -L" in warning


@pytest.mark.slow
def test_a_server_on_all_interfaces_warns_on_stderr(tmp_path, synthetic_dir):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mnist_tui",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            "--runs-dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stderr.readline()
        assert first.startswith("WARNING: serving beyond this machine")
    finally:
        process.terminate()
        process.wait(timeout=20)


async def test_the_access_log_never_shows_the_token(served):
    """The URL line at start-up carries the token on purpose; the per-request log lines must not."""
    referer = f"http://127.0.0.1:{served.port}/?token={TOKEN}"
    status, _, _ = await fetch(served, f"/?token={TOKEN}&fontsize=14", headers={"Referer": referer})
    assert status == 200
    deadline = time.monotonic() + 10
    logged = lambda: "".join(line for line in served.lines + served.errors if "serving mnist-tui at" not in line)
    while '"GET' not in logged() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    text = logged()
    assert '"GET' in text  # the request is logged ... (Rich may fold or shorten the line, so look for pieces)
    assert not any(TOKEN[i : i + 8] in text for i in range(len(TOKEN) - 7)), text  # ... with no part of the token


def test_the_token_filter_redacts_query_and_referer():
    import logging

    from mnist_tui.cli.serve import RedactToken

    line = f'127.0.0.1 [t] "GET /?token={TOKEN}&fontsize=14 HTTP/1.1" 200 5 "http://h:1/?token={TOKEN}" "ua"'
    record = logging.LogRecord("aiohttp.access", logging.INFO, __file__, 1, line, None, None)
    assert RedactToken(TOKEN).filter(record)
    assert TOKEN not in record.getMessage() and "token=<redacted>&fontsize=14" in record.getMessage()


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_a_port_out_of_range_is_refused_in_one_line(tmp_path, port):
    done = subprocess.run(
        [sys.executable, "-m", "mnist_tui", "serve", "--port", port, "--runs-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (1, 2) and done.stdout == ""
    assert done.stderr.strip().startswith("mnist-tui: error: ") and "65535" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


def test_the_exposure_warning_names_the_real_port():
    warning = exposure_warning("0.0.0.0", 8767)
    assert "ssh -L 8767:localhost:8767" in warning and "8000" not in warning
    assert "ssh -L 8000:localhost:8000" in exposure_warning("0.0.0.0")
