"""Check the C study's dump against clematis and NumPy: ``python crosscheck.py DUMP``.

Every line of the dump (``sampling rate_bits d powf_bits correct_bits``, hex bit patterns) must
give ``correct_bits`` from ``clematis._exact_pow.correctly_rounded_power`` (the decay table's
code) and ``powf_bits`` from NumPy's scalar float32 power (what the table used before).
"""

from __future__ import annotations

import sys

import numpy as np

from clematis._exact_pow import correctly_rounded_power


def float32_bits(value) -> int:
    return int(np.float32(value).view(np.uint32))


def main(path: str) -> int:
    lines = bad_exact = bad_powf = 0
    with open(path) as dump, np.errstate(under="ignore"):
        for line in dump:
            _, rate_hex, d_text, powf_hex, correct_hex = line.split()
            rate = np.uint32(int(rate_hex, 16)).view(np.float32)
            d = int(d_text)
            m, denominator = float(rate).as_integer_ratio()
            exact = float32_bits(correctly_rounded_power(m, 1 - denominator.bit_length(), d))
            bad_exact += exact != int(correct_hex, 16)
            bad_powf += float32_bits(rate ** np.float32(d)) != int(powf_hex, 16)
            lines += 1
    print(f"{lines} (rate, d) pairs checked: {bad_exact} differ from clematis._exact_pow, "
          f"{bad_powf} from NumPy's scalar float32 power")
    return 1 if bad_exact or bad_powf or not lines else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python crosscheck.py DUMP")
    sys.exit(main(sys.argv[1]))
