"""Today's output bits, frozen (tests/golden/bits.json): a change that moves any bit fails here.

Update the digests only on purpose, with ``python tests/bits_digests.py --write`` and the reason in
the commit message.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from bits_digests import GOLDEN, dataset_digests, demo_digests, raw_digests, smoke_digests

FROZEN = json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("backend", ["native", "python"])
@pytest.mark.parametrize("family", [demo_digests, smoke_digests, raw_digests], ids=["demo", "smoke", "raw"])
def test_query_bits_unchanged(family, backend):
    digests = family(backend)
    assert digests, "no digest computed"
    assert digests == {name: FROZEN[name] for name in digests}


@pytest.mark.native
def test_dataset_artifacts_and_state_unchanged():
    with contextlib.redirect_stdout(io.StringIO()):
        digests = dataset_digests()
    assert sorted(digests) == sorted(k for k in FROZEN if k.startswith("dataset/"))
    assert digests == {name: FROZEN[name] for name in digests}
