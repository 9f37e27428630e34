"""The stand-in Miniforge installer, served over HTTP from the host's 127.0.0.1 (shared with the machine)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from machine import REPO_ROOT

STANDIN = REPO_ROOT / "tests/standin/Miniforge3-standin.sh"


@dataclass
class Served:
    url: str  # of the stand-in installer
    requests: list[str] = field(default_factory=list)  # the paths asked for, in order


@contextmanager
def serve_standin() -> Iterator[Served]:
    """Serve tests/standin/ on a free port while the block runs; records the paths requested."""
    served = Served("")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(STANDIN.parent), **kwargs)

        def log_message(self, *args: object) -> None:
            served.requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}/{STANDIN.name}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield served
    finally:
        server.shutdown()
