"""Benchmark of the fairness stage (issue 12): power, calibration and speed of the group test.

Three parts, each printing a table (run any subset):

``--power``
    The synthetic shop at the default size (17,000 customers, 4,500 products, 90 days) with a
    planted under-served group (default ``age_band = 65+``), and the same shop without the plant
    as a peer: permutation p-values (1,000 permutations, within activity levels) of the gap
    between the group and the rest, in logged NDCG and in the shop's true expected clicks, for
    the popularity model and item-kNN. The issue asks for p < 0.01 at this size.
``--null N``
    False-flag rate of the test over ``N`` shops (default 200 seeds) on a group whose attribute
    has no effect at all (``region = south`` in shops with ``location_strength = 0``): the share
    of seeds with p <= alpha must be alpha within binomial error; the table prints the 95%
    (Wilson) interval of the rate beside alpha.
``--stage RUN_DIR``
    Times (wall clock and CPU seconds of the process, which other load on the machine inflates
    less) every section of stage 04 on a run folder in which stages 01-03 ran (with
    ``results/03_model_comparison/candidates.parquet``) with the settings of the params file's
    ``fairness_bias`` section, as the notebook runs them (the refits on ``n_jobs`` other
    processes beside the statistics: their CPU is not in the CPU column, and the "waiting" rows
    are what the statistics did not hide), beside the times the run's manifest
    records for stages 01-03 (the peer: the 25% budget of the issue is stage 04's time over the
    time of the stages before it).

The load average is printed: other work on the machine slows every figure.

Usage::

    .venv/bin/python benchmarks/bench_fairness.py --power
    .venv/bin/python benchmarks/bench_fairness.py --null 200 --null-customers 600
    .venv/bin/python benchmarks/bench_fairness.py --stage reports/default --params params/default.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recnb.fairness.checks import shop_gap_test, shop_gap_tests  # noqa: E402

DEFAULT_SHOP = {"n_customers": 17_000, "n_products": 4_500, "n_days": 90}


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def power(group: str, models: list[str], seed: int, kind: str, strength: float) -> pd.DataFrame:
    attribute, value = group.split("=", 1)
    rows = []
    for planted in (True, False):
        t0 = time.perf_counter()
        res = shop_gap_tests(
            seed,
            attribute,
            value,
            models=models,
            test_days=14.0,
            underserved_group={attribute: value} if planted else None,
            underserved_kind=kind,
            underserved_strength=strength,
            **DEFAULT_SHOP,
        )
        seconds = time.perf_counter() - t0
        for model, r in res.items():
            for metric in ("ndcg", "expected_clicks"):
                rows.append(
                    {
                        "shop": f"planted ({kind}, {strength:g})" if planted else "no plant (peer)",
                        "model": model,
                        "metric": metric,
                        "n_group": r["n_group"],
                        "n_customers": r["n_customers"],
                        "gap (rest - group)": r[f"{metric}_gap"],
                        "p": r[f"{metric}_p_value"],
                        "p within activity": r[f"{metric}_p_value_within_activity"],
                        "seconds (shop)": seconds,
                    }
                )
    return pd.DataFrame(rows)


def null_rate(n_seeds: int, n_customers: int, alpha: float) -> pd.DataFrame:
    from scipy.stats import binomtest

    flags = {"ndcg": [], "ndcg within activity": [], "expected_clicks": []}
    t0 = time.perf_counter()
    for s in range(n_seeds):
        r = shop_gap_test(
            s,
            "region",
            "south",
            n_customers=n_customers,
            n_products=max(80, n_customers // 4),
            n_days=20,
            test_days=5.0,
            location_strength=0.0,
            n_permutations=499,
        )
        flags["ndcg"].append(r["ndcg_p_value"] <= alpha)
        flags["ndcg within activity"].append(r["ndcg_p_value_within_activity"] <= alpha)
        flags["expected_clicks"].append(r["expected_clicks_p_value"] <= alpha)
    rows = []
    for name, f in flags.items():
        k = int(np.sum(f))
        ci = binomtest(k, n_seeds).proportion_ci(confidence_level=0.95, method="wilson")
        lo, hi = ci.low, ci.high
        rows.append(
            {
                "metric": name,
                "seeds": n_seeds,
                "flagged": k,
                "rate": k / n_seeds,
                "95% CI low": lo,
                "95% CI high": hi,
                "alpha": alpha,
                "alpha inside": lo <= alpha <= hi,
            }
        )
    print(f"{n_seeds} shops in {time.perf_counter() - t0:.0f} s")
    return pd.DataFrame(rows)


def stage_time(run_dir: Path, params: str, decorrelate: bool = True) -> pd.DataFrame:
    """Each section of stage 04 on a run folder, timed (the calls and settings of the notebook)."""
    from recnb.data.synthetic import SyntheticShop
    from recnb.evaluation.evaluate import load_evaluation_parts, product_categories
    from recnb.evaluation.parallel import model_executor
    from recnb.fairness import audit, stage
    from recnb.fairness.groups import group_attributes
    from recnb.fairness.inputs import read_stage03
    from recnb.privacy import resolve_key
    from recnb.workflow.params import load_params
    from recnb.workflow.run_data import dataset_for_run, shop_config
    from recnb.workflow.settings import FairnessBiasSettings

    settings = load_params(params)
    cfg = settings.stage_settings("04_fairness_bias") or FairnessBiasSettings()
    times: dict[str, tuple[float, float]] = {}
    clock = {"cpu": time.process_time()}

    def tick(name: str, t0: float) -> float:
        cpu = time.process_time()
        times[name] = (time.perf_counter() - t0, cpu - clock["cpu"])
        clock["cpu"] = cpu
        return time.perf_counter()

    t = time.perf_counter()
    ds = dataset_for_run(settings, run_dir)
    train, test = load_evaluation_parts(run_dir / "split")
    s03 = read_stage03(run_dir / "results" / "03_model_comparison", cfg.n_candidates)
    cands, k, chosen = s03.candidates, s03.k, s03.chosen
    cats = audit.category_codes(product_categories(train.product_ids, ds.products))
    codes = None if cats is None else cats[0]
    t = tick("load inputs", t)
    shop = truth = None
    if settings.data.source == "synthetic":
        shop = SyntheticShop(shop_config(settings))
        key = resolve_key(settings.data.pseudonym_key, allow_demo=True)
        ids = stage.shop_customer_ids(train.customer_ids[cands.customer_idx], shop, key)
        truth = {
            m: stage.expected_clicks(shop, ids, train.product_ids, v)
            for m, v in cands.lists(k).items()
        }
        t = tick("shop ground truth (expected clicks)", t)
    common = {"n_boot": cfg.n_bootstrap, "alpha": cfg.alpha, "seed": settings.seed}
    # as the notebook: the refits start on other processes before the statistics
    features = {"products": ds.products}
    background = ExitStack()
    pool = background.enter_context(model_executor(cfg.n_jobs, n_tasks=2))
    explanation_job = pool.submit(
        stage.stage03_explanations, s03.specs, train, s03.models_dir, cands.customer_idx,
        cands.models, k, chosen, cfg.stability_models, n_customers=cfg.explain_customers,
        features=features, products=ds.products, seed=settings.seed,
    )  # fmt: skip
    decorrelation_job = (
        pool.submit(
            stage.decorrelated_refit,
            s03.specs,
            train,
            cands.customer_idx,
            k,
            group_attributes(ds.customers, cfg.attributes),
            cands.models,
            features,
            settings.seed,
        )  # fmt: skip
        if decorrelate and cfg.decorrelate
        else None
    )
    t = tick("refits started (other processes)", t)
    groups = stage.group_analysis(
        cands, train.matrix, test.matrix, train.customer_ids, ds.customers, s03.activity, k, codes,
        attributes=cfg.attributes, min_group_size=cfg.min_group_size,
        n_permutations=cfg.n_permutations, truth=truth, **common,
    )  # fmt: skip
    t = tick("customer groups (bootstrap, permutations, MetricFrame)", t)
    exposure = stage.exposure_analysis(
        cands, train.matrix, test.matrix, train.product_ids, ds.products, groups, k, shop,
        min_group_size=cfg.min_group_size, n_simulated_lists=cfg.n_simulated_lists,
        simulate_model=chosen, **common,
    )  # fmt: skip
    t = tick("exposure, sellers, simulation check", t)
    models = cfg.mitigation_models or [m for m in (chosen, "popularity") if m in cands.models]
    stage.mitigation_analysis(
        cands, train.matrix, test.matrix, exposure, codes, k, list(dict.fromkeys(models)),
        strengths=cfg.strengths, fair_proportions=cfg.fair_proportions,
        max_ndcg_loss=cfg.max_ndcg_loss, **common,
    )  # fmt: skip
    t = tick("mitigation trade-off curves", t)
    tr = explanation_job.result()
    t = tick("waiting: explanations (models loaded or refitted, fidelity, stability)", t)
    if decorrelation_job is not None:
        stage.decorrelation_analysis(
            s03.specs, train, test.matrix, cands, groups, k, features=features,
            min_group_size=cfg.min_group_size, n_permutations=cfg.n_permutations,
            refit=decorrelation_job.result(), **common,
        )  # fmt: skip
        tick("waiting: CorrelationRemover refit, then its gap", t)
    background.close()
    print(tr.summary[["model", "source", "lowered_share", "stability"]].to_string(index=False))
    print(f"chosen model: {chosen}")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    before = {s: v.get("seconds") for s, v in manifest["stages"].items() if s < "04"}
    rows = [{"part": f"stage {s} (manifest)", "seconds": v} for s, v in before.items()]
    rows += [{"part": f"04: {k}", "seconds": w, "cpu seconds": c} for k, (w, c) in times.items()]
    total = sum(w for w, _ in times.values())
    cpu = sum(c for _, c in times.values())
    rows.append({"part": "04: total", "seconds": total, "cpu seconds": cpu})
    base = sum(v for v in before.values() if v)
    rows.append({"part": "04 / (01 + 02 + 03)", "seconds": total / base if base else np.nan})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--power", action="store_true")
    ap.add_argument("--group", default="age_band=65+")
    ap.add_argument("--models", default="popularity,item_knn")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--kind", default="niche", help="ShopConfig.underserved_kind of the plant")
    ap.add_argument("--strength", type=float, default=1.0, help="ShopConfig.underserved_strength")
    ap.add_argument("--null", type=int, default=0, metavar="N")
    ap.add_argument("--null-customers", type=int, default=600)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--stage", type=Path)
    ap.add_argument("--params", default="params/default.yaml")
    ap.add_argument("--no-decorrelate", action="store_true", help="leave out the LightFM refit")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print(_load())
    if args.power:
        print(
            power(
                args.group, args.models.split(","), args.seed, args.kind, args.strength
            ).to_string(index=False)
        )
    if args.null:
        print(null_rate(args.null, args.null_customers, args.alpha).to_string(index=False))
    if args.stage:
        print(stage_time(args.stage, args.params, not args.no_decorrelate).to_string(index=False))
    print(_load())


if __name__ == "__main__":
    main()
