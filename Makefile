# The README's two commands are `make demo` and `make test`; everything else is for developers.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.clematis-installed
SOURCES := setup.py pyproject.toml $(shell find clematis -name '*.py' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' -o -name py.typed -o -path '*/data/*' 2>/dev/null)

.PHONY: install demo test lint fuzz parity-sweep bench bench-compare native-full-chain-verify wheel wheel-test pypi-test decay-study sanitize clean

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# A regular (non-editable) install: the tests then exercise the built package, not the source tree.
# build/ is cleared first: a stale extension left there (e.g. a version-specific .so next to the
# abi3 one) would be packed into the install and, having the preferred suffix, shadow the new one.
$(STAMP): $(PY) $(SOURCES)
	$(PY) -m pip install --quiet "setuptools>=77" "Cython>=3.1"
	rm -rf build clematis/_kernels/*.c
	$(PY) -m pip install --quiet --no-build-isolation ".[test,wheel]"
	touch $(STAMP)

demo: install
	cd /tmp && $(abspath $(PY)) -m clematis.demo

# ruff, the layer contract of docs/architecture.md (import-linter, configured in pyproject.toml),
# mypy on the package and on a user's script, and stubtest: the kernels' .pyi against the build.
lint: install
	$(VENV)/bin/ruff check clematis tests benchmarks setup.py tools
	$(VENV)/bin/lint-imports
	$(VENV)/bin/actionlint -shellcheck $(VENV)/bin/shellcheck
	$(VENV)/bin/mypy clematis tests/typing/user_script.py
	cd /tmp && $(abspath $(PY)) -m mypy.stubtest --allowlist $(abspath tests/typing/stubtest_allowlist.txt) \
		clematis._kernels._t1 clematis._kernels._gel

# Two passes, as msgpack does: the installed build, then the compiled modules blocked
# (CLEMATIS_PUREPYTHON=1): tests marked `native` fail without the kernel in the first and are
# skipped in the second, where everything else must pass.
test: install lint
	$(VENV)/bin/pytest -q -m "not slow" tests
	CLEMATIS_PUREPYTHON=1 $(VENV)/bin/pytest -q -m "not slow" tests

# The fuzz suite, randomized, FUZZ_EXAMPLES inputs per test (make test runs a short fixed pass).
FUZZ_EXAMPLES ?= 5000
fuzz: install
	CLEMATIS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/pytest -q tests/kernel_contract/test_fuzz.py

parity-sweep: install
	CLEMATIS_PARITY_EXAMPLES=3000 $(VENV)/bin/pytest -q -m slow tests

bench: install
	$(VENV)/bin/pytest benchmarks --benchmark-group-by=group --benchmark-autosave -p no:randomly

bench-compare: install
	$(PY) benchmarks/compare.py

# The full-chain validation gate (docs/runner.md): clean RUN copy of DATASET, native run, compare to GOLDEN.
THREADS ?= 0
native-full-chain-verify: install
	@test -n "$(DATASET)" -a -n "$(GOLDEN)" -a -n "$(RUN)" || \
		{ echo "usage: make native-full-chain-verify DATASET=src GOLDEN=gold RUN=run [THREADS=n]" >&2; exit 2; }
	$(VENV)/bin/clematis-native verify --dataset "$(DATASET)" --golden "$(GOLDEN)" --run "$(RUN)" \
		--threads "$(THREADS)"

# The sdist, and the wheel built from it (abi3 unless CLEMATIS_LIMITED_API=0), into dist/. On
# Linux the wheel is repaired into a manylinux one and the linux_* original removed (PyPI refuses
# that tag). Then the checks an upload would fail on: metadata (twine) and contents.
wheel: install
	rm -rf dist
	$(PY) -m build --outdir dist .
ifeq ($(shell uname -s),Linux)
	PATH="$(abspath $(VENV))/bin:$$PATH" auditwheel repair --wheel-dir dist dist/*-linux_*.whl
	rm dist/*-linux_*.whl
endif
	$(VENV)/bin/twine check --strict dist/*
	$(VENV)/bin/check-wheel-contents dist/*.whl

# Audit the wheel, then install it into a fresh venv per CPython 3.11-3.13 found on the machine and
# run the suite from a temporary directory.
wheel-test: wheel
	ABI3AUDIT=$(VENV)/bin/abi3audit AUDITWHEEL=$(VENV)/bin/auditwheel tools/wheel-test.sh dist

# A user's install: `pip install clematis==VERSION` by name from dist/ served on 127.0.0.1, the
# kernel and the suite checked from outside the checkout; then dist/'s sdist built without a
# compiler (CC=false) must fall back to the Python backend (the slow tests of test_packaging.py).
pypi-test: wheel
	PYTHON=$(PYTHON) INDEX_PYTHON=$(PY) tools/pypi-test.sh dist
	CLEMATIS_TEST_SDIST=$(abspath $(wildcard dist/*.tar.gz)) $(VENV)/bin/pytest -q -m slow tests/stage_runner_cli/test_packaging.py

# The decay-table study (benchmarks/RESULTS.md): correct rounding of rate**d vs this machine's powf
# over DECAY_STUDY_SAMPLES float32 rates per sampling, then the dump checked against clematis and NumPy.
# Plain C with its own multi-word integers: needs only a C compiler and libm (no GMP/MPFR).
DECAY_STUDY_SAMPLES ?= 10000000
DECAY_STUDY := build/decay_study
decay-study: install
	mkdir -p $(DECAY_STUDY)
	$(CC) -O2 -std=c11 -Wall -Wextra -o $(DECAY_STUDY)/decay_study benchmarks/decay_study/decay_study.c -lm
	$(DECAY_STUDY)/decay_study $(DECAY_STUDY_SAMPLES) $(DECAY_STUDY)/dump.txt
	$(PY) benchmarks/decay_study/crosscheck.py $(DECAY_STUDY)/dump.txt

# The kernels built with AddressSanitizer and UndefinedBehaviorSanitizer (setup.py CLEMATIS_SANITIZE=1)
# from a copy of the sources in build/sanitize, installed into their own venv (never .venv), then the
# parity tests (and the interrupt tests' child processes) run with gcc's libasan preloaded (the
# interpreter is not instrumented); every report aborts the run, printed on stderr (--capture=sys
# leaves file descriptor 2 alone). Leak detection is off: the interpreter never frees everything.
# See docs/install.md.
SANITIZE_VENV := .venv-sanitize
SANITIZE_SRC := build/sanitize/src
SANITIZE_TESTS := tests/kernel_contract/test_t1_handmade.py tests/kernel_contract/test_parity_random.py \
	tests/user_api/test_batch.py tests/kernel_contract/test_frozen_bits.py tests/kernel_contract/test_truncated.py \
	tests/kernel_contract/test_workspace_memory.py tests/stage_runner_cli/test_interrupt.py \
	tests/kernel_contract/test_fuzz.py
sanitize:
	test -x $(SANITIZE_VENV)/bin/python || $(PYTHON) -m venv $(SANITIZE_VENV)
	$(SANITIZE_VENV)/bin/python -m pip install --quiet "setuptools>=77" "Cython>=3.1"
	rm -rf $(SANITIZE_SRC) && mkdir -p $(SANITIZE_SRC)
	cp -R clematis setup.py pyproject.toml README.md MANIFEST.in LICENSE $(SANITIZE_SRC)/
	find $(SANITIZE_SRC) \( -name '*.so' -o -name '*.c' -o -name __pycache__ \) -prune -exec rm -rf {} +
	cd $(SANITIZE_SRC) && $(abspath $(SANITIZE_VENV))/bin/python -m pip install --quiet --no-build-isolation ".[test]"
	rm -rf $(SANITIZE_SRC)/build
	cd $(SANITIZE_SRC) && CLEMATIS_SANITIZE=1 $(abspath $(SANITIZE_VENV))/bin/python -m pip install --quiet \
		--no-build-isolation --force-reinstall --no-deps .
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so)" PYTHONMALLOC=malloc \
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(SANITIZE_VENV)/bin/pytest -q --capture=sys -m "not slow" -k "not dask" $(SANITIZE_TESTS)

clean:
	rm -rf $(VENV) $(SANITIZE_VENV) build dist wheelhouse *.egg-info clematis/_kernels/*.c clematis/_kernels/*.so
