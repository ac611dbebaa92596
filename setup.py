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
from setuptools.command.build_ext import build_ext

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
    # "clinic": signatures go to __text_signature__ (inspect.signature), not into the docstring, so
    # no docstring starts with Cython's fused-dispatch line; the .pyi stubs give the typed signatures.
    "embedsignature.format": "clinic",
}

# Bit-identity with the Python reference needs every float32 multiply and add rounded on its own
# (no fused multiply-add, no reassociation, no excess precision). The flags are chosen by the
# compiler that actually runs (build_ext's compiler_type), not by the OS, so MinGW on Windows gets
# the GCC flags and MSVC never sees GCC options.
#   GCC and Clang (compiler_type "unix", "mingw32", "cygwin"): -ffp-contract=off, because GCC's
#   default for GNU C is "fast" and Clang's is "on" (contraction inside one expression), and
#   arm64 (Apple silicon, aarch64 Linux) has FMA instructions they would use; -fno-fast-math
#   keeps a CFLAGS=-ffast-math from the environment from undoing it. x86_64 and arm64 compute
#   float32 in SSE/NEON registers, so there is no x87 excess precision to turn off.
#   MSVC (compiler_type "msvc"): /fp:precise is the default; it is set so an /fp:fast in the CL
#   environment variable is overridden. Since Visual Studio 2022 it forbids contractions (only /fp:contract
#   allows them) and x64 code without /arch:AVX2 has no FMA instruction to contract into.
#   setuptools already passes MSVC's optimisation flag (/Ox); -O3 is GCC/Clang syntax only.
MSVC_FLAGS = ["/fp:precise"]
GCC_CLANG_FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math"]
# CLEMATIS_SANITIZE=1: every report is fatal (no recovery), with frame pointers and line numbers.
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
SANITIZE_FLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", *SANITIZERS]


def compile_flags(compiler_type: str) -> list[str]:
    """The flags for a distutils ``compiler_type`` ("msvc", "unix", "mingw32", ...)."""
    if compiler_type == "msvc":
        return MSVC_FLAGS
    return [*GCC_CLANG_FLAGS, *SANITIZE_FLAGS] if SANITIZE else GCC_CLANG_FLAGS


class BuildExtExactFloat(build_ext):
    """build_ext adding :func:`compile_flags` of the compiler in use to every extension."""

    def build_extensions(self) -> None:
        flags = compile_flags(self.compiler.compiler_type)
        for extension in self.extensions:
            extension.extra_compile_args = [*flags, *extension.extra_compile_args]
        super().build_extensions()


def kernel_extensions() -> list[Extension]:
    """The Cython kernels, optional, against the Limited API unless switched off."""
    extensions = [Extension(f"clematis._kernels.{name}", [f"clematis/_kernels/{name}.pyx"],
                            extra_link_args=SANITIZERS if SANITIZE else [])
                  for name in ("_t1", "_gel")]
    # Set on cythonize's output: it builds new Extension objects and drops ``optional``.
    ext_modules = cythonize(extensions, compiler_directives=DIRECTIVES)
    for extension in ext_modules:
        extension.optional = True
        if LIMITED_API:
            extension.py_limited_api = True
            extension.define_macros.append(("Py_LIMITED_API", LIMITED_API_VERSION))
    return ext_modules


# setuptools runs this file as __main__; tests import it for compile_flags without building.
if __name__ == "__main__":
    setup(
        ext_modules=kernel_extensions(),
        cmdclass={"build_ext": BuildExtExactFloat},
        options={"bdist_wheel": {"py_limited_api": LIMITED_API_TAG}} if LIMITED_API else {},
    )
