"""The real MMKP files for the tests that use them: the shared mirror beside the repository, when it is there.

    from _mmkp import MMKP_MIRROR, needs_mmkp

    @needs_mmkp
    def test_on_real_lines(): ...
"""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MMKP_MIRROR = ROOT.parent / "shared" / "data" / "mmkp"  # test/valid posts, side files, train_keyphrases.txt

needs_mmkp = pytest.mark.skipif(
    not (MMKP_MIRROR / "test_src.txt").is_file(),
    reason=f"the real MMKP files are not at {MMKP_MIRROR} (get them with `mmkp data fetch mmkp`, which needs a "
           "network, and place them there)")
