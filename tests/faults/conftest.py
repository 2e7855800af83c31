"""Fault-injection suite: counts what it tried and what went wrong, and prints the counts at the end.

Every test here is marked ``faults``. The counts are kept for the whole session by :data:`COUNTS` and
printed by ``pytest_terminal_summary``; a test that finds a lost, duplicated, half-written row or a damaged
file silently accepted counts it AND fails, so a green run shows zeros in those lines.

``FIREWORKS_FAULT_POINTS`` sets how many kill points each writer gets (default 10; raise it for a longer,
more thorough run, e.g. ``FIREWORKS_FAULT_POINTS=100 pytest -m faults``, tens of minutes).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

COUNTS: Counter[str] = Counter()
KILL_POINTS = int(os.environ.get("FIREWORKS_FAULT_POINTS", "10"))
# the lines printed at the end, in order; the last four must stay 0
REPORTED = (
    ("writes_interrupted", "writes interrupted by SIGKILL"),
    ("writes_completed", "writes that finished before their kill point"),
    ("continued_writes", "writes by the next process after a kill"),
    ("concurrent_writers", "concurrent writer processes"),
    ("server_kills", "connections ended by the database server"),
    ("truncations", "truncations tried"),
    ("random_files", "random or overwritten files tried"),
    ("line_boundary_cuts", "CSV/JSONL cut at a line break (read exact rows)"),
    ("rows_checked", "rows checked"),
    ("lost", "rows lost"),
    ("duplicated", "rows duplicated"),
    ("half_written", "half-written writes"),
    ("silently_accepted", "damaged files silently accepted"),
)


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not COUNTS:
        return
    terminalreporter.section("fault injection counts")
    for key, label in REPORTED:
        terminalreporter.write_line(f"{label:<48} {COUNTS[key]:>8}")


@pytest.fixture
def counts() -> Counter[str]:
    return COUNTS


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.db),
        pytest.param("mariadb", marks=pytest.mark.db),
    ]
)
def url(request, tmp_path):
    """A database URL for every writer test: a SQLite file of the test's own, PostgreSQL and MariaDB."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'faults.sqlite'}"
    return request.getfixturevalue({"postgresql": "postgres_url"}.get(request.param, "mariadb_url"))
