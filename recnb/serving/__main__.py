"""``python -m recnb.serving reports/<run> [options]``: the same as ``python -m recnb serve``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from recnb.serving.cli import add_parser, serve

    parser = argparse.ArgumentParser(prog="python -m recnb.serving")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
