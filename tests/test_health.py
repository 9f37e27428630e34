import http.server
import socket
import threading

import pytest

from tljh.health import hub_api_url, status


def test_hub_api_url_default_and_overrides():
    assert hub_api_url({}) == "http://127.0.0.1:80/hub/api"
    assert hub_api_url({"http": {"port": 8080}}) == "http://127.0.0.1:8080/hub/api"
    assert hub_api_url({"base_url": "/jhub"}) == "http://127.0.0.1:80/jhub/hub/api"
    assert hub_api_url({"base_url": "/jhub/"}) == "http://127.0.0.1:80/jhub/hub/api"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = {"/hub/api": 200, "/broken": 503}.get(self.path, 404)
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_status_of_a_serving_hub(server):
    assert status(server + "/hub/api") == 200


def test_status_of_error_responses_is_their_code(server):
    assert status(server + "/missing") == 404
    assert status(server + "/broken") == 503


def test_status_when_nothing_listens_is_none():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert status(f"http://127.0.0.1:{port}/hub/api", timeout=2) is None


def test_status_of_a_malformed_url_is_none():
    assert status("not a url") is None
