#!/usr/bin/env bash
# The install a user will do once clematis is on PyPI: `pip install clematis==VERSION` by name.
# DIST is served as a local package index on 127.0.0.1 (tools/local_index.py, stopped on exit
# and after LIFETIME seconds in any case), added to pip's configured indexes with
# --extra-index-url, so the dependencies come from the usual index. Into a fresh venv of PYTHON
# (default python3), the wheel is installed with its test extra; pip's install report must show
# clematis downloaded from the local index as a wheel. Then, from a temporary directory outside
# the checkout, the compiled kernel must be the one in site-packages and running, and the
# checkout's tests run against the installed package (--import-mode=importlib).
#
#   tools/pypi-test.sh dist            (make pypi-test runs it after make wheel)
# INDEX_PYTHON names the interpreter that runs the index server (it needs `packaging`).
set -euo pipefail

DIST=$(cd "${1:?usage: tools/pypi-test.sh DIST_DIR}" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
INDEX_PYTHON=${INDEX_PYTHON:-$PYTHON}
LIFETIME=${LIFETIME:-900}
export PIP_DISABLE_PIP_VERSION_CHECK=1
VERSION=$("$PYTHON" -c 'import runpy, sys; print(runpy.run_path(sys.argv[1])["__version__"])' \
          "$REPO/clematis/_version.py")

work=$(mktemp -d "${TMPDIR:-/tmp}/clematis-pypi-test.XXXXXX")
server=
cleanup() {
    if [[ -n $server ]]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$INDEX_PYTHON" "$REPO/tools/local_index.py" "$DIST" --url-file "$work/index-url" --lifetime "$LIFETIME" \
    2>"$work/index.log" &
server=$!
for _ in $(seq 100); do
    [[ -s $work/index-url ]] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/index.log" >&2; echo "the local index did not start" >&2; exit 1; }
    sleep 0.1
done
[[ -s $work/index-url ]] || { echo "the local index did not start within 10 s" >&2; exit 1; }
INDEX=$(<"$work/index-url")
head -n 1 "$work/index.log"

echo "== pip install clematis[test]==$VERSION (by name; $INDEX added to the configured indexes)"
"$PYTHON" -m venv "$work/venv"
VENV_PY="$work/venv/bin/python"
[[ -x $VENV_PY ]] || VENV_PY="$work/venv/Scripts/python.exe"
"$VENV_PY" -m pip install --quiet --only-binary clematis --extra-index-url "$INDEX" \
    --report "$work/install-report.json" "clematis[test]==$VERSION"

mkdir "$work/run"
cd "$work/run"
"$VENV_PY" - "$work/install-report.json" "$INDEX" "$REPO" <<'EOF'
import importlib.util, json, pathlib, sys, sysconfig

report, index, repo = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
(item,) = [i for i in json.loads(report.read_text())["install"] if i["metadata"]["name"] == "clematis"]
url = item["download_info"]["url"]
assert url.startswith(index.removesuffix("simple/")) and url.endswith(".whl"), f"clematis came from {url}"
print("installed from the local index:", url.rsplit("/", 1)[1])

import clematis
import clematis.native.t1

config = clematis.show_config()
package = pathlib.Path(clematis.__file__).resolve()
site = pathlib.Path(sysconfig.get_paths()["platlib"]).resolve()
kernel = pathlib.Path(importlib.util.find_spec("clematis._kernels._t1").origin).resolve()
assert package.is_relative_to(site) and not package.is_relative_to(repo), f"clematis imported from {package}"
assert kernel.is_relative_to(site), f"kernel at {kernel}, outside {site}"
assert clematis.native.t1.available(), clematis.native.t1.unavailable_reason()
assert config["backend"]["active"] == "native", config["backend"]
demo = clematis.run_smoke_turn()
assert demo.graphs[0].backend == "native" and demo.metrics["native_t1"]["used_native"] == 1, demo.metrics
print("compiled kernel:", kernel)
EOF
echo "== the checkout's tests against the installed package, from $PWD"
"$VENV_PY" -m pytest -q -m "not slow" --import-mode=importlib -p no:cacheprovider "$REPO/tests"
echo "== clematis $VERSION installed by name from the local index and tested"
