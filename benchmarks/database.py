"""Database Sources against pandas and hand-written driver fast paths, on SQLite, PostgreSQL and MariaDB.

Writes N rows (an int, a float and a string column) and reads them back, in one run per database:

- write: ``TableSource.insert`` + ``commit`` vs ``DataFrame.to_sql`` (default and ``method="multi"``) and the
  raw driver path written by hand (psycopg 3 binary ``COPY ... write_row``; sqlite3 ``executemany`` in one
  transaction; pymysql / mysqlclient ``executemany``);
- read: iterating ``DBSource`` in batches vs ``pandas.read_sql(chunksize=)`` with the same batch size;
- streaming: peak RSS of a fresh process streaming a large result vs one streaming a result 10x smaller.

Targets (issue 5): PostgreSQL write >= 0.5x raw COPY speed and >= 10x ``to_sql``; SQLite write >= 0.7x raw
``executemany``; reads >= 2x ``read_sql`` on the same driver; streaming memory flat. MariaDB is measured through
both pymysql and mysqlclient; the read target applies to mysqlclient, since pymysql's own fetch (printed as the
floor) already takes most of ``read_sql``'s time. Ratios are Fireworks time / peer time.
Run: ``python benchmarks/database.py`` (``--quick`` for a smoke run). Needs the PostgreSQL and MariaDB servers
of the test suite (override with FIREWORKS_TEST_POSTGRES_URL / FIREWORKS_TEST_MARIADB_URL /
FIREWORKS_TEST_MARIADB_MYSQLCLIENT_URL) and mysqlclient (``make bench`` installs it).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from _common import Row, parse_args, report

from fireworks import DBSource, Message, TableSource
from fireworks.database import get_engine

POSTGRES_URL = os.environ.get(
    "FIREWORKS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get(
    "FIREWORKS_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
MARIADB_MYSQLCLIENT_URL = os.environ.get(
    "FIREWORKS_TEST_MARIADB_MYSQLCLIENT_URL", MARIADB_URL.replace("+pymysql://", "+mysqldb://")
)
BATCH = 10_000


def data(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": np.arange(n, dtype=np.int64),
            "b": rng.normal(size=n),
            "c": pd.array([f"name {k % 1000}" for k in range(n)], dtype="str"),
        }
    )


def once(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    return min(once(fn) for _ in range(repeat))


class Tables:
    """Fresh table names on one engine, all dropped at the end."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.names: list[str] = []

    def new(self) -> str:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        self.names.append(name)
        return name

    def create(self) -> str:
        name = self.new()
        with self.engine.begin() as conn:
            key = {
                "sqlite": "INTEGER PRIMARY KEY",
                "postgresql": "BIGSERIAL PRIMARY KEY",
            }.get(conn.dialect.name, "BIGINT AUTO_INCREMENT PRIMARY KEY")
            conn.exec_driver_sql(
                f"CREATE TABLE {name} (id {key}, a BIGINT, b DOUBLE PRECISION, c LONGTEXT)"
                if conn.dialect.name in ("mysql", "mariadb")
                else f"CREATE TABLE {name} (id {key}, a BIGINT, b DOUBLE PRECISION, c TEXT)"
            )
        return name

    def drop(self) -> None:
        with self.engine.begin() as conn:
            for name in self.names:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
            if sa.inspect(conn).has_table("fireworks_columns"):
                conn.execute(
                    sa.text("DELETE FROM fireworks_columns WHERE table_name LIKE 'bench_%'")
                )


def fireworks_write(engine: sa.Engine, tables: Tables, msg: Message) -> Callable[[], None]:
    def run() -> None:
        with TableSource(tables.new(), engine) as t:
            t.insert(msg)

    return run


def pandas_write(
    engine: sa.Engine, tables: Tables, df: pd.DataFrame, **kw: Any
) -> Callable[[], None]:
    def run() -> None:
        df.to_sql(tables.new(), engine, index=False, **kw)

    return run


def psycopg_copy(engine: sa.Engine, tables: Tables, df: pd.DataFrame) -> Callable[[], None]:
    def run() -> None:
        name = tables.create()
        raw = engine.raw_connection()
        try:
            sql = f"COPY {name} (a, b, c) FROM STDIN (FORMAT BINARY)"
            with raw.cursor() as cur, cur.copy(sql) as copy:
                copy.set_types(["int8", "float8", "text"])
                for row in zip(df["a"].tolist(), df["b"].tolist(), df["c"].tolist()):
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()

    return run


def driver_executemany(engine: sa.Engine, tables: Tables, df: pd.DataFrame) -> Callable[[], None]:
    mark = "?" if engine.dialect.name == "sqlite" else "%s"

    def run() -> None:
        name = tables.create()
        if engine.dialect.name == "sqlite":  # a plain sqlite3 connection: one implicit transaction
            raw: Any = sqlite3.connect(str(engine.url.database))
        else:
            raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.executemany(
                f"INSERT INTO {name} (a, b, c) VALUES ({mark}, {mark}, {mark})",
                list(zip(df["a"].tolist(), df["b"].tolist(), df["c"].tolist())),
            )
            raw.commit()
        finally:
            raw.close()

    return run


def fireworks_read(engine: sa.Engine, name: str, n: int) -> Callable[[], None]:
    def run() -> None:
        assert sum(len(m) for m in DBSource(name, engine, batch_size=BATCH)) == n

    return run


def pandas_read(engine: sa.Engine, name: str, n: int) -> Callable[[], None]:
    def run() -> None:
        chunks = pd.read_sql(f"SELECT * FROM {name}", engine, chunksize=BATCH)
        assert sum(len(c) for c in chunks) == n

    return run


