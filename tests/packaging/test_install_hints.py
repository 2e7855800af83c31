"""A bare install (no extras) imports and runs the core, and every optional feature used without its extra
fails where it is used, with one line naming the extra — never at ``import fireworks``.

Each check runs in a fresh interpreter. In the development environment every extra is installed, so there the
extras' packages are hidden from that interpreter: an import hook makes ``import optuna`` (and the rest) raise
the ``ModuleNotFoundError`` a missing package raises. ``.ci/wheel-check`` runs this same file against the
installed wheel in a fresh virtual environment with no extras, where nothing needs hiding and every check meets
really missing packages. The file uses only pytest and the standard library, so it runs there as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DISTRIBUTION = "torch-fireworks"
# top-level modules of every optional extra (and the drivers SQLAlchemy picks for plain URLs)
OPTIONAL = (
    "psycopg",
    "psycopg2",
    "pymysql",
    "MySQLdb",
    "pg8000",
    "optuna",
    "ignite",
    "tensorboard",
    "tensorboardX",
    "dash",
    "plotly",
    "ray",
)

HIDE = f"""
import importlib.abc, sys
HIDDEN = {OPTIONAL!r}
class _HideExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _HideExtras())
"""

REPORT = """
import json
_results = {}
def _report(key, fn):
    try:
        fn()
    except BaseException as err:
        _results[key] = {"type": type(err).__name__, "mro": [c.__name__ for c in type(err).__mro__],
                         "message": str(err)}
    else:
        _results[key] = {"type": None}
"""


def run_python(
    code: str, *, hide: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (extras hidden unless ``hide=False``) and return the result."""
    source = (HIDE if hide else "") + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", source],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return done


