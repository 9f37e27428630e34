"""A small JupyterHub client that does what a person with a browser does.

It logs in through the real login form, starts the user's server, creates a
kernel through the single-user server's REST API and runs code over the
kernel's websocket (Jupyter messaging protocol 5.3, JSON frames with no
websocket subprotocol, which jupyter_server accepts as its "legacy" protocol).

    client = HubClient("http://127.0.0.1")
    client.login("admin", "password")
    client.start_server()
    assert client.execute(client.create_kernel(), "5*4") == "20"

Every network call has a bounded timeout.  Needs `requests` and `websocket-client`.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import requests
import websocket

REQUEST_TIMEOUT = 30.0
SERVER_START_TIMEOUT = 120.0
EXECUTE_TIMEOUT = 60.0
PROTOCOL_VERSION = "5.3"


class HubClientError(RuntimeError):
    """The hub or the user's server did not behave as a browser would expect."""


@dataclass
class LoginAttempt:
    """What a login form submission led to."""

    ok: bool
    status_code: int  # of the POST /hub/login response (302 on success, 403 on a refused login)
    location: str  # where the POST redirected to ('' if it did not)


class HubClient:
    """One browser session (cookie jar) against a JupyterHub at `base_url`."""

    def __init__(self, base_url: str = "http://127.0.0.1", *, timeout: float = REQUEST_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # talk to the hub directly, whatever proxy variables say
        self.username: str | None = None

    # -- helpers

    def url(self, path: str) -> str:
        """The absolute URL of `path` (which starts with '/')."""
        return self.base_url + path

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        """Send a request for `path` with this session's cookies and a bounded timeout.

        A connection failure or timeout raises HubClientError (a short message).
        """
        kwargs.setdefault("timeout", self.timeout)
        try:
            return self.session.request(method, self.url(path), **kwargs)  # type: ignore[arg-type]
        except requests.RequestException as error:
            raise HubClientError(f"{method} {self.url(path)} failed: {error}") from None

    def get(self, path: str, **kwargs: object) -> requests.Response:
        """GET `path` (see `request`)."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: object) -> requests.Response:
        """POST to `path` (see `request`)."""
        return self.request("POST", path, **kwargs)

    def xsrf_cookie(self, path_prefix: str) -> str:
        """The `_xsrf` cookie the server set for a path under `path_prefix` (e.g. '/hub/')."""
        candidates = [c for c in self.session.cookies if c.name == "_xsrf"]
        for cookie in sorted(candidates, key=lambda c: len(c.path), reverse=True):  # most specific first
            if path_prefix.startswith(cookie.path.rstrip("/") + "/") and cookie.value:
                return cookie.value
        raise HubClientError(f"no _xsrf cookie for {path_prefix}; cookies: {self._cookie_summary()}")

    def _cookie_summary(self) -> str:
        return ", ".join(f"{c.name}@{c.path}" for c in self.session.cookies) or "none"

    # -- login

    def try_login(self, username: str, password: str) -> LoginAttempt:
        """Submit the login form as a browser does and report whether the hub accepted it.

        Accepted means: the POST redirected (not back to the login page), a
        hub session cookie was set, and GET /hub/home then answers 200 itself.
        """
        page = self.get("/hub/login")
        if page.status_code != 200:
            raise HubClientError(f"GET /hub/login answered {page.status_code}")
        xsrf = self.xsrf_cookie("/hub/")
        response = self.post(
            "/hub/login",
            data={"username": username, "password": password, "_xsrf": xsrf},
            allow_redirects=False,
        )
        location = response.headers.get("Location", "")
        ok = (
            response.status_code in (302, 303)
            and "/hub/login" not in location
            and any(c.name.startswith("jupyterhub-") for c in self.session.cookies)
            and self._home_reachable()
        )
        if ok:
            self.username = username
        return LoginAttempt(ok, response.status_code, location)

    def _home_reachable(self) -> bool:
        """Whether GET /hub/home answers 200 without a redirect (to the login page)."""
        home = self.get("/hub/home", allow_redirects=False)
        return home.status_code == 200

    def login(self, username: str, password: str) -> None:
        """Log in through the login form; raise HubClientError if the hub refuses."""
        attempt = self.try_login(username, password)
        if not attempt.ok:
            raise HubClientError(
                f"login as {username!r} failed: POST /hub/login answered {attempt.status_code}, "
                f"Location {attempt.location!r}, cookies: {self._cookie_summary()}"
            )

    # -- the user's server

    def _require_login(self) -> str:
        if self.username is None:
            raise HubClientError("log in first")
        return self.username

    def user_model(self) -> dict:
        """GET /hub/api/users/NAME as the logged-in user."""
        name = self._require_login()
        response = self.get(f"/hub/api/users/{name}", headers={"X-XSRFToken": self.xsrf_cookie("/hub/")})
        if response.status_code != 200:
            raise HubClientError(f"GET /hub/api/users/{name} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def start_server(self, timeout: float = SERVER_START_TIMEOUT) -> str:
        """Ensure the user's default server runs and is ready; return its URL path (/user/NAME/).

        Starts it through POST /hub/api/users/NAME/server (accepting "already
        running or pending"), then polls the user model until it is ready.
        """
        name = self._require_login()
        response = self.post(f"/hub/api/users/{name}/server", headers={"X-XSRFToken": self.xsrf_cookie("/hub/")})
        if response.status_code not in (201, 202) and not _already_started(response):
            raise HubClientError(
                f"starting the server of {name} answered {response.status_code}: {response.text[:500]}"
            )
        return self.wait_for_server(timeout)

    def wait_for_server(self, timeout: float = SERVER_START_TIMEOUT) -> str:
        """Poll the user model until the default server is ready; return its URL path."""
        deadline = time.monotonic() + timeout
        model: dict = {}
        while time.monotonic() < deadline:
            model = self.user_model()
            server = (model.get("servers") or {}).get("", {})
            if server.get("ready") or (model.get("server") and not model.get("pending")):
                return server.get("url") or model["server"]
            if not model.get("pending") and not server:
                raise HubClientError(f"the server of {self.username} is neither pending nor running: {model}")
            time.sleep(1)
        raise HubClientError(
            f"the server of {self.username} was not ready within {timeout:.0f} s; last model: {model}"
        )

    def open_server(self, timeout: float = 30.0) -> str:
        """Visit /user/NAME/ as a browser does (OAuth with the hub); return the _xsrf token for it.

        Retries briefly while the proxy route appears (404/502/503).
        """
        name = self._require_login()
        prefix = f"/user/{name}/"
        deadline = time.monotonic() + timeout
        response = self.get(prefix)
        while response.status_code in (404, 502, 503) and time.monotonic() < deadline:
            time.sleep(1)
            response = self.get(prefix)
        if response.status_code != 200 or not urlsplit(response.url).path.startswith(prefix):
            raise HubClientError(f"GET {prefix} ended at {response.url} with {response.status_code}")
        return self.xsrf_cookie(prefix)

    # -- kernels

    def create_kernel(self) -> str:
        """Start a kernel (the default kernelspec) in the user's server; return its id."""
        name = self._require_login()
        xsrf = self.open_server()
        response = self.post(f"/user/{name}/api/kernels", json={}, headers={"X-XSRFToken": xsrf})
        if response.status_code != 201:
            raise HubClientError(
                f"POST /user/{name}/api/kernels answered {response.status_code}: {response.text[:500]}"
            )
        return response.json()["id"]

    def execute(self, kernel_id: str, code: str, timeout: float = EXECUTE_TIMEOUT) -> str:
        """Run `code` in the kernel over its websocket; return the result's text/plain."""
        name = self._require_login()
        session_id = uuid.uuid4().hex
        path = f"/user/{name}/api/kernels/{kernel_id}/channels?session_id={session_id}"
        try:
            ws = websocket.create_connection(
                self._ws_url(path),
                header=[f"X-XSRFToken: {self.xsrf_cookie(f'/user/{name}/')}"],
                cookie=self._cookie_header(path),
                timeout=timeout,
                socket=self._direct_socket(timeout),  # not through a proxy, whatever proxy variables say
            )
        except (OSError, websocket.WebSocketException) as error:
            raise HubClientError(f"opening the kernel websocket {path} failed: {error}") from None
        try:
            request = execute_request(code, session_id, name)
            ws.send(json.dumps(request))
            return _read_result(ws, request["header"]["msg_id"], time.monotonic() + timeout)
        finally:
            ws.close()

    def evaluate(self, code: str) -> str:
        """Start the server if needed, create a kernel, and run `code` in it."""
        self.start_server()
        return self.execute(self.create_kernel(), code)

    def _ws_url(self, path: str) -> str:
        scheme, netloc, *_ = urlsplit(self.base_url)
        return urlunsplit(("wss" if scheme == "https" else "ws", netloc, "", "", "")) + path

    def _direct_socket(self, timeout: float) -> socket.socket:
        """A TCP connection to the hub's host and port."""
        parts = urlsplit(self.base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        sock = socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout)
        if parts.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        return sock

    def _cookie_header(self, path: str) -> str:
        """The Cookie header a browser would send for `path`."""
        prepared = requests.Request("GET", self.url(path)).prepare()
        return requests.cookies.get_cookie_header(self.session.cookies, prepared) or ""


def http_get(url: str, timeout: float = REQUEST_TIMEOUT) -> requests.Response:
    """A plain GET of `url`, without cookies; a connection failure raises HubClientError."""
    try:
        with requests.Session() as session:
            session.trust_env = False  # directly, whatever proxy variables say
            return session.get(url, timeout=timeout)
    except requests.RequestException as error:
        raise HubClientError(f"GET {url} failed: {error}") from None


def _already_started(response: requests.Response) -> bool:
    """Whether a start request was refused only because the server already runs or is starting."""
    return response.status_code == 400 and any(word in response.text for word in ("already running", "pending"))


def execute_request(code: str, session_id: str, username: str) -> dict:
    """A Jupyter messaging protocol execute_request for the shell channel."""
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "username": username,
            "session": session_id,
            "msg_type": "execute_request",
            "version": PROTOCOL_VERSION,
            "date": datetime.now(UTC).isoformat(),
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
    }


def _read_result(ws: websocket.WebSocket, msg_id: str, deadline: float) -> str:
    """Read messages until the execute_result for `msg_id`; raise on an error or a timeout."""
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            frame = ws.recv()
        except websocket.WebSocketTimeoutException:
            break
        if not isinstance(frame, str):
            continue  # binary frames carry buffers; not expected here
        message = json.loads(frame)
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = message.get("header", {}).get("msg_type")
        content = message.get("content", {})
        if kind == "execute_result" and message.get("channel") == "iopub":
            return content["data"]["text/plain"]
        if kind == "error" or (kind == "execute_reply" and content.get("status") == "error"):
            raise HubClientError(f"the code raised {content.get('ename')}: {content.get('evalue')}")
    raise HubClientError(f"no execute_result for {msg_id} before the deadline")
