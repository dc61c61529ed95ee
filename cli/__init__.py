"""The ``quayscan`` command line: one console script, one module per subcommand.

Each subcommand module defines ``add_parser(subparsers)`` and ``run(args) -> int`` and imports its heavy
dependencies inside ``run``, so ``quayscan serve`` never imports torch and ``--help`` stays fast.

    quayscan generate --out data/demo --count 16 --seed 1 --preview
    quayscan --help
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from quayscan.cli import (calibrate, card, compare, dataset, evaluate, export, generate, keys, models, predict, quantize,
                          serve, train, users)

SUBCOMMANDS = [generate, dataset, train, export, calibrate, evaluate, compare, predict, quantize, card, serve, keys, users,
               models]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quayscan", description="Triage X-ray scans of shipping containers: release or inspect.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages (default: info)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # a migration check per command is not news
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        # Bad input from the user: one clear line, no traceback.
        print(f"quayscan {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
