"""Build the Cython kernels.

Compiler directives are set once here. ``CLEMATIS_CYTHON_DEBUG=1`` turns bounds and
wrap-around checks back on for debugging.
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("CLEMATIS_CYTHON_DEBUG", "0") == "1"

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

extensions = [
    Extension(
        f"clematis._kernels.{name}",
        [f"clematis/_kernels/{name}.pyx"],
        extra_compile_args=COMPILE_ARGS,
    )
    for name in ("_t1", "_gel")
]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES))
