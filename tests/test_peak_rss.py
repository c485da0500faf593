"""A run's peak RSS is its own process's, not the peak of the process that started it."""
from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_a_child_does_not_report_its_parents_peak():
    # the parent touches ~600 MB, then starts a small child that reports its own peak
    code = ("import subprocess, sys; x = bytearray(600 * 2**20); x[::4096] = b'1' * len(x[::4096]); "
            "print(subprocess.run([sys.executable, '-c', 'from mmkp_lib.training.trainer import peak_rss_mb; "
            "print(peak_rss_mb())'], capture_output=True, text=True, check=True).stdout.strip())")
    child_peak = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 50 < child_peak < 550  # torch imported (~hundreds of MB), far below the parent's 600 MB