def driver_fetch(engine: sa.Engine, name: str, n: int) -> Callable[[], None]:
    """The driver's own unbuffered cursor, rows fetched in batches and dropped: no columns are built."""

    def run() -> None:
        import pymysql.cursors

        raw: Any = engine.raw_connection()
        try:
            cur = raw.cursor(pymysql.cursors.SSCursor)
            cur.execute(f"SELECT * FROM {name} ORDER BY id")
            got = 0
            while rows := cur.fetchmany(BATCH):
                got += len(rows)
            cur.close()
            assert got == n
        finally:
            raw.close()

    return run


STREAM_CHILD = """
import sys
from fireworks import DBSource, Message
Message({{"x": [1]}}) == Message({{"x": [1]}})

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak-RSS counter (VmHWM) to the current RSS
base = status("VmRSS:")
n = sum(len(m) for m in DBSource(sys.argv[2], sys.argv[1], batch_size={batch}).filter("a", "<", int(sys.argv[3])))
assert n == int(sys.argv[3]), n
print(status("VmHWM:") - base)
"""


def stream_peak_rss(url: str, name: str, rows: int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", STREAM_CHILD.format(batch=BATCH), url, name, str(rows)],
        check=True,
        capture_output=True,
        text=True,
    )
    return max(int(out.stdout.strip().splitlines()[-1]) * 1024, 1)


def bench_database(label: str, url: str, n: int, repeat: int, stream_n: int) -> list[Row]:
    engine = get_engine(url)
    tables = Tables(engine)
    df = data(n)
    msg = Message(df)
    rows: list[Row] = []
    dialect = engine.dialect.name
    try:
        ours = best_of(fireworks_write(engine, tables, msg), repeat)
        if dialect == "postgresql":
            raw = best_of(psycopg_copy(engine, tables, df), repeat)
            rows.append(
                Row(f"{label} write {n:,}", ours, "psycopg COPY (write_row)", raw, max_ratio=2.0)
            )
        elif dialect == "sqlite":
            raw = best_of(driver_executemany(engine, tables, df), repeat)
            rows.append(
                Row(f"{label} write {n:,}", ours, "sqlite3 executemany", raw, max_ratio=1 / 0.7)
            )
        else:
            raw = best_of(driver_executemany(engine, tables, df), repeat)
            driver = engine.dialect.driver
            rows.append(Row(f"{label} write {n:,}", ours, f"{driver} executemany", raw))
        to_sql = once(pandas_write(engine, tables, df))
        target = 0.1 if dialect == "postgresql" else None
        rows.append(Row(f"{label} write {n:,}", ours, "pandas to_sql", to_sql, max_ratio=target))
        multi = once(pandas_write(engine, tables, df, method="multi", chunksize=1000))
        rows.append(
            Row(f"{label} write {n:,}", ours, "to_sql(method='multi')", multi, max_ratio=target)
        )

        name = tables.names[0]
        ours_read = best_of(fireworks_read(engine, name, n), repeat)
        theirs_read = best_of(pandas_read(engine, name, n), repeat)
        # pymysql parses every value in Python: its own fetch alone takes most of read_sql's time, so no
        # reader on it can be 2x faster; the target applies to the C drivers (psycopg, sqlite3, mysqlclient).
        pure_python = engine.dialect.driver == "pymysql"
        rows.append(
            Row(
                f"{label} read {n:,}",
                ours_read,
                f"read_sql(chunksize={BATCH})",
                theirs_read,
                max_ratio=None if pure_python else 0.5,
            )
        )
        if pure_python:
            rows.append(
                Row(
                    f"{label} read {n:,}",
                    ours_read,
                    "pymysql SSCursor fetchmany alone",
                    best_of(driver_fetch(engine, name, n), repeat),
                    note="the driver's floor",
                )
            )

        if stream_n:
            big = tables.new()
            with TableSource(big, engine) as t:
                for a in range(0, stream_n, 1_000_000):
                    t.insert(
                        Message(
                            data(min(1_000_000, stream_n - a)).assign(a=lambda d, a=a: d["a"] + a)
                        )
                    )
            small_rss = stream_peak_rss(url, big, stream_n // 10)
            big_rss = stream_peak_rss(url, big, stream_n)
            rows.append(
                Row(
                    f"{label} stream {stream_n:,} rows: RSS growth {big_rss / 2**20:.1f} MiB",
                    big_rss / 2**20,
                    f"{stream_n // 10:,} rows",
                    max(small_rss / 2**20, 8.0),
                    max_ratio=1.5,
                    note="values are MiB of RSS growth, not seconds; peer floor 8 MiB",
                )
            )
    finally:
        tables.drop()
    return rows


def main() -> int:
    args = parse_args("Database Sources vs pandas and raw drivers")
    n = 20_000 if args.quick else 500_000
    stream_n = 200_000 if args.quick else 5_000_000
    repeat = 1 if args.quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        rows = bench_database("SQLite", sqlite_url, n, repeat, stream_n)
        rows += bench_database("PostgreSQL", POSTGRES_URL, n, repeat, stream_n)
        rows += bench_database("MariaDB (pymysql)", MARIADB_URL, n, repeat, 0)
        rows += bench_database("MariaDB (mysqlclient)", MARIADB_MYSQLCLIENT_URL, n, repeat, 0)
    ok = report(f"database Sources ({n:,} rows: int, float, str)", rows)
    print(f"sqlite3 {sqlite3.sqlite_version}; ratio = Fireworks / peer (lower is better)")
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
