"""The SQL browser: keyset paging against the plain reference (sort everything, slice), filters, read-only."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from fireworks.dashboard.sqlbrowser import (
    Filter,
    connect_readonly,
    count_rows,
    list_tables,
    read_columns,
    read_page,
    table_info,
)


def make_table(path: Path, rows: list[tuple[Any, ...]], extra: str = "") -> None:
    conn = sqlite3.connect(path)
    conn.execute(f'CREATE TABLE "t" (a INTEGER, "b c" TEXT, v REAL){extra}')
    conn.executemany('INSERT INTO "t" VALUES (?, ?, ?)', rows)
    conn.commit()
    conn.close()


def random_rows(rng: random.Random, n: int) -> list[tuple[Any, ...]]:
    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.15 else value

    return [
        (
            maybe(rng.randint(-3, 3)),
            maybe(rng.choice(["x", "y", "z", "%_", "a\\b"])),
            maybe(rng.random()),
        )
        for _ in range(n)
    ]


def reference(
    path: Path, sort: str | None, desc: bool, where: str = "", params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    """The plain meaning: every row ordered by (sort, rowid) in one query, no seeking."""
    conn = sqlite3.connect(path)
    d = "DESC" if desc else "ASC"
    order = f'"{sort}" {d}, rowid {d}' if sort else f"rowid {d}"
    out = conn.execute(f'SELECT * FROM "t"{where} ORDER BY {order}', params).fetchall()
    conn.close()
    return out


def walk(path: Path, size: int, **kw: Any) -> tuple[list[Any], list[list[Any]]]:
    """Every page forwards from the first, then backwards from the last; both as lists of pages."""
    forward, page = [], read_page(path, "t", size=size, **kw)
    forward.append(page.rows)
    while page.has_next:
        page = read_page(path, "t", size=size, after=page.last, **kw)
        forward.append(page.rows)
    backward, page = [], read_page(path, "t", size=size, last=True, **kw)
    backward.append(page.rows)
    while page.has_prev:
        page = read_page(path, "t", size=size, before=page.first, **kw)
        backward.append(page.rows)
    return forward, backward[::-1]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("sort", [None, "a", "b c", "v"])
@pytest.mark.parametrize("desc", [False, True])
def test_keyset_pages_equal_the_sorted_table(
    tmp_path: Path, seed: int, sort: str, desc: bool
) -> None:
    rng = random.Random(seed)
    path = tmp_path / "db.sqlite"
    n = rng.randint(0, 40)
    make_table(path, random_rows(rng, n))
    size = rng.randint(1, 7)
    expected = reference(path, sort, desc)
    forward, backward = walk(path, size, sort=sort, descending=desc)
    assert [r for p in forward for r in p] == expected
    # walking back from the end gives the same rows; pages may be cut differently at the start
    assert [r for p in backward for r in p] == expected
    assert all(len(p) == size for p in forward[:-1])


@pytest.mark.parametrize("seed", range(4))
def test_filters_match_sql_reference(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "db.sqlite"
    make_table(path, random_rows(rng, 60))
    cases = [
        ([Filter("a", ">=", "0")], ' WHERE "a" >= ?', (0,)),
        ([Filter("b c", "contains", "%_")], ' WHERE "b c" = ?', ("%_",)),
        ([Filter("b c", "starts with", "a\\")], ' WHERE "b c" = ?', ("a\\b",)),
        ([Filter("v", "is null")], ' WHERE "v" IS NULL', ()),
        (
            [Filter("a", "!=", "1"), Filter("v", "not null")],
            ' WHERE "a" != 1 AND v IS NOT NULL',
            (),
        ),
    ]
    for filters, where, params in cases:
        expected = reference(path, "v", True, where, params)
        forward, _ = walk(path, 4, sort="v", descending=True, filters=filters)
        assert [r for p in forward for r in p] == expected, filters
        assert count_rows(path, "t", filters) == len(expected)


def test_views_and_without_rowid_tables_page_with_offset(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE w (k INTEGER PRIMARY KEY, x TEXT) WITHOUT ROWID")
    conn.executemany("INSERT INTO w VALUES (?, ?)", [(i, str(i)) for i in range(23)])
    conn.execute("CREATE VIEW vw AS SELECT k * 2 AS k2 FROM w")
    conn.commit()
    conn.close()
    for table in ("w", "vw"):
        assert table_info(path, table).rowid is None
        page = read_page(path, table, size=5, sort=None)
        seen = list(page.rows)
        while page.has_next:
            page = read_page(path, table, size=5, after=page.last)
            seen += page.rows
        assert len(seen) == 23 and not page.keyset
        assert read_page(path, table, size=5, last=True).rows == seen[20:]


def test_a_column_named_rowid_does_not_break_seeking(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (rowid TEXT, x INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [("r", i % 3) for i in range(10)])
    conn.commit()
    conn.close()
    assert table_info(path, "t").rowid == "_rowid_"
    page = read_page(path, "t", size=4, sort="x")
    rows = list(page.rows)
    while page.has_next:
        page = read_page(path, "t", size=4, sort="x", after=page.last)
        rows += page.rows
    assert [r[1] for r in rows] == sorted(i % 3 for i in range(10))


def test_bad_arguments_name_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    make_table(path, [(1, "x", 0.5)])
    with pytest.raises(ValueError, match="cannot sort on 'nope'"):
        read_page(path, "t", sort="nope")
    with pytest.raises(ValueError, match="cannot filter on 'nope'"):
        read_page(path, "t", filters=[Filter("nope", "=", 1)])
    with pytest.raises(ValueError, match="unknown filter operator"):
        read_page(path, "t", filters=[Filter("a", "; DROP TABLE t", 1)])
    with pytest.raises(ValueError, match="needs a value"):
        read_page(path, "t", filters=[Filter("a", "=", "")])
    with pytest.raises(ValueError, match="page size"):
        read_page(path, "t", size=0)
    with pytest.raises(KeyError, match="no table 'zz'"):
        read_page(path, "zz")
    unsorted = read_page(path, "t", size=1)
    with pytest.raises(ValueError, match="another sort order"):
        read_page(path, "t", size=1, sort="a", after=unsorted.last)


def test_connections_are_read_only_and_never_create_files(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    make_table(path, [(1, "x", 0.5)])
    conn = connect_readonly(path)
    with pytest.raises(
        sqlite3.OperationalError, match=r"readonly|read-only|query_only|attempt to write"
    ):
        conn.execute("DELETE FROM t")
    conn.close()
    with pytest.raises(sqlite3.OperationalError, match="no SQLite file"):
        connect_readonly(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()
    hostile = 'x"; DROP TABLE t; --'
    with pytest.raises(KeyError):
        read_page(path, hostile)
    assert [t.name for t in list_tables(path)] == ["t"]


def test_a_corrupt_file_raises_sqlite_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.sqlite"
    path.write_bytes(b"not a database" * 200)
    with pytest.raises(sqlite3.DatabaseError):
        list_tables(path)


def test_read_columns_thins_large_tables_by_rowid(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    make_table(path, [(i, str(i), i / 10) for i in range(1000)])
    full = read_columns(path, "t", ["a", "v"], max_points=5000)
    assert full["a"] == list(range(1000))
    thin = read_columns(path, "t", ["a"], max_points=100)
    assert len(thin["a"]) == 100 and thin["a"][:3] == [9, 19, 29]
    with pytest.raises(ValueError, match="no column 'zz'"):
        read_columns(path, "t", ["zz"])
