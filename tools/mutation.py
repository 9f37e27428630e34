"""Mutation testing of the core with mutmut: which deliberate bugs do the unit tests notice?

    /work/main/.venv/bin/python tools/mutation.py                    # every core module, one at a time
    /work/main/.venv/bin/python tools/mutation.py tljh/schema.py     # one module
    ... --survivors                                                   # also print each survivor's diff

Each module runs in its own scratch copy of the repository (under --workdir, default
/tmp/tljh-mutation/<module>), with one mutmut worker and a time limit, so the repository holds no
mutmut state and the host's other work keeps its cores. The score is mutmut's: mutants killed
(a test failed, or it timed out) over mutants tested. The target is at least 85% per module.
Not run by CI: a whole run takes tens of minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORE = [
    "tljh/schema.py",
    "tljh/config.py",
    "tljh/hub/users.py",
    "tljh/cli/reload.py",
    "tljh/actions/__init__.py",
    "tljh/actions/files.py",
    "tljh/actions/system.py",
    "tljh/actions/systemd.py",
    "tljh/actions/python.py",
    "tljh/actions/conda.py",
    "tljh/plugins.py",
]
SKIPPED = {".git", ".venv", ".hypothesis", ".mypy_cache", ".ruff_cache", ".pytest_cache", "test-artifacts", "mutants"}
TARGET = 85.0
# Functions that run only while their module is imported (building a constant): mutmut switches
# mutants on at call time, in workers forked after the import, so their mutants cannot be killed
# by any test. They are reported apart and left out of the score.
IMPORT_TIME = {
    "tljh.schema.x__port": "builds SCHEMA at import",
    "tljh.schema.x__ip": "builds SCHEMA at import",
    "tljh.schema.x__section": "builds SCHEMA at import",
}
SETUP_CFG = """[mutmut]
source_paths = tljh
only_mutate = {module}
pytest_add_cli_args_test_selection = tests/
pytest_add_cli_args = -p no:cacheprovider
use_git_change_detection = False
also_copy =
{also_copy}
"""


def scratch_copy(module: str, workdir: Path) -> Path:
    """A fresh copy of what the unit tests need, with a mutmut configuration for this module only."""
    where = workdir / module.replace("/", "_").removesuffix(".py")
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    names = sorted(p.name for p in REPO.iterdir() if p.name not in SKIPPED)  # the tests read files anywhere
    for name in names:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, where / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, where / name)
    also_copy = "\n".join(f"    {n}" for n in names if n not in ("tljh", "setup.cfg"))
    (where / "setup.cfg").write_text(SETUP_CFG.format(module=module, also_copy=also_copy))
    return where


def mutmut(where: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mutmut", *args]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TLJH_HYPOTHESIS_PROFILE": "mutation"}
    return subprocess.run(command, cwd=where, env=env, capture_output=True, text=True, timeout=timeout)


def run_module(module: str, workdir: Path, timeout: float, survivors: bool) -> dict[str, object]:
    """Run mutmut on one module; its counts, score and surviving mutants."""
    where = scratch_copy(module, workdir)
    start = time.monotonic()
    try:
        run = mutmut(where, "run", "--max-children", "1", timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"module": module, "error": f"mutmut run took more than {timeout:.0f}s"}
    (where / "mutmut-run.log").write_text(run.stdout + run.stderr)
    mutmut(where, "export-cicd-stats", timeout=120)
    stats_file = where / "mutants" / "mutmut-cicd-stats.json"
    if not stats_file.exists():
        return {"module": module, "error": f"no results (see {where / 'mutmut-run.log'})"}
    stats = json.loads(stats_file.read_text())
    if run.returncode != 0 or stats["killed"] + stats["survived"] + stats["timeout"] == 0:
        return {"module": module, "error": f"mutmut run failed (see {where / 'mutmut-run.log'})"}
    tested = stats["total"] - stats["skipped"]
    killed = stats["killed"] + stats["timeout"]
    left = {name.strip(): status.strip() for name, _, status in
            (line.partition(":") for line in mutmut(where, "results", timeout=120).stdout.splitlines() if line.strip())}
    import_time = {n: s for n, s in left.items() if n.rsplit("__mutmut_", 1)[0] in IMPORT_TIME}
    left = {n: s for n, s in left.items() if n not in import_time}
    tested -= len(import_time)
    result: dict[str, object] = {
        "module": module, "mutants": stats["total"] - len(import_time), "killed": killed,
        "survived": stats["survived"] - len(import_time), "import_time": len(import_time),
        "no_tests": stats["no_tests"], "suspicious": stats["suspicious"],
        "score": round(100.0 * killed / tested, 1) if tested else 100.0,
        "seconds": round(time.monotonic() - start), "survivors": left, "workdir": str(where),
    }
    if survivors:
        result["diffs"] = {name: mutmut(where, "show", name, timeout=60).stdout for name in left}
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", default=CORE, help="source files to mutate (default: the core)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/tljh-mutation"))
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per module (default 1800)")
    parser.add_argument("--survivors", action="store_true", help="print each surviving mutant's diff")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    results = []
    for module in args.modules:
        result = run_module(module, args.workdir, args.timeout, args.survivors)
        results.append(result)
        if "error" in result:
            print(f"{module:28} ERROR {result['error']}", flush=True)
            continue
        print(f"{module:28} {result['score']:5.1f}%  killed {result['killed']}/{result['mutants']}  "
              f"survived {result['survived']}  no tests {result['no_tests']}  "
              f"(+{result['import_time']} at import time, not counted)  ({result['seconds']}s)", flush=True)
        for name, status in result["survivors"].items():  # type: ignore[attr-defined]
            print(f"    {name}: {status}")
            if args.survivors:
                print("      " + result["diffs"][name].strip().replace("\n", "\n      "))  # type: ignore[index]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    below = [r["module"] for r in results if "error" in r or float(r["score"]) < TARGET]  # type: ignore[arg-type]
    if below:
        print(f"below {TARGET:.0f}% (or failed): {', '.join(map(str, below))}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
