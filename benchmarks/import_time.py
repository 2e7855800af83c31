"""What ``import fireworks`` costs, against ``import torch`` and ``import pandas``, each in a fresh process.

Target (issue 15): importing Fireworks costs at most 0.2 s more than importing torch and pandas themselves.
``import fireworks`` is lazy (the public names load on first use), so the row that matters is what users
write, ``from fireworks import Message, Source``; the whole core (``+ TableSource, Experiment, Factory``)
and ``fireworks --version`` are shown too. Every statement runs in a new interpreter, timed inside it (the
interpreter's own start-up is left out), the statements interleaved, the median of the repeats reported.
The last table splits the import into Fireworks' own modules and its dependencies (``python -X importtime``).

    python benchmarks/import_time.py [--quick]
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from _common import Row, fmt_seconds, parse_args, report

TIMER = "{before}\nimport time\n_t = time.perf_counter()\n{stmt}\nprint(repr(time.perf_counter() - _t))\n"
PEER = "import torch, pandas"
STATEMENTS = {
    "torch": "import torch",
    "pandas": "import pandas",
    "peer": PEER,
    "import fireworks": "import fireworks",
    "Message, Source": "from fireworks import Message, Source",
    "core": "from fireworks import Message, Source, TableSource, DBSource, Experiment, Factory",
    "--version": "from fireworks.cli import main\nmain(['--version'])",
}


def time_in_fresh_process(stmt: str, before: str = "") -> float:
    """Seconds ``stmt`` takes in a new interpreter, after the untimed ``before``."""
    done = subprocess.run(
        [sys.executable, "-c", TIMER.format(stmt=stmt, before=before)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return float(done.stdout.strip().splitlines()[-1])


def own_and_dependencies(stmt: str) -> tuple[float, float]:
    """Seconds spent in Fireworks' own module bodies and in everything else, from ``-X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", stmt],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    own = other = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line[12:].split("|"))
        if name.lstrip().startswith("fireworks"):
            own += int(self_us)
        else:
            other += int(self_us)
    return own / 1e6, other / 1e6


def main(argv: list[str] | None = None) -> int:
    # a smoke run (the test suite's) times each case once: every case is a fresh interpreter importing torch
    args = parse_args(__doc__.splitlines()[0], argv, quick_repeat=1)
    repeat = args.repeat
    # (key, statement timed, statement run untimed before it in the same process)
    cases = [(key, stmt, "") for key, stmt in STATEMENTS.items()]
    extras = {  # the extra time over torch + pandas: timed in a process that imported them already
        "+import fireworks": "import fireworks",
        "+Message, Source": STATEMENTS["Message, Source"],
        "+Experiment": "from fireworks import Experiment",
        "+TableSource, DBSource": "from fireworks import TableSource, DBSource",
        "+Factory": "from fireworks import Factory",
        "+core": STATEMENTS["core"],
        "+sqlalchemy": "import sqlalchemy",
    }
    cases += [(key, stmt, PEER) for key, stmt in extras.items()]
    if not args.quick:
        for _key, stmt, before in cases:  # warm the OS file cache, untimed
            time_in_fresh_process(stmt, before)
    samples: dict[str, list[float]] = {key: [] for key, _, _ in cases}
    # interleaved, so a busy spell on the shared machine hits every case alike
    for _ in range(repeat):
        for key, stmt, before in cases:
            samples[key].append(time_in_fresh_process(stmt, before))
    # the minimum: other processes only ever add time to an import, so the fastest run is the least noisy
    t = {key: min(values) for key, values in samples.items()}
    med = {key: statistics.median(values) for key, values in samples.items()}

    peer = f"`{PEER}`"

    def row(case: str, key: str, with_peer: bool = True) -> Row:
        note = f"median {fmt_seconds(med[key])}"
        if with_peer:
            return Row(case, t[key], peer, t["peer"], note=note)
        return Row(case, t[key], note=note)

    rows = [
        row("import torch", "torch", with_peer=False),
        row("import pandas", "pandas", with_peer=False),
        row("import fireworks (lazy)", "import fireworks"),
        row("from fireworks import Message, Source", "Message, Source"),
        row("from fireworks import the whole core", "core"),
        row("fireworks --version (in-process main)", "--version"),
    ]
    report(f"import cost, fresh processes, best of {repeat}", rows)
    print("the whole core = Message, Source, TableSource, DBSource, Experiment, Factory")
    extra_rows = [
        Row(
            case,
            t[key],
            max_seconds=target,
            note=f"median {fmt_seconds(med[key])}",
        )
        for case, key, target in [
            ("import fireworks", "+import fireworks", 0.2),
            ("from fireworks import Message, Source", "+Message, Source", 0.2),
            ("from fireworks import Experiment", "+Experiment", None),
            (
                "from fireworks import TableSource, DBSource (SQLAlchemy)",
                "+TableSource, DBSource",
                None,
            ),
            ("from fireworks import Factory (SQLAlchemy)", "+Factory", None),
            ("from fireworks import the whole core", "+core", None),
            ("import sqlalchemy (reference: all three above need it)", "+sqlalchemy", None),
        ]
    ]
    ok = report(
        "the extra time over `import torch, pandas` (timed after them, same process)", extra_rows
    )

    print("\n== where the time of the whole core's import goes (python -X importtime, one run) ==")
    own, other = own_and_dependencies(STATEMENTS["core"])
    print(f"fireworks' own modules: {fmt_seconds(own)}   dependencies: {fmt_seconds(other)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
