"""Build the Cython kernels.

Compiler directives are set once here. ``CLEMATIS_CYTHON_DEBUG=1`` turns bounds and
wrap-around checks back on for debugging.

``CLEMATIS_SANITIZE=1`` builds with AddressSanitizer and UndefinedBehaviorSanitizer (gcc or
clang; ``make sanitize`` builds that way in its own venv and runs the parity tests under them).

``CLEMATIS_LIMITED_API=1`` (the default) builds every extension against CPython's Limited API
3.11, so one ``cp311-abi3`` wheel serves CPython 3.11 and later; ``0`` builds a version-specific
wheel (``cp311-cp311``, ...). ``benchmarks/abi3_vs_specific.py`` compares the two.

The extensions are optional: without a working C compiler the build warns, skips them and
installs the pure-Python backend.
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("CLEMATIS_CYTHON_DEBUG", "0") == "1"
SANITIZE = os.environ.get("CLEMATIS_SANITIZE", "0") == "1"
LIMITED_API = os.environ.get("CLEMATIS_LIMITED_API", "1") == "1"
LIMITED_API_VERSION = "0x030B0000"  # CPython 3.11: the first with the buffer protocol in it
LIMITED_API_TAG = "cp311"

DIRECTIVES = {
    "language_level": "3",
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

# -ffp-contract=off: every float32 multiply and add is rounded on its own, as in the reference.
COMPILE_ARGS = ["-O3", "-ffp-contract=off", "-fno-fast-math"] if os.name != "nt" else ["/fp:precise"]
# Every report is fatal (no recovery), with frame pointers and line numbers for the stack traces.
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
LINK_ARGS = SANITIZERS if SANITIZE else []
if SANITIZE:
    COMPILE_ARGS = [*COMPILE_ARGS, "-O1", "-g", "-fno-omit-frame-pointer", *SANITIZERS]

extensions = [
    Extension(
        f"clematis._kernels.{name}",
        [f"clematis/_kernels/{name}.pyx"],
        extra_compile_args=COMPILE_ARGS,
        extra_link_args=LINK_ARGS,
    )
    for name in ("_t1", "_gel")
]

# Set on cythonize's output: it builds new Extension objects and drops ``optional``.
ext_modules = cythonize(extensions, compiler_directives=DIRECTIVES)
for extension in ext_modules:
    extension.optional = True
    if LIMITED_API:
        extension.py_limited_api = True
        extension.define_macros.append(("Py_LIMITED_API", LIMITED_API_VERSION))

setup(
    ext_modules=ext_modules,
    options={"bdist_wheel": {"py_limited_api": LIMITED_API_TAG}} if LIMITED_API else {},
)