def outcomes(calls: dict[str, str], setup: str, cwd: Path) -> dict[str, dict]:
    """What each of ``calls`` (name -> Python expression) raises with the extras hidden, all in one fresh
    interpreter after ``setup``: its type, classes and message."""
    lines = [REPORT, textwrap.dedent(setup)]
    lines += [f"_report({key!r}, lambda: {call})" for key, call in calls.items()]
    lines.append("print(json.dumps(_results))")
    done = run_python("\n".join(lines), cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_hint(result: dict, extra: str) -> None:
    assert result["type"] is not None, "the feature ran although its extra is hidden"
    assert "MissingDependencyError" in result["mro"], result
    assert "ImportError" in result["mro"], result  # `except ImportError` still catches it
    message = result["message"]
    assert "\n" not in message, f"the hint must be one line: {message!r}"
    assert f"pip install '{DISTRIBUTION}[{extra}]'" in message, message


def test_the_installed_package_is_the_one_under_test() -> None:
    """In the wheel check, ``fireworks`` must come from the installed wheel, not from a source tree."""
    done = run_python("import fireworks; print(fireworks.__file__)", hide=False)
    assert done.returncode == 0, done.stderr
    where = Path(done.stdout.strip()).resolve()
    if os.environ.get("FIREWORKS_WHEEL_CHECK"):
        assert "site-packages" in where.parts, f"fireworks was imported from {where}, not the wheel"


def test_import_fireworks_loads_no_extra_and_not_torch() -> None:
    """``import fireworks`` is cheap; every public name, and the whole CLI, load without any extra."""
    done = run_python(
        f"""
        import sys
        import fireworks
        assert "torch" not in sys.modules, "import fireworks imported torch"
        for name in fireworks.__all__:
            getattr(fireworks, name)
        from fireworks.cli import build_parser
        build_parser()
        loaded = sorted({{m.partition(".")[0] for m in sys.modules}} & set({OPTIONAL!r}))
        assert not loaded, f"importing fireworks' public names loaded optional packages {{loaded}}"
        print("ok")
        """,
        hide=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"


def test_every_module_imports_without_extras_or_names_its_extra() -> None:
    """No module of the package fails to import with a bare ModuleNotFoundError when extras are missing."""
    done = run_python(
        """
        import importlib, json, pkgutil
        import fireworks
        from fireworks.exceptions import MissingDependencyError
        found = {}
        for info in pkgutil.walk_packages(fireworks.__path__, "fireworks."):
            if info.name.endswith("__main__"):  # runs the command line
                continue
            try:
                importlib.import_module(info.name)
            except MissingDependencyError as err:
                found[info.name] = "hint: " + str(err)
            except ImportError as err:
                found[info.name] = f"BARE {type(err).__name__}: {err}"
            else:
                found[info.name] = "ok"
        print(json.dumps(found))
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert "fireworks.message" in found and "fireworks.cli" in found
    bare = {name: what for name, what in found.items() if what.startswith("BARE")}
    assert not bare, f"modules that fail to import without a hint: {bare}"
    hinted = {name: what for name, what in found.items() if what.startswith("hint")}
    for what in hinted.values():
        assert f"pip install '{DISTRIBUTION}[" in what


def default_driver(url: str) -> str:
    """The driver module SQLAlchemy uses for a URL without one (PostgreSQL: psycopg2 before 2.1, then psycopg)."""
    import sqlalchemy as sa

    driver = sa.make_url(url).get_dialect().driver
    return {"mysqldb": "MySQLdb"}.get(driver, driver)


DRIVER_URLS = [
    pytest.param("postgresql+psycopg://u@127.0.0.1:1/db", "db", "psycopg", id="psycopg"),
    pytest.param(
        "postgresql://u@127.0.0.1:1/db",
        "db",
        default_driver("postgresql://u@127.0.0.1:1/db"),
        id="postgresql-default",
    ),
    pytest.param("mysql+pymysql://u@127.0.0.1:1/db", "db", "pymysql", id="pymysql"),
    pytest.param("mysql+mysqldb://u@127.0.0.1:1/db", "mysql", "MySQLdb", id="mysqlclient"),
    pytest.param(
        "mysql://u@127.0.0.1:1/db",
        "mysql",
        default_driver("mysql://u@127.0.0.1:1/db"),
        id="mysql-default",
    ),
]


USES = {
    "TableSource": "fireworks.TableSource('t', {url!r})",
    "DBSource": "fireworks.DBSource('t', {url!r})",
    "Factory storage": (
        "fireworks.Factory(len, len, fireworks.GridGenerator({{'x': [1]}}), "
        "executor='inline', storage={url!r}, progress=False)"
    ),
}
LINEAR = "torch.nn.Linear(2, 1)"
SGD = f"torch.optim.SGD({LINEAR}.parameters())"
FEATURES = {
    "OptunaGenerator": "fireworks.OptunaGenerator('loss', 'minimize', space={'x': (0.0, 1.0)})",
    "ignite.fit": f"ignite.fit({LINEAR}, {SGD}, None, [])",
    "ignite.create_trainer": f"ignite.create_trainer({LINEAR}, {SGD}, None)",
    "ignite.create_evaluator": f"ignite.create_evaluator({LINEAR}, {{}})",
    "Experiment.tensorboard": "fireworks.Experiment('tb', root='runs').tensorboard()",
}
SETUP = """
import torch
import fireworks
import fireworks.factory.ignite as ignite
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    calls = {
        f"{use}:{p.id}": call.format(url=p.values[0])
        for use, call in USES.items()
        for p in DRIVER_URLS
    }
    return outcomes({**calls, **FEATURES}, SETUP, tmp_path_factory.mktemp("hints"))


@pytest.mark.parametrize(("url", "extra", "module"), DRIVER_URLS)
@pytest.mark.parametrize("use", sorted(USES))
def test_database_url_without_its_driver_names_the_extra(
    url: str, extra: str, module: str, use: str, results: dict, request: pytest.FixtureRequest
) -> None:
    url_id = request.node.callspec.id.split("-", 1)[-1]
    result = results[f"{use}:{url_id}"]
    assert_hint(result, extra)
    assert module in result["message"]
    assert "u@127.0.0.1" in result["message"], "the hint names the URL it is about"
    if module == "psycopg2":
        assert "postgresql+psycopg://" in result["message"]


@pytest.mark.parametrize(
    ("feature", "extra"),
    [
        ("OptunaGenerator", "optuna"),
        ("ignite.fit", "ignite"),
        ("ignite.create_trainer", "ignite"),
        ("ignite.create_evaluator", "ignite"),
        ("Experiment.tensorboard", "tensorboard"),
    ],
)
def test_optional_feature_names_its_extra(feature: str, extra: str, results: dict) -> None:
    assert_hint(results[feature], extra)


def test_dashboard_command_names_the_dashboard_extra(tmp_path: Path) -> None:
    """``fireworks dashboard`` without Dash: exit status 1 and one line on stderr naming the extra."""
    probe = run_python(
        "from fireworks.cli import build_parser; import sys\n"
        "sub = build_parser()._subparsers._group_actions[0].choices\n"
        "sys.exit(0 if 'dashboard' in sub else 3)\n"
    )
    if probe.returncode == 3:
        pytest.skip("this build has no `fireworks dashboard` command yet (issue 14)")
    setup = "import fireworks\nexp = fireworks.Experiment('d', root='runs'); exp.close()\n"
    done = run_python(
        setup + "from fireworks.cli import main; import sys\n"
        "sys.exit(main(['dashboard', exp.path.as_posix()]))\n",
        cwd=tmp_path,
    )
    assert done.returncode == 1, (done.returncode, done.stderr[-3000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got: {done.stderr}"
    assert f"pip install '{DISTRIBUTION}[dashboard]'" in lines[0]


def test_ray_executor_names_the_ray_extra(tmp_path: Path) -> None:
    probe = run_python(
        "from fireworks.parallel import EXECUTORS; import sys\n"
        "sys.exit(0 if 'ray' in EXECUTORS else 3)\n"
    )
    if probe.returncode == 3:
        pytest.skip("this build has no Ray executor yet (issue 13)")
    result = outcomes(
        {"ray": "get_executor('ray', 2)"}, "from fireworks.parallel import get_executor", tmp_path
    )
    assert_hint(result["ray"], "ray")


CORE = """
import numpy as np, torch
import pyarrow.parquet as pq
import fireworks
from fireworks import (Message, Source, CSVSource, JSONLinesSource, ParquetSource, CachingSource,
                       TableSource, DBSource, Experiment, Factory, GridGenerator, train_test_split)
from fireworks.factory.examples import quadratic_evaluator, quadratic_trainer

m = Message({"x": torch.arange(100, dtype=torch.float32), "y": np.arange(100) % 3})
m.save("m.fwm")
assert Message.load("m.fwm")["x"].tolist() == m["x"].tolist()
m.to_pandas().to_csv("m.csv", index=False)
m.to_pandas().to_json("m.jsonl", orient="records", lines=True)
pq.write_table(m.to_arrow(), "m.parquet")
for reader in (CSVSource("m.csv", chunk_size=16), JSONLinesSource("m.jsonl", chunk_size=16),
               ParquetSource("m.parquet")):
    got = Message.concat(list(reader))
    assert got["y"].tolist() == m["y"].tolist(), type(reader).__name__

train, test = train_test_split(Source(m), test=0.25, seed=0)
assert sum(len(b) for b in train.shuffle(seed=0).batch(10)) == 75

table = TableSource("t", "sqlite:///core.sqlite")
table.insert(m)
table.commit()
reader = CachingSource(DBSource("t", "sqlite:///core.sqlite", 32), 64)
back = Message.concat(list(reader))
assert sorted(back["x"].tolist()) == m["x"].tolist()

with Experiment("core", root="runs") as exp:
    factory = Factory(quadratic_trainer, quadratic_evaluator, GridGenerator({"x": [1.0, 2.0, 3.0]}),
                      workers=2, executor="process", metric="loss", direction="minimize",
                      storage=f"sqlite:///{exp.path / 'factory.sqlite'}", progress=False)
    trials = factory.run()
    assert sorted(t.params["x"] for t in trials) == [1.0, 2.0, 3.0], trials
print("core ok")
"""


def test_the_core_runs_without_any_extra(tmp_path: Path) -> None:
    """Message, Sources, readers, caches, SQLite databases, Experiment and Factory on local processes."""
    done = run_python(CORE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip().splitlines()[-1] == "core ok"
