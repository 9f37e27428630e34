#!/bin/bash
# A stand-in for the Miniforge installer, which cannot be downloaded on the machines this project is
# tested on. Run like the real one (`bash Miniforge3.sh -b -p PREFIX`), it makes a believable conda
# environment: bin/python (a venv of the system's python3, with pip), conda-meta/ with a history file
# and one record per package, and bin/conda and bin/mamba shims. The shims append their argv as one
# JSON line to PREFIX/.standin-commands.jsonl and, for `install`, write conda-meta records of the
# specs (version from `>=V`, `==V` or `=V`, else 1.0), as if they had installed them.
# The installer's own argv is the first line of that log.
# STANDIN_CONDA_VERSION / STANDIN_MAMBA_VERSION / STANDIN_PIP_VERSION set the versions recorded for
# conda, mamba (old ones by default, so the floors are enforced) and pip (default: the venv's);
# STANDIN_FAIL=1 fails half way, leaving files behind; STANDIN_WITHOUT_PIP=1 makes the venv without
# pip (faster, for tests that do not run pip; then set STANDIN_PIP_VERSION).
set -euo pipefail
argv=("$@")
batch=0
prefix=""
while [ $# -gt 0 ]; do
  case "$1" in
    -b) batch=1; shift ;;
    -p) prefix="$2"; shift 2 ;;
    -u|-f) shift ;;
    *) echo "stand-in installer: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$batch" = 1 ] || { echo "stand-in installer: only batch mode (-b) is supported" >&2; exit 2; }
[ -n "$prefix" ] || { echo "stand-in installer: -p PREFIX is required" >&2; exit 2; }
if [ -e "$prefix" ] && [ -n "$(ls -A "$prefix")" ]; then
  echo "ERROR: File or directory already exists: '$prefix'" >&2
  exit 1
fi
echo "PREFIX=$prefix"
python3 -m venv ${STANDIN_WITHOUT_PIP:+--without-pip} "$prefix"
mkdir -p "$prefix/conda-meta" "$prefix/libexec"
python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' standin-installer "${argv[@]}" > "$prefix/.standin-commands.jsonl"
if [ "${STANDIN_FAIL:-}" = 1 ]; then
  echo "stand-in installer: failing half way as asked (STANDIN_FAIL=1)" >&2
  exit 3
fi
echo "# cmd: stand-in installer" > "$prefix/conda-meta/history"
record() {  # NAME VERSION
  printf '{"name": "%s", "version": "%s", "build": "0"}\n' "$1" "$2" > "$prefix/conda-meta/$1-$2-0.json"
}
record python "$("$prefix/bin/python" -c 'import platform; print(platform.python_version())')"
record pip "${STANDIN_PIP_VERSION:-$("$prefix/bin/python" -c 'import importlib.metadata as m; print(m.version("pip"))')}"
record conda "${STANDIN_CONDA_VERSION:-4.9.2}"
record mamba "${STANDIN_MAMBA_VERSION:-0.15.3}"
cat > "$prefix/libexec/standin_conda.py" <<'PY'
"""conda/mamba stand-in: log argv, and for `install` record the specs in conda-meta."""
import json
import re
import sys
from pathlib import Path

prefix = Path(__file__).resolve().parent.parent
with open(prefix / ".standin-commands.jsonl", "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
name, args = Path(sys.argv[1]).name, sys.argv[2:]
if args[:1] == ["--version"]:
    print(f"{name} 0.0-standin")
    sys.exit(0)
if args[:1] != ["install"]:
    sys.exit(0)
specs, skip = [], False
for arg in args[1:]:
    if skip:
        skip = False
    elif arg in ("--prefix", "-p", "--channel", "-c"):
        skip = True
    elif not arg.startswith("-"):
        specs.append(arg)
for spec in specs:
    package = re.split(r"[=<>!~ ]", spec, maxsplit=1)[0].lower()
    version = (re.findall(r"(?:>=|==|=)\s*([0-9][^,\s]*)", spec) or ["1.0"])[0]
    for old in (prefix / "conda-meta").glob(f"{package}-*-*.json"):
        if old.name.rsplit("-", 2)[0] == package:
            old.unlink()
    (prefix / "conda-meta" / f"{package}-{version}-0.json").write_text(
        json.dumps({"name": package, "version": version, "build": "0"}) + "\n")
print(f"stand-in {name}: installed {' '.join(specs)} into {prefix}")
PY
for tool in conda mamba; do
  printf '#!/bin/sh\nexec "%s/bin/python" "%s/libexec/standin_conda.py" "$0" "$@"\n' "$prefix" "$prefix" > "$prefix/bin/$tool"
  chmod 755 "$prefix/bin/$tool"
done
echo "stand-in Miniforge installed into $prefix"
