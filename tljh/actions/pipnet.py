"""pip and the network: pip's own bounds on an unreachable index, and what its output says failed.

pip retries each request (`--retries`, with urllib3's backoff: 0, 0.5, 1, 2 s ...) and gives up on
a request that gets no answer for `--timeout` seconds. The installer passes PIP_RETRIES and
PIP_TIMEOUT_SECONDS (tljh.paths) only for what the machine's pip configuration (pip.conf, PIP_*
variables: `pip config list`) leaves unset, so a silent index ends a pip run in about a minute per index URL.

When pip gives up, `fetch_failure` reads its output (pip 23 to 25 print the same lines) and says
what could not be fetched, from where, why and after how many attempts. Pure: text in, text out.

Standard library only (tljh.paths included): the bootstrap loads this module from the tljh package
it installs (the checkout or the wheel it carries), before any of tljh's dependencies exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit

from tljh.paths import PIP_RETRIES, PIP_TIMEOUT_SECONDS

LOOKING_IN = re.compile(r"^\s*Looking in indexes: (.+)$", re.M)  # (indented: pip's pip for build dependencies)
# WARNING: Retrying (Retry(total=3, connect=None, ...)) after connection broken by 'ERROR': /simple/NAME/
RETRYING = re.compile(r"Retrying \(Retry\(total=(\d+)[^)]*\)\) after connection broken by (.*): (\S+)\s*$", re.M)
COULD_NOT_FETCH = re.compile(r"^\s*Could not fetch URL (\S+?): (.*?)(?: - skipping)?\s*$", re.M)
# ERROR: Could not install packages due to an OSError: HTTPSConnectionPool(host='h', port=443): Max retries
# exceeded with url: /packages/... (Caused by ...)
POOL = re.compile(r"(HTTPS?)ConnectionPool\(host='([^']+)', port=(\d+)\): Max retries exceeded with url: (\S+) (.*)$",
                  re.M)
PYPI = "https://pypi.org/simple"
NOT_FOUND = re.compile(r"No matching distribution found for (.+?)\s*$", re.M)
NO_VERSIONS = re.compile(r"Could not find a version that satisfies the requirement (.+?) \(from versions: none\)")
# (pattern in pip's error text, what it means) in the order they are tried
REASONS = (
    ("ProxyError", "could not connect through the proxy"),
    ("Read timed out", "no answer within {timeout}"),
    ("ConnectTimeoutError", "the connection timed out ({timeout})"),
    ("timed out", "timed out ({timeout})"),
    ("Connection refused", "connection refused"),
    ("Name or service not known", "the host name could not be resolved (DNS)"),
    ("Temporary failure in name resolution", "the host name could not be resolved (DNS)"),
    ("NameResolutionError", "the host name could not be resolved (DNS)"),
    ("Network is unreachable", "network unreachable"),
    ("No route to host", "no route to host"),
    ("CERTIFICATE_VERIFY_FAILED", "TLS: the server's certificate is not trusted (CA bundle: pip's `cert`, PIP_CERT)"),
    ("SSLError", "TLS error"),
    ("RemoteDisconnected", "the server closed the connection without an answer"),
    ("Connection reset", "the connection was reset"),
    ("too many", "the server answered with errors"),
)
HINT = ("Check this machine's network, its proxy variables (http_proxy, https_proxy, no_proxy) and pip's "
        "index settings (`pip config list`: index-url, extra-index-url; PIP_INDEX_URL).")
RETRIES_KEYS = ("retries",)
TIMEOUT_KEYS = ("timeout", "default-timeout")
SECTIONS = (":env:", "global", "install")  # where a setting applies to `pip install`


def network_env(settings: Iterable[str]) -> dict[str, str]:
    """PIP_RETRIES / PIP_TIMEOUT bounding pip, for those the machine's pip configuration does not set.

    `settings` are the keys `pip config list` shows (`global.timeout`, `:env:.retries`, ...). Given as
    environment variables, not options, so that the pip pip runs itself (build dependencies) has them too.
    """
    applying = {key.rpartition(".")[2] for key in settings if key.rpartition(".")[0] in SECTIONS}
    env = {}
    if not applying & set(RETRIES_KEYS):
        env["PIP_RETRIES"] = str(PIP_RETRIES)
    if not applying & set(TIMEOUT_KEYS):
        env["PIP_TIMEOUT"] = str(PIP_TIMEOUT_SECONDS)
    return env


def config_keys(pip_config_list: str) -> list[str]:
    """The keys of `pip config list` output (`global.cert='/etc/ssl/...'` -> `global.cert`)."""
    return [line.split("=", 1)[0].strip() for line in pip_config_list.splitlines() if "=" in line]


@dataclass(frozen=True)
class FetchFailure:
    """What pip could not fetch (`what`), from where (`url`, the `indexes` it looked in), why and how often."""

    what: str
    indexes: tuple[str, ...]
    url: str | None = None
    reason: str | None = None
    attempts: int | None = None

    def message(self, env: str) -> str:
        """One message: what could not be fetched for env, from where, why, and what to check."""
        index = ", ".join(self.indexes)
        if self.reason is None:
            return (f"pip found no version of {self.what} it can install for {env} at {index} (from versions: none): "
                    "the index has none for this Python and machine, or did not answer with its page (pip does not "
                    "show an HTTP error such as 503). " + HINT)
        tried = f", {self.attempts} attempts" if self.attempts else ""
        where = f"{self.url}: " if self.url else ""
        if self.url is None or any(self.url.startswith(i.rstrip("/") + "/") for i in self.indexes):
            return f"could not fetch {self.what} for {env} from the package index {index} ({where}{self.reason}{tried}). " + HINT
        return (f"could not fetch {self.what} for {env} from {self.url} ({self.reason}{tried}; the package index "
                f"{index} links to it). " + HINT)


def fetch_failure(output: str) -> FetchFailure | None:
    """What a failed pip run could not fetch, if its output says it could not reach an index or file host."""
    indexes = _indexes(output)
    wanted = NOT_FOUND.findall(output)
    pool = POOL.findall(output)
    fetch = COULD_NOT_FETCH.findall(output)
    retries = RETRYING.findall(output)
    if pool and "Could not install packages due to an OSError" in output:
        scheme, host, port, path, cause = pool[-1]
        url = f"{scheme.lower()}://{host}:{port}{path}"
        return FetchFailure(_last_part(path), indexes, url, _reason(cause, output), _attempts(retries, path))
    if not NO_VERSIONS.search(output):  # (pip found some versions: not a matter of the network)
        return None
    what = wanted[-1] if wanted else NO_VERSIONS.findall(output)[-1]
    path = f"/simple/{_project(what)}/"
    fetched = [(url, error) for url, error in fetch if urlsplit(url).path.rstrip("/") + "/" == path]
    broken = [(total, error, where) for total, error, where in retries if where.endswith(path)]
    if fetched:
        return FetchFailure(what, indexes, fetched[-1][0], _reason(fetched[-1][1], output), _attempts(retries, path))
    if broken:
        where = broken[-1][2] if "://" in broken[-1][2] else _on_index(indexes, path)
        return FetchFailure(what, indexes, where, _reason(broken[-1][1], output), _attempts(retries, path))
    return FetchFailure(what, indexes)


def _indexes(output: str) -> tuple[str, ...]:
    """The indexes pip looked in; pip names them only when they are not PyPI's alone."""
    found = LOOKING_IN.search(output)
    return tuple(part.strip() for part in found.group(1).split(",")) if found else (PYPI,)


