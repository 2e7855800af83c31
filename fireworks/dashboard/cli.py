"""``fireworks dashboard [ROOT] [--host 127.0.0.1] [--port 8050]``."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _dashboard(args: argparse.Namespace) -> int:
    from fireworks.dashboard import create_app
    from fireworks.exceptions import MissingDependencyError

    try:
        app = create_app(args.root)
    except (FileNotFoundError, MissingDependencyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: serving on {args.host}: anyone who can reach this address can read every file "
            f"under {args.root}",
            file=sys.stderr,
        )
    print(f"Fireworks dashboard on http://{args.host}:{args.port}/ (Ctrl+C stops it)", flush=True)
    try:
        app.run(host=args.host, port=args.port, debug=False)
    finally:
        app.server.config["fireworks_services"].stop_all()
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "dashboard", help="serve a web dashboard over the experiment runs under a folder"
    )
    p.add_argument(
        "root", nargs="?", default="runs", help="folder holding the runs (default: runs)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8050, help="port to serve on (default: 8050)")
    p.set_defaults(func=_dashboard)
