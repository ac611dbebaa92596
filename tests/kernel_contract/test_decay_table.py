"""The exp-floor decay table: correctly rounded float32 ``rate ** d``, the same on every platform.

Literal bit patterns below were computed once with the table's former definition (glibc ``powf``
through NumPy's scalar float32 power): the fixed rates keep today's bits. The property tests
compare with an independent exact reference written with ``fractions.Fraction``.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clematis._decay import decay_table
from clematis._exact_pow import exp_floor_table, round_to_float32
from clematis._params import Decay

ONE_BITS = 0x3F800000
MIN_SUBNORMAL = 2.0**-149


def exp_floor(rate, floor) -> Decay:
    return Decay.build("exp_floor", rate=rate, floor=floor)


def reference_float32(x: Fraction) -> np.float32:
    """The float32 nearest to ``x >= 0``, ties to the even bit pattern, by comparing neighbours."""
    with np.errstate(under="ignore"):
        guess = np.float32(float(x))  # within one float32 step of the answer
    candidates = (np.nextafter(guess, np.float32(0)), guess, np.nextafter(guess, np.float32(2)))
    return min(candidates, key=lambda c: (abs(Fraction(float(c)) - x), int(c.view(np.uint32)) & 1))


def reference_table(rate: float, floor: float, length: int) -> np.ndarray:
    exact = Fraction(rate)
    return np.array([max(reference_float32(exact**d), np.float32(floor)) for d in range(length)], np.float32)


def bits(values) -> list[int]:
    return np.asarray(values, dtype=np.float32).view(np.uint32).tolist()


def hex_bits(values) -> str:
    return " ".join(f"{b:08x}" for b in bits(values))


def f32(value: float) -> float:
    return float(np.float32(value))


def from_bits(pattern: int) -> float:
    return float(np.uint32(pattern).view(np.float32))


PINNED_D0_TO_16 = {
    (0.6, 0.05): "3f800000 3f19999a 3eb851ec 3e5d2f1c 3e04b5de 3d9f40a5 3d4ccccd 3d4ccccd 3d4ccccd "
                 "3d4ccccd 3d4ccccd 3d4ccccd 3d4ccccd 3d4ccccd 3d4ccccd 3d4ccccd 3d4ccccd",
    (0.6, 0.0): "3f800000 3f19999a 3eb851ec 3e5d2f1c 3e04b5de 3d9f40a5 3d3f1a60 3ce552da 3c89981d "
                "3c251cf0 3bc622ba 3b6dc346 3b0ea85d 3aab3071 3a4d6d54 39f68333 3993e852",
    (0.5, 0.0): "3f800000 3f000000 3e800000 3e000000 3d800000 3d000000 3c800000 3c000000 3b800000 "
                "3b000000 3a800000 3a000000 39800000 39000000 38800000 38000000 37800000",
    (0.9, 0.0): "3f800000 3f666666 3f4f5c28 3f3a9fbd 3f27f62a 3f172a59 3f080c83 3ef4e352 3edc6630 "
                "3ec65bf7 3eb285f8 3ea0abc5 3e909a98 3e8224bb 3e6a421e 3e52d51a 3e3dbfcb",
}


@pytest.mark.parametrize(("rate", "floor"), list(PINNED_D0_TO_16))
def test_default_rates_keep_their_pinned_bits(rate, floor):
    assert hex_bits(decay_table(exp_floor(rate, floor), 17)) == PINNED_D0_TO_16[rate, floor]


# sha256 of the float32 bytes of the floor-0 table at d = 0 .. length - 1, computed with ``powf``:
# every distance of every radius in use (the largest is 12), and for 0.3-0.6 the whole table
# including its subnormal tail and underflow to 0. Floors only replace small values, so floored
# tables of these rates keep their bits too.
SAME_AS_POWF = {
    (0.3, 256): "5ef5f20c571d806c9de9db9b87693b455cc4b1056fb5cef0a5fc21fadd78a821",
    (0.5, 256): "c4063610af40c7588cd6d9c702b4f83d479e322b2339eeed57562b1de90981dd",
    (0.6, 256): "4125027de7e1cb5b938123f3367b40faa1fd5e2253ce35a35344d8ea0f3b4d36",
    (0.9, 685): "6fde896ed25840f104c587486e1b5b1956dcbcb456374eb18000dc4f6bbdb06f",
    (0.95, 58): "7a7f4a44d72c6432c1835d05261b5720fd817fd6878c123c99f4d59b348cf20a",
}


@pytest.mark.parametrize(("rate", "length"), list(SAME_AS_POWF))
def test_fixed_rates_match_the_former_powf_table(rate, length):
    table = decay_table(exp_floor(rate, 0.0), length)
    assert hashlib.sha256(table.tobytes()).hexdigest() == SAME_AS_POWF[rate, length]


@pytest.mark.parametrize(("rate", "d", "powf_bits", "correct_bits"),
                         [(0.95, 58, 0x3D51167C, 0x3D51167B), (0.9, 685, 0x0B6B37D1, 0x0B6B37D0)])
def test_first_distances_where_powf_was_not_correctly_rounded(rate, d, powf_bits, correct_bits):
    exact = Fraction(f32(rate)) ** d
    distance = {b: abs(Fraction(from_bits(b)) - exact) for b in (powf_bits, correct_bits)}
    assert distance[correct_bits] < distance[powf_bits]
    assert bits(decay_table(exp_floor(rate, 0.0), d + 1))[d] == correct_bits


@pytest.mark.parametrize(("rate", "d", "expected"), [
    (319 / 512, 3, "tie rounds up to even"),
    (4097 / 8192, 2, "tie rounds down to even"),
    (2.0**-25, 6, "2**-150: tie between 0 and the smallest subnormal, to 0"),
    (3 * 2.0**-50, 3, "13.5 * 2**-149: subnormal tie, up to 14 * 2**-149"),
    (3 * 2.0**-75, 2, "4.5 * 2**-149: subnormal tie, down to 4 * 2**-149"),
])
def test_exact_ties_round_to_even(rate, d, expected):
    exact = Fraction(rate) ** d
    got = exp_floor_table(rate, 0.0, d + 1)[d]
    below, above = (float(np.nextafter(np.float32(got), np.float32(t))) for t in (0, 2))
    neighbour = below if Fraction(got) > exact else above
    assert abs(Fraction(got) - exact) == abs(Fraction(neighbour) - exact), expected  # a tie ...
    assert bits([got])[0] % 2 == 0, expected  # ... won by the even bit pattern
    assert bits([got]) == bits([reference_float32(exact)])


def test_powers_of_one_half_reach_the_smallest_subnormal_then_zero():
    table = exp_floor_table(0.5, 0.0, 200)
    assert table[126] == 2.0**-126 and table[149] == MIN_SUBNORMAL
    assert table[150:] == [0.0] * 50  # 2**-150 is a tie between 0 and 2**-149: to 0


def test_rate_zero_and_rate_one():
    assert exp_floor_table(0.0, f32(0.05), 4) == [1.0, f32(0.05), f32(0.05), f32(0.05)]
    assert exp_floor_table(0.0, 0.0, 3) == [1.0, 0.0, 0.0]
    assert exp_floor_table(1.0, 0.0, 5) == [1.0] * 5
    assert exp_floor_table(0.6, 1.0, 3) == [1.0] * 3
    assert exp_floor_table(0.6, 0.0, 0) == []


def test_subnormal_rate_underflows_to_zero_at_distance_two():
    assert exp_floor_table(MIN_SUBNORMAL, 0.0, 3) == [1.0, MIN_SUBNORMAL, 0.0]


def test_long_table_close_to_one_is_correctly_rounded_throughout():
    rate = from_bits(ONE_BITS - 1)  # 1 - 2**-24: never reaches the floor within the table
    table = exp_floor_table(rate, 0.0, 30_001)
    assert len(table) == 30_001 and table[-1] > 0.99
    for d in (1, 2, 777, 4096, 12_345, 30_000):
        assert bits([table[d]]) == bits([reference_float32(Fraction(rate) ** d)]), d


def test_decay_table_is_read_only_cached_float32():
    table = decay_table(exp_floor(0.6, 0.05), 9)
    assert table.dtype == np.float32 and not table.flags.writeable
    assert decay_table(exp_floor(0.6, 0.05), 9) is table


@pytest.mark.parametrize(("n", "exp"), [(0, 5), (1, -149), (1, -150), (3, -151), ((1 << 24) - 1, -24),
                                        ((1 << 25) - 1, -25), ((1 << 24) + 1, -24), (12345, -140)])
def test_round_to_float32_matches_the_reference(n, exp):
    assert bits([round_to_float32(n, exp)]) == bits([reference_float32(Fraction(n) * Fraction(2) ** exp)])


float32_below_one = st.one_of(
    st.integers(0, ONE_BITS).map(from_bits),  # uniform over bit patterns: subnormals and tiny rates
    st.floats(0.0, 1.0, width=32),
    st.integers(1, 1 << 12).map(lambda k: 1.0 - k * 2.0**-24),  # close to 1: long slow decay
)
floors = st.one_of(st.just(0.0), st.floats(0.0, 1.0, width=32))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(rate=float32_below_one, floor=floors, length=st.integers(0, 160))
@example(rate=0.6, floor=0.0, length=160)
@example(rate=319 / 512, floor=0.0, length=8)
@example(rate=2.0**-25, floor=0.0, length=8)
def test_table_equals_the_exact_reference(rate, floor, length):
    assert bits(exp_floor_table(rate, floor, length)) == bits(reference_table(rate, floor, length))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(rate=float32_below_one, length=st.integers(0, 120), working_bits=st.integers(1, 40))
@example(rate=319 / 512, length=4, working_bits=24)
def test_low_working_precision_is_refined_to_the_same_table(rate, length, working_bits):
    """Narrow enclosures straddle rounding boundaries often: the refinement must still be exact."""
    assert bits(exp_floor_table(rate, 0.0, length, working_bits)) == bits(reference_table(rate, 0.0, length))
