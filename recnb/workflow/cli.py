"""Command line: ``python -m recnb run params/<name>.yaml [--stages ...]`` and ``python -m recnb check``.

``recnb/__main__.py`` (``python -m recnb``) and the ``recnb`` console script call :func:`main`.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line), run or check; return the exit status."""
    parser = argparse.ArgumentParser(prog="recnb", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the stage notebooks of a params file")
    p_run.add_argument("params", help="params/<name>.yaml")
    p_run.add_argument("--stages", nargs="+", help="run only these stages (names as in the file)")
    p_run.add_argument("--reports-dir", default=None, help="parent of the run folder (reports/)")
    p_check = sub.add_parser("check", help="validate a params file without running anything")
    p_check.add_argument("params")
    args = parser.parse_args(argv)

    # imported after parsing: `--help` and a usage error answer without loading the package
    from recnb.privacy import PrivacyError
    from recnb.workflow.params import ParamsError, load_params
    from recnb.workflow.runner import RunError, StageError, check_data, check_runnable, run

    try:
        if args.command == "check":
            s = load_params(args.params)
            check_runnable(s)
            for note in check_data(s):
                print(f"recnb: note: {note}", file=sys.stderr)
            print(f"{args.params}: ok (run {s.run_name!r}, stages {list(s.stages)})")
            return 0
        run(args.params, stages=args.stages, reports_dir=args.reports_dir)
    except (ParamsError, StageError, PrivacyError, RunError, ValueError, OSError) as e:
        print(f"recnb: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("recnb: interrupted; the run folder marks the interrupted stage", file=sys.stderr)
        return 130
    return 0
