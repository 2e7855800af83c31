"""The ``fireworks`` command line.

Each command lives beside the code it drives; a command module exposes ``register(subparsers)``, which adds its
sub-commands with ``set_defaults(func=...)``. ``func(args)`` returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fireworks.exceptions import MissingDependencyError

# modules that register sub-commands, in the order they appear in --help
COMMAND_MODULES: list[str] = [
    "fireworks.demo",
    "fireworks.experiment.cli",
    "fireworks.dashboard.cli",
]


def version_line(version: str) -> str:
    """What ``fireworks --version`` prints: the import name, the version and the distribution it came from."""
    return f"fireworks {version} (torch-fireworks)"


def build_parser() -> argparse.ArgumentParser:
    from fireworks import __version__

    parser = argparse.ArgumentParser(
        prog="fireworks",
        description="Fireworks: data pipelines, hyperparameter search and experiments for PyTorch.",
    )
    parser.add_argument("--version", action="version", version=version_line(__version__))
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else list(argv)
    if args_in[:1] == ["--version"]:
        # answered before the command modules (numpy, torch) are imported: instant in any environment
        from fireworks import __version__

        print(version_line(__version__))
        return 0
    parser = build_parser()
    args = parser.parse_args(args_in)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MissingDependencyError as err:  # a missing extra: one line naming what to install
        print(f"fireworks {args.command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
