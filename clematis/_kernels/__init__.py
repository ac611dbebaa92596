"""Compiled kernels (Cython sources only); import them through clematis._backend."""
