#!/usr/bin/env bash
# Audit the wheel in DIST, then test it on every CPython 3.11, 3.12 and 3.13 found on this machine:
# a fresh venv each, the wheel (not the checkout) installed with its test extra, and the suite run
# from a temporary directory so the source tree cannot shadow the installed package.
#
#   tools/wheel-test.sh dist            (make wheel-test runs it after make wheel)
# ABI3AUDIT and AUDITWHEEL name the audit tools when they are not on PATH.
set -euo pipefail

DIST=$(cd "${1:?usage: tools/wheel-test.sh DIST_DIR}" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
VERSIONS=(3.11 3.12 3.13)
export PIP_DISABLE_PIP_VERSION_CHECK=1

shopt -s nullglob
wheels=("$DIST"/*.whl)
[[ ${#wheels[@]} -eq 1 ]] || { echo "expected one wheel in $DIST, found ${#wheels[@]}" >&2; exit 1; }
WHEEL=${wheels[0]}
echo "== $(basename "$WHEEL")"

if [[ $WHEEL == *-abi3-* ]]; then
    "${ABI3AUDIT:-abi3audit}" --strict --summary "$WHEEL"
fi
if [[ $(uname -s) == Linux ]]; then
    report=$("${AUDITWHEEL:-auditwheel}" show "$WHEEL")
    echo "$report"
    grep -q '"manylinux_' <<<"$report" || { echo "auditwheel reports no manylinux tag" >&2; exit 1; }
fi

# Candidate interpreters: versioned names on PATH, then every pyenv (or similar) install.
candidates=()
for version in "${VERSIONS[@]}"; do
    path=$(command -v "python$version" || true)
    [[ -n $path ]] && candidates+=("$path")
done
candidates+=("${PYENV_ROOT:-$HOME/.pyenv}"/versions/*/bin/python3 /usr/bin/python3.1[0-9] /usr/local/bin/python3.1[0-9])

declare -A found=()
for python in "${candidates[@]}"; do
    version=$("$python" -c 'import sys; print(sys.implementation.name, "%d.%d" % sys.version_info[:2])' \
              2>/dev/null) || continue
    [[ $version == cpython\ * ]] || continue
    version=${version#cpython }
    [[ " ${VERSIONS[*]} " == *" $version "* && -z ${found[$version]:-} ]] || continue
    "$python" -c 'import venv, ensurepip' 2>/dev/null || continue
    found[$version]=$python
done
[[ ${#found[@]} -gt 0 ]] || { echo "no CPython ${VERSIONS[*]} found" >&2; exit 1; }

tested=()
work=$(mktemp -d "${TMPDIR:-/tmp}/clematis-wheel-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
for version in "${VERSIONS[@]}"; do
    python=${found[$version]:-}
    if [[ -z $python ]]; then
        echo "== CPython $version: not found, skipped"
        continue
    fi
    echo "== CPython $version: $python"
    venv="$work/venv-$version"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet "$WHEEL[test]"
    mkdir -p "$work/run-$version"
    (
        cd "$work/run-$version"
        "$venv/bin/python" -c 'import importlib.util, clematis.native.t1 as t1
assert t1.available(), t1.unavailable_reason()
print("compiled kernel:", importlib.util.find_spec("clematis._kernels._t1").origin)'
        "$venv/bin/python" -m pytest -q -m "not slow" "$REPO/tests"
    )
    tested+=("$version")
done
echo "== wheel tested on CPython ${tested[*]}"
