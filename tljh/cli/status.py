"""`tljh status`: is everything as the installer left it, and is the hub up?

The checks are the installer's own list of steps, each action asked to verify itself (an empty
plan means it is as installed: present, same owner, mode, content, link target, group, unit
enabled and active), then the hub answering through the proxy, the TLS certificate's expiry when
https is on, and free disk space under the prefix and /home. One line per check, a hint for each
problem, exit 1 if anything is wrong; `--json` for monitoring.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from tljh.actions import Action, Change
from tljh.paths import Paths

MIN_FREE_BYTES = 1 << 30  # 1 GiB
MIN_FREE_FRACTION = 0.05
TLS_WARN_DAYS = 14
FIX = "sudo /opt/tljh/hub/bin/python3 -m tljh.installer"  # a re-run puts back what the install made


@dataclass
class Check:
    """One line of the status: what was checked, whether it is fine, what differs, how to fix it."""

    check: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    hint: str = ""

    def line(self) -> str:
        if self.ok:
            return f"ok    {self.check}"
        text = f"FAIL  {self.check}: {'; '.join(self.problems)}"
        return text + (f"\n      hint: {self.hint}" if self.hint else "")


def hint_for(action: Action, changes: list[Change]) -> str:
    """What the admin can do about an action that is not as installed."""
    whats = {c.what.split(" ")[0] for c in changes}
    target = changes[0].target
    if whats == {"enable"}:
        return f"sudo systemctl enable --now {target}"
    if "start" in whats:
        return f"sudo systemctl start {action.title}; journalctl -u {action.title} shows why it stopped"
    if whats == {"restart"}:
        return f"its files changed since it started: sudo tljh-config reload (or sudo systemctl restart {action.title})"
    if whats <= {"chmod", "chown"}:
        return f"put the installed mode/owner back with: {FIX} (or chmod/chown it)"
    if whats & {"update", "replace"}:
        return f"{target} differs from what TLJH installed; {FIX} restores it (keeping the changed copy in the backups)"
    return f"{FIX} puts it back"


def check_action(step: str, action: Action) -> Check | None:
    """The action verified (None for actions that are not a state to check)."""
    if action.every_run is not None and action.kind != "hub-up":
        return None
    try:
        changes = action.verify()
    except Exception as e:  # noqa: BLE001  (reported, not raised: one bad item must not hide the rest)
        return Check(f"{step}: {action.title}", False, [str(e) or type(e).__name__], f"{FIX} shows the full error")
    if not changes:
        return Check(f"{step}: {action.title}", True)
    problems = [str(c) for c in changes]
    if action.kind == "hub-up":
        return Check("hub answers through the proxy", False, problems,
                     "sudo systemctl status jupyterhub traefik; journalctl -u jupyterhub -u traefik")
    return Check(f"{step}: {action.title}", False, problems, hint_for(action, changes))


def installed_checks(paths: Paths) -> list[Check]:
    """Every action of the install, verified (as the installer would build them for a re-run)."""
    from tljh.cli.plan import plan_inputs
    from tljh.install.installer import Options, read_state
    from tljh.install.steps import install_steps

    state = read_state(paths)
    if not state:
        return [Check("installed", False, [f"{paths.install_state} is missing: TLJH is not installed here"],
                      "install it (see README), or set TLJH_INSTALL_PREFIX to where it is")]
    steps = install_steps(plan_inputs(paths, Options(), state, str(state.get("user_env", "conda"))))
    checks = []
    for step in steps:
        if step.title == "plugins":
            continue  # the plugins' own packages: checked by pip, not a machine state
        try:
            actions = step.resolve()
        except Exception as e:  # noqa: BLE001  (reported, not raised: one bad item must not hide the rest)
            checks.append(Check(step.title, False, [f"cannot list its actions: {e}"]))
            continue
        checks += [c for c in (check_action(step.title, a) for a in actions) if c is not None]
    return checks


def disk_check(path: Path, usage: Callable[[str], Any] = shutil.disk_usage) -> Check:
    """Free space on path's file system: a problem below 1 GiB or 5%."""
    try:
        du = usage(str(path))
    except OSError as e:
        return Check(f"free disk space in {path}", False, [str(e)])
    free_gib = du.free / (1 << 30)
    name = f"free disk space in {path} ({free_gib:.1f} GiB, {100 * du.free / du.total:.0f}%)"
    if du.free < MIN_FREE_BYTES or du.free < MIN_FREE_FRACTION * du.total:
        return Check(name, False, [f"only {free_gib:.2f} GiB free of {du.total / (1 << 30):.1f} GiB"],
                     f"free some space (du -xh {path} | sort -h | tail), or grow the disk")
    return Check(name, True)


def certificate_not_after(pem: bytes) -> float:
    """The expiry (unix time) of the first certificate in PEM data."""
    with tempfile.NamedTemporaryFile(suffix=".pem") as f:
        f.write(pem)
        f.flush()
        decoded = ssl._ssl._test_decode_cert(f.name)  # type: ignore[attr-defined]
    return ssl.cert_time_to_seconds(decoded["notAfter"])


def tls_check(paths: Paths, config: Any, now: float | None = None) -> Check | None:
    """When https is on: the certificate's expiry (None when https is off)."""
    from tljh.config import get_item

    if not get_item(config, "https.enabled", False):
        return None
    try:
        pem = _certificate(paths, config)
    except (OSError, ValueError, KeyError) as e:
        pem, error = None, str(e)
    if pem is None:
        return Check("TLS certificate", False, [f"no certificate yet{': ' + error if 'error' in locals() else ''}"],
                     "for Let's Encrypt: the domain must point here and port 80 be reachable; journalctl -u traefik")
    days = (certificate_not_after(pem) - (now or time.time())) / 86400
    if days < TLS_WARN_DAYS:
        return Check(f"TLS certificate (expires in {days:.0f} days)", False, [f"expires in {days:.0f} days"],
                     "renew it (Let's Encrypt renews by itself 30 days ahead: check journalctl -u traefik)")
    return Check(f"TLS certificate (expires in {days:.0f} days)", True)


def _certificate(paths: Paths, config: Any) -> bytes | None:
    from tljh.config import get_item

    cert = get_item(config, "https.tls.cert", None)
    if cert:
        return Path(str(cert)).read_bytes()
    data = json.loads(paths.acme_json.read_text() or "{}")
    for resolver in data.values():
        for item in (resolver or {}).get("Certificates") or []:
            return base64.b64decode(item["certificate"])
    return None


def all_checks(paths: Paths) -> list[Check]:
    from tljh import config as config_file

    checks = installed_checks(paths)
    try:
        tls = tls_check(paths, config_file.load(paths.config_file))
    except Exception as e:  # noqa: BLE001  (reported, not raised: one bad item must not hide the rest)
        tls = Check("TLS certificate", False, [str(e)])
    checks += [c for c in [tls] if c is not None]
    checks += [disk_check(paths.prefix if paths.prefix.exists() else Path("/")), disk_check(Path("/home"))]
    return checks


def main(paths: Paths, as_json: bool = False) -> int:
    checks = all_checks(paths)
    ok = all(c.ok for c in checks)
    if as_json:
        print(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        print("\n".join(c.line() for c in checks))
        bad = sum(1 for c in checks if not c.ok)
        print("all is as installed" if ok else f"{bad} problem(s)")
    return 0 if ok else 1
