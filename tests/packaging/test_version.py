"""One version, in one place: ``fireworks.__version__``, the installed metadata, ``fireworks --version`` and
the CHANGELOG agree. Uses only pytest and the standard library (``.ci/wheel-check`` runs it on the wheel)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fireworks

DISTRIBUTION = "torch-fireworks"
CHANGELOG = Path(__file__).resolve().parents[2] / "CHANGELOG.md"


def test_the_metadata_version_is_fireworks_version() -> None:
    assert importlib.metadata.version(DISTRIBUTION) == fireworks.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?", fireworks.__version__)


def test_the_distribution_provides_the_fireworks_package() -> None:
    dist = importlib.metadata.distribution(DISTRIBUTION)
    assert dist.metadata["Name"] == DISTRIBUTION
    files = {str(f) for f in dist.files or ()}
    # an editable install lists no package files, the wheel lists them all
    if any(f.startswith("fireworks/") for f in files):
        assert "fireworks/py.typed" in files
        assert "fireworks/datasets/digits.csv.gz" in files
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"fireworks": "fireworks.cli:main"}


def test_version_flag_prints_the_version_without_importing_torch() -> None:
    code = (
        "import sys\nfrom fireworks.cli import main\nstatus = main(['--version'])\n"
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'imported torch or numpy'\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"fireworks {fireworks.__version__} ({DISTRIBUTION})"


def test_the_command_line_entry_point_answers_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fireworks", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert fireworks.__version__ in done.stdout


def test_the_changelog_has_a_section_for_this_version() -> None:
    if not CHANGELOG.exists():
        pytest.skip("run from an installed wheel: the CHANGELOG is in the source tree only")
    text = CHANGELOG.read_text(encoding="utf-8")
    assert re.search(
        rf"^## \[{re.escape(fireworks.__version__)}\] - \d{{4}}-\d\d-\d\d$", text, re.M
    ), (
        f"CHANGELOG.md has no '## [{fireworks.__version__}] - YYYY-MM-DD' section; add one when the "
        "version changes"
    )
    assert "## [Unreleased]" in text