def _project(requirement: str) -> str:
    """The PEP 503 name of a requirement (`Tabulate[x]==0.9.0` -> `tabulate`)."""
    name = re.split(r"[<>=!~\[;\s@]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _last_part(path: str) -> str:
    return [part for part in path.split("/") if part][-1] if path.strip("/") else path


def _on_index(indexes: tuple[str, ...], path: str) -> str | None:
    """The URL of path on the index, when pip looked in one only (pip prints just the path)."""
    if len(indexes) != 1:
        return None
    parts = urlsplit(indexes[0])
    return f"{parts.scheme}://{parts.netloc}{path}"


def _attempts(retries: list[tuple[str, str, str]], path: str) -> int | None:
    """How many times pip asked for path: its first `Retrying (Retry(total=N))` says N more were left after 2."""
    totals = [int(total) for total, _, where in retries if where.endswith(path)]
    return totals[0] + 2 if totals else None


def _reason(error: str, output: str) -> str:
    """pip's error text in a few words (the read timeout it used, if it says)."""
    seconds = re.search(r"(?:read timeout|timeout)=([\d.]+)", error) or re.search(r"timeout=([\d.]+)", output)
    timeout = f"{float(seconds.group(1)):g} s" if seconds else "pip's timeout"
    ssl = re.search(r"\[SSL: (\w+)\]", error)
    for pattern, meaning in REASONS:
        if pattern in error:
            return meaning.format(timeout=timeout) + (f" ({ssl.group(1)})" if ssl and "TLS" in meaning else "")
    return re.sub(r"<[^>]+ object at 0x[0-9a-f]+>: ", "", error).strip(" '\"")[:200]

