"""Compare two run folders byte for byte: ``python tools/compare_runs.py RUN_A RUN_B``.

Prints, per top-level folder (data/, split/, results/, figures/, summaries/, the run folder itself),
how many files are identical, differ or are measured (timing files, notebooks, HTML, manifest: see
``recnb.workflow.compare.MEASURED``), then every differing file and every file present in one run
only. Exit status 0 when the runs agree, 1 otherwise. Used to show that a refactoring kept the bytes
of a run of ``params/ci.yaml``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from recnb.workflow.compare import compare_runs


def _top(path: str) -> str:
    return path.split("/", 1)[0] + "/" if "/" in path else "(run folder)"


def main(argv: list[str] | None = None) -> int:
    """Compare two run folders and print a table; return 0 when they agree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    args = parser.parse_args(argv)
    c = compare_runs(args.run_a, args.run_b)
    counts: dict[str, Counter] = {}
    for kind, files in (
        ("identical", c.identical),
        ("differ", c.differ),
        ("measured", c.measured),
        ("only_a", c.only_a),
        ("only_b", c.only_b),
    ):
        for f in files:
            counts.setdefault(_top(f), Counter())[kind] += 1
    cols = ("identical", "differ", "measured", "only_a", "only_b")
    print(f"{'folder':<14}" + "".join(f"{k:>11}" for k in cols))
    for top in sorted(counts):
        print(f"{top:<14}" + "".join(f"{counts[top][k]:>11}" for k in cols))
    for title, files in (
        ("differ", c.differ),
        ("measured (not compared)", c.measured),
        (f"only in {args.run_a}", c.only_a),
        (f"only in {args.run_b}", c.only_b),
    ):
        if files:
            print(f"\n{title}:")
            print("\n".join(f"  {f}" for f in files))
    print("\nsame" if c.same else "\nNOT the same")
    return 0 if c.same else 1


if __name__ == "__main__":
    sys.exit(main())
