"""Write golden fixtures from the authors' FA*IR code (fairsearchcore 1.0.4) for recnb's tests.

recnb re-implements FA*IR (Zehlike et al., CIKM 2017) in :mod:`recnb.fairness.rerank`: the table of
minimum protected counts, its failure probability, the adjusted significance and the re-ranker.
fairsearchcore is not a dependency (it is unmaintained since 2019 and pins nothing), so the tests
cannot call it; this script runs the released code once and stores what it returns in
``tests/fixtures/fair/fairsearchcore.json``, which ``tests/test_fairness_rerank.py`` compares
recnb against on every ``make test`` (no network).

What it does:

1. ``pip download --no-deps fairsearchcore==1.0.4`` (PyPI has only the source archive) into a
   temporary folder (or ``--sdist PATH``) and imports the package from the unpacked archive (it
   needs numpy, scipy and pandas only);
   ``LegalAssignmentKey.__hash__`` is wrapped in ``int()``: under current pandas it returns a
   float, which Python rejects (the only change to the released code);
2. for every ``(k, p, alpha)`` below: the unadjusted table, its failure probability, the adjusted
   alpha and the adjusted table;
3. for a few seeded rankings with distinct scores: the re-ranked order of ``Fair.re_rank`` and
   whether the result passes ``Fair.is_fair``;
4. writes the results with the archive's sha256 and the numpy, scipy and pandas versions.

Usage::

    .venv/bin/python tools/make_fair_fixtures.py
    .venv/bin/python tools/make_fair_fixtures.py --sdist fairsearchcore-1.0.4.tar.gz
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import warnings
from pathlib import Path

import numpy as np

VERSION = "1.0.4"
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "fair" / "fairsearchcore.json"
CASES = [
    (k, p, alpha) for k in (10, 20, 40) for p in (0.1, 0.25, 0.5, 0.7) for alpha in (0.05, 0.1)
]


def _sdist(path: str | None, tmp: Path) -> Path:
    if path:
        return Path(path)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         f"fairsearchcore=={VERSION}", "-d", str(tmp)],
        check=True,
    )  # fmt: skip
    return next(tmp.glob("fairsearchcore-*.tar.gz"))


def _one_line(match: re.Match) -> str:
    return "[" + ", ".join(x.strip() for x in match.group(1).split(",")) + "]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sdist", help="a downloaded fairsearchcore source archive (.tar.gz)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sdist = _sdist(args.sdist, tmp)
        with tarfile.open(sdist) as t:
            t.extractall(tmp / "src", filter="data")
        sys.path.insert(0, str(next((tmp / "src").glob("fairsearchcore-*"))))
        import fairsearchcore as fsc
        import pandas as pd
        import scipy
        from fairsearchcore import fail_prob
        from fairsearchcore.models import FairScoreDoc

        # The one change to the released code: under current pandas the table entries are
        # floats, so LegalAssignmentKey.__hash__ returns a float and Python refuses it. The
        # same expression cast to int keeps every hash value (and so the cache) as intended.
        key_hash = fail_prob.LegalAssignmentKey.__hash__
        fail_prob.LegalAssignmentKey.__hash__ = lambda self: int(key_hash(self))

        tables = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k, p, alpha in CASES:
                fair = fsc.Fair(k, p, alpha)
                plain = fair.create_unadjusted_mtable()
                adjusted = fair.create_adjusted_mtable()
                tables.append(
                    {
                        "k": k,
                        "p": p,
                        "alpha": alpha,
                        "mtable": plain,
                        "fail_probability": float(fair.compute_fail_probability(plain)),
                        "adjusted_alpha": float(fair.adjust_alpha()),
                        "adjusted_mtable": adjusted,
                        "adjusted_fail_probability": float(fair.compute_fail_probability(adjusted)),
                    }
                )
            rankings = []
            rng = np.random.default_rng(20170622)
            for k, p, alpha, n, share in [
                (10, 0.5, 0.1, 30, 0.2),
                (20, 0.3, 0.1, 60, 0.15),
                (10, 0.7, 0.05, 25, 0.5),
                (15, 0.25, 0.1, 15, 0.1),  # too few protected candidates: cannot pass
            ]:
                scores = np.sort(rng.random(n))[::-1].round(6)
                prot = rng.random(n) < share
                docs = [FairScoreDoc(i, float(scores[i]), bool(prot[i])) for i in range(n)]
                fair = fsc.Fair(k, p, alpha)
                out = fair.re_rank(docs)
                rankings.append(
                    {
                        "k": k,
                        "p": p,
                        "alpha": alpha,
                        "scores": scores.tolist(),
                        "protected": prot.tolist(),
                        "reranked": [int(doc.id) for doc in out],
                        "is_fair": bool(len(out) == k and fair.is_fair(out)),
                    }
                )
        out = {
            "source": {
                "package": f"fairsearchcore=={VERSION}",
                "sdist_sha256": hashlib.sha256(sdist.read_bytes()).hexdigest(),
                "numpy": np.__version__,
                "scipy": scipy.__version__,
                "pandas": pd.__version__,
            },
            "tables": tables,
            "rankings": rankings,
        }
        OUT.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(out, indent=1)
        # one line per list of numbers or flags: short, and diffs stay readable
        text = re.sub(r"\[\s*([-0-9.e, \ntruefals]+?)\s*\]", _one_line, text)
        OUT.write_text(text + "\n")
        print(f"wrote {OUT} ({len(tables)} tables, {len(rankings)} rankings)")


if __name__ == "__main__":
    main()
