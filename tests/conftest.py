"""Shared fixtures: real databases (SQLite file, PostgreSQL and MariaDB on 127.0.0.1) and hypothesis profiles.

Tests marked ``db`` need the PostgreSQL and MariaDB servers; when a server is unreachable they FAIL (they never
skip), so CI cannot pass with a database silently missing. Deselect them locally with ``-m "not db"``.
Override the URLs with ``FIREWORKS_TEST_POSTGRES_URL`` / ``FIREWORKS_TEST_MARIADB_URL``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", deadline=None, max_examples=150, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

POSTGRES_URL = os.environ.get(
    "FIREWORKS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get(
    "FIREWORKS_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)

# The same MariaDB server through mysqlclient (the C driver of the `mysql` extra; SQLAlchemy's default for
# mysql:// URLs), since Fireworks has driver-specific fast paths for both.
MARIADB_MYSQLCLIENT_URL = os.environ.get(
    "FIREWORKS_TEST_MARIADB_MYSQLCLIENT_URL", MARIADB_URL.replace("+pymysql://", "+mysqldb://")
)

# PostgreSQL through pg8000 (pure Python), a driver Fireworks has no fast path for: the generic SQLAlchemy path.
POSTGRES_PG8000_URL = os.environ.get(
    "FIREWORKS_TEST_POSTGRES_PG8000_URL", POSTGRES_URL.replace("+psycopg://", "+pg8000://")
)

SERVER_URLS = {
    "postgresql": POSTGRES_URL,
    "postgresql-pg8000": POSTGRES_PG8000_URL,
    "mariadb": MARIADB_URL,
    "mariadb-mysqlclient": MARIADB_MYSQLCLIENT_URL,
}


def _require_server(kind: str) -> str:
    """Return the URL of a reachable server, or fail the test (never skip) naming how to start it."""
    import sqlalchemy as sa

    url = SERVER_URLS[kind]
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as err:  # pragma: no cover - only when the server is down
        pytest.fail(
            f"{kind} is not reachable at {url} ({type(err).__name__}: {err}); start it (see .ci/run) "
            f'or deselect database tests with -m "not db"',
            pytrace=False,
        )
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_url() -> str:
    return _require_server("postgresql")


@pytest.fixture
def mariadb_url() -> str:
    return _require_server("mariadb")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'test.sqlite'}"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.db),
        pytest.param("mariadb", marks=pytest.mark.db),
        pytest.param("mariadb-mysqlclient", marks=pytest.mark.db),
        pytest.param("postgresql-pg8000", marks=pytest.mark.db),
    ]
)
def db_url(request, tmp_path) -> str:
    """One URL per real database and driver: an SQLite file, PostgreSQL, MariaDB (pymysql, mysqlclient)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite'}"
    return _require_server(request.param)


@pytest.fixture
def table_name() -> Iterator[str]:
    """A table name unique to this test, so tests on shared servers never see each other's rows."""
    yield f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def ray_cluster():
    """A real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head and a worker node,
    one CPU and 150 MB of object store each, no dashboard), started once per test session and shared by every
    test marked ``distributed``; this process is connected to it. Shut down, nodes and all, at the end."""
    import ray
    from ray.cluster_utils import Cluster

    store = 150 * 2**20
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "object_store_memory": store,
            "include_dashboard": False,
            "resources": {"head_node": 1},
        },
    )
    try:
        cluster.add_node(num_cpus=1, object_store_memory=store, resources={"worker_node": 1})
        # Ray's workers import test helpers (parallel_task_fns, ...) from the paths pytest added
        path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        ray.init(
            address=cluster.address,
            runtime_env={"env_vars": {"PYTHONPATH": path}},
            log_to_driver=False,
        )
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="session", autouse=True)
def _dashboard_summary_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The dashboard keeps run summaries between starts in a cache folder: the tests' goes in their tmp."""
    old = os.environ.get("FIREWORKS_DASHBOARD_CACHE")
    os.environ["FIREWORKS_DASHBOARD_CACHE"] = str(tmp_path_factory.mktemp("dashboard-cache"))
    yield
    if old is None:
        os.environ.pop("FIREWORKS_DASHBOARD_CACHE", None)
    else:
        os.environ["FIREWORKS_DASHBOARD_CACHE"] = old
