"""Every benchmark script runs end to end in its ``--quick`` mode, so none of them can rot.

These are smoke runs, not measurements: the numbers are read from the full runs (``make bench``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted(
    p
    for p in (Path(__file__).resolve().parent.parent / "benchmarks").glob("*.py")
    if not p.name.startswith("_")
)


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_quick_mode_runs(script: Path, tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"{script.name} --quick failed:\n{result.stdout}\n{result.stderr}"
    )
    assert "ratio" in result.stdout.lower(), f"{script.name} printed no ratios:\n{result.stdout}"
