"""The app in a web browser, guarded as Jupyter guards its server: a token, an Origin check and a Host allow-list."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import secrets
import socket
import sys
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "localhost.localdomain", "ip6-localhost")
WILDCARDS = ("", "0.0.0.0", "::")
MIN_TOKEN_LENGTH = 8
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&#\s\"]*")


class RedactToken(logging.Filter):
    """Blanks the token out of access-log lines: it is in the query of the first request and in the Referer
    of the page's own requests, and a log (a terminal's scrollback, a file) must not hand it on."""

    def __init__(self, token: str):
        super().__init__()
        self.secrets = [s for s in {token, quote(token)} if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = _TOKEN_IN_QUERY.sub(r"\1<redacted>", record.getMessage())
        for secret in self.secrets:
            message = message.replace(secret, "<redacted>")
        record.msg, record.args = message, None
        return True


def new_token() -> str:
    return secrets.token_hex(24)  # 192 bits, as Jupyter's


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def host_of(header: str) -> str:
    """The name in a Host header or an Origin's netloc, without the port: `[::1]:8000` -> `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header  # a bare IPv6 address, or a name


class HostCheck:
    """Names a browser may call this server by. A domain name outside the list is how DNS rebinding gets in."""

    def __init__(self, bound: str, extra: Iterable[str] = ()):
        self.names = {name.lower() for name in LOOPBACK_NAMES}
        self.names.update(host_of(name) for name in extra if name.strip())
        self.wildcard = bound.strip("[]") in WILDCARDS
        if self.wildcard:
            # Every address of the machine answers; its own names may be used, and any IP literal, which no
            # DNS answer can rebind.
            self.names.update({socket.gethostname().lower(), socket.getfqdn().lower()})
        else:
            self.names.add(host_of(bound) if not _is_ip(bound.strip("[]")) else bound.strip("[]").lower())

    def allows(self, host_header: str) -> bool:
        name = host_of(host_header)
        if not name:
            return False
        if name in self.names or is_loopback(name):
            return True
        return self.wildcard and _is_ip(name)


class GuardedServer(Server):
    """textual-serve's Server behind a token, an Origin check for WebSockets, a Host allow-list, and no
    directory listings."""

    def __init__(
        self,
        command: str,
        host: str,
        port: int,
        token: str,
        allow_hosts: Iterable[str] = (),
        title: str = "mnist-tui",
        announce=print,
    ):
        super().__init__(command, host=host, port=port, title=title)
        self.token = token
        self.hosts = HostCheck(host, allow_hosts)
        self.cookie_name = f"mnist-tui-token-{port}"  # per port: several servers on one machine keep theirs
        self.announce = announce

    def initialize_logging(self) -> None:
        super().initialize_logging()
        logging.getLogger("aiohttp.access").addFilter(RedactToken(self.token))

    # ------------------------------------------------------------ the guard

    def _presented_token(self, request: web.Request) -> tuple[str | None, bool]:
        """The token the request carries, and whether it came in the query string (then a cookie is set)."""
        if "token" in request.query:
            return request.query["token"], True
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("token "):
            return auth[6:].strip(), False
        return request.cookies.get(self.cookie_name), False

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser; the token still has to be right
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" and the like
        return parts.netloc.lower() == request.host.lower()

    @web.middleware
    async def guard(self, request: web.Request, handler) -> web.StreamResponse:
        if not self.hosts.allows(request.host):
            raise web.HTTPForbidden(text="host not allowed (see mnist-tui serve --allow-host)\n")
        token, from_query = self._presented_token(request)
        if token is None or not hmac.compare_digest(token.encode(), self.token.encode()):
            raise web.HTTPForbidden(text="a token is needed: open the URL that `mnist-tui serve` printed\n")
        if request.headers.get("Upgrade", "").lower() == "websocket" and not self._same_origin(request):
            raise web.HTTPForbidden(text="cross-origin WebSocket refused\n")
        response = await handler(request)
        if from_query and not isinstance(response, web.WebSocketResponse):
            response.set_cookie(self.cookie_name, self.token, httponly=True, samesite="Strict", path="/")
        return response

    # ------------------------------------------------------------ textual-serve, with the guard in front

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                web.get("/ws", self.handle_websocket, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", self.statics_path, show_index=False, name="static"),
            ]
        )
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        # URLs on the name the browser used, so the cookie (set for that name) goes with every request.
        base = f"{request.scheme}://{request.host}"
        ws_scheme = "wss" if request.scheme == "https" else "ws"
        font_size = request.query.get("fontsize", "16")
        return {
            "font_size": int(font_size) if font_size.isdigit() else 16,
            "app_websocket_url": f"{ws_scheme}://{request.host}{request.app.router['websocket'].url_for()}",
            "config": {
                "static": {"url": f"{base}{request.app.router['static'].url_for(filename='/')}".rstrip("/") + "/"}
            },
            "application": {"name": self.title},
        }

    def url(self) -> str:
        host = self.host if self.host not in WILDCARDS else socket.gethostname()
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/?token={quote(self.token)}"

    async def on_startup(self, app: web.Application) -> None:
        self.announce(f"serving mnist-tui at {self.url()}")
        self.announce("(open that URL: the token in it is the key; Ctrl-C to stop)")


def exposure_warning(host: str, port: int = 8000) -> str | None:
    """A loud line for stderr when the server is reachable from beyond this machine."""
    if is_loopback(host):
        return None
    return (
        f"WARNING: serving beyond this machine (--host {host or '*'}): anyone who can reach this port and has "
        "the token controls an app session as your user, with no TLS. Prefer the default host and an SSH tunnel: "
        f"ssh -L {port}:localhost:{port} this-host"
    )


def serve(command: str, host: str, port: int, token: str | None, allow_hosts: Iterable[str] = ()) -> None:
    if not 1 <= port <= 65535:
        raise ValueError(f"--port must be between 1 and 65535, not {port}")
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"--token must be at least {MIN_TOKEN_LENGTH} characters")
    warning = exposure_warning(host, port)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    server = GuardedServer(
        command, host, port, token or new_token(), allow_hosts, announce=lambda line: print(line, flush=True)
    )
    server.serve()
