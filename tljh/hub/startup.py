"""Is a user's server answering yet: a plain HTTP GET of its API, bounded in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

ATTEMPT_TIMEOUT = 5.0
INTERVAL = 0.5


async def answers_200(ip: str, port: int, path: str, timeout: float = ATTEMPT_TIMEOUT) -> bool:
    """Whether GET http://ip:port/path answers with status 200 within `timeout` seconds."""
    try:
        return await asyncio.wait_for(_status(ip, port, path), timeout) == 200
    except (OSError, asyncio.TimeoutError, ValueError):
        return False


async def _status(ip: str, port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection(ip, port)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {ip}:{port}\r\n\r\n".encode())
        await writer.drain()
        status_line = await reader.readline()
        return int(status_line.split()[1])
    except IndexError:
        raise ValueError(f"not an HTTP status line: {status_line!r}") from None
    finally:
        writer.close()


async def wait_until_answering(
    ip: str, port: int, path: str, deadline: float, poll: Callable[[], Awaitable[Any]]
) -> bool:
    """Wait until the server answers 200 at `path` (True), or stops (poll() is not None) or
    the monotonic `deadline` passes (False)."""
    while time.monotonic() < deadline:
        if await answers_200(ip, port, path, min(ATTEMPT_TIMEOUT, max(0.1, deadline - time.monotonic()))):
            return True
        if await poll() is not None:
            return False
        await asyncio.sleep(INTERVAL)
    return False
