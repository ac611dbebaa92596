"""Correctly rounded float32 powers of a float32, by integer arithmetic only (docs/spec.md §2.2).

A float32 ``rate`` is an exact binary rational ``m * 2**e`` (``m`` odd, or 0), so ``rate ** d`` is
``m**d * 2**(e*d)`` exactly. Each power is rounded once, to the nearest float32 (ties to even,
subnormals and underflow to 0 included), by :func:`round_to_float32`. No libm and no float
arithmetic is involved, so the result is the same on every platform.

Long tables stay cheap: ``m**d`` has up to ``24 * d`` bits, so instead of the exact power the
table walks an *enclosure* ``[lo, hi] * 2**exp`` of ``rate ** d``: each step multiplies both ends by
``m`` and, once they exceed ``working_bits`` (128) bits, truncates ``lo`` down and ``hi`` up, so the
enclosure stays rigorous and less than ``d * 2**-126`` wide relative to the value. Rounding is
monotone, so when both ends round to the same float32, that float32 is the correctly rounded
``rate ** d``. Small powers (and so every exact tie) are never truncated: ``lo == hi`` is exact.
Only when a rounding midpoint lies inside the enclosure does :func:`correctly_rounded_power`
recompute it by square-and-multiply at twice the precision, and again, until the ends agree; at
``d * m.bit_length()`` bits nothing is truncated and the enclosure is the exact power, so this
always ends. The walk stops at the first distance whose rounded power is at most ``floor`` (the
rest of the table is constant); rate 1 gives ones.
"""

from __future__ import annotations

import math

WORKING_BITS = 128
_MIN_NORMAL_EXP = -126  # float32: smallest normal 2**-126, 24-bit significand, subnormals 2**-149
_SIGNIFICAND_BITS = 24

Enclosure = tuple[int, int, int]  # (lo, hi, exp): lo * 2**exp <= value <= hi * 2**exp


def round_to_float32(n: int, exp: int) -> float:
    """The float32 nearest to ``n * 2**exp`` (``0 <= n * 2**exp < 2**128``), ties to even.

    The result is returned as a Python float, which holds every float32 value exactly.
    """
    if n == 0:
        return 0.0
    quantum_exp = max(n.bit_length() - 1 + exp, _MIN_NORMAL_EXP) - (_SIGNIFICAND_BITS - 1)
    shift = quantum_exp - exp
    if shift <= 0:
        return math.ldexp(n, exp)  # at most 24 significant bits, in range: exact
    q = n >> shift
    rest = n - (q << shift)
    half = 1 << (shift - 1)
    if rest > half or (rest == half and q & 1):
        q += 1
    return math.ldexp(q, quantum_exp)


def _narrowed(lo: int, hi: int, exp: int, bits: int) -> Enclosure:
    """The enclosure with at most ``bits`` bits per end: ``lo`` rounded down, ``hi`` up."""
    excess = hi.bit_length() - bits
    if excess <= 0:
        return lo, hi, exp
    return lo >> excess, -(-hi >> excess), exp + excess


def _product(a: Enclosure, b: Enclosure, bits: int) -> Enclosure:
    return _narrowed(a[0] * b[0], a[1] * b[1], a[2] + b[2], bits)


def _power_enclosure(m: int, e: int, d: int, bits: int) -> Enclosure:
    """An enclosure of ``(m * 2**e) ** d`` by square-and-multiply, ends kept to ``bits`` bits."""
    result: Enclosure = (1, 1, 0)
    base: Enclosure = (m, m, e)
    while d:
        if d & 1:
            result = _product(result, base, bits)
        d >>= 1
        if d:
            base = _product(base, base, bits)
    return result


def _rounded_enclosure(lo: int, hi: int, exp: int) -> float | None:
    """The float32 that the value in the walk's enclosure rounds to, or None if more precision is needed.

    Relies on the walk's invariant: unless ``lo == hi`` (exact), ``lo < value < hi`` strictly, since
    the first truncation that drops nonzero bits makes both bounds strict and multiplying by ``m``
    keeps them so. Then, if ``lo`` and ``hi`` lie in one half-quantum cell ``[t, t + 1)``, the value
    lies in ``(t, t + 1)`` and rounds down if ``t`` is even, up if odd (an odd ``t`` is a midpoint).
    """
    if lo == hi:
        return round_to_float32(lo, exp)
    quantum_exp = max(hi.bit_length() - 1 + exp, _MIN_NORMAL_EXP) - (_SIGNIFICAND_BITS - 1)
    half_shift = quantum_exp - exp - 1  # lo and hi in units of half a quantum
    if half_shift < 0 or lo >> half_shift != hi >> half_shift:
        return None
    return math.ldexp(((lo >> half_shift) + 1) >> 1, quantum_exp)


def correctly_rounded_power(m: int, e: int, d: int, bits: int = WORKING_BITS) -> float:
    """The float32 nearest to ``(m * 2**e) ** d``, ties to even, refining the precision as needed."""
    while True:
        lo, hi, exp = _power_enclosure(m, e, d, bits)
        low = round_to_float32(lo, exp)
        if low == round_to_float32(hi, exp):
            return low
        bits *= 2


def exp_floor_table(rate: float, floor: float, length: int, working_bits: int = WORKING_BITS) -> list[float]:
    """``max(round32(rate ** d), floor)`` for ``d = 0 .. length - 1``, ``round32`` correctly rounded.

    ``rate`` and ``floor`` must be float32 values in ``[0, 1]``. Since ``rate ** d`` does not
    increase with ``d``, the table is constant from the first distance whose rounded power is at
    most ``floor`` (or 0), and the walk stops there.
    """
    m, denominator = rate.as_integer_ratio()
    e = 1 - denominator.bit_length()
    values: list[float] = []
    lo = hi = 1
    exp = 0
    for d in range(length):
        if d:
            lo, hi, exp = _narrowed(lo * m, hi * m, exp + e, working_bits)
        power = _rounded_enclosure(lo, hi, exp)
        if power is None:
            power = correctly_rounded_power(m, e, d, 2 * working_bits)
        values.append(max(power, floor))
        if power <= floor or m == denominator:  # constant from here on (rate 1: every power is 1)
            values.extend([values[-1]] * (length - d - 1))
            break
    return values
