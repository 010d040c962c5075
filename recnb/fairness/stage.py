"""The fairness stage's analyses, one function per report section (notebook 04 calls these).

- :func:`group_analysis`: who is served well (per-customer metrics by customer group, with the
  activity level as control);
- :func:`exposure_analysis`: popularity bias and exposure, provider fairness, data vs model;
- :func:`mitigation_analysis`: re-ranking trade-off curves and the recommended settings;
- :func:`decorrelation_analysis`: LightFM refitted on customer features with a group attribute
  removed by fairlearn's CorrelationRemover;
- :func:`transparency_analysis`: explanation fidelity of every model that can explain.

Inputs are what earlier stages wrote (the split, the dataset, stage 03's candidate lists and
tables); nothing here reads or writes files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from recnb.fairness.audit import Candidates, per_customer_table
from recnb.fairness.exposure import (
    catalogue_exposure,
    examination_weights,
    provider_exposure,
    seller_groups,
    simulated_exposure,
)
from recnb.fairness.groups import (
    NOT_RECORDED,
    customer_groups,
    disaggregate,
    encode_groups,
    group_attributes,
    metric_frame,
)
from recnb.fairness.mitigation import (
    MitigationInputs,
    available_methods,
    decorrelate_features,
    recommend_settings,
    selection_split,
    tradeoff,
)
from recnb.fairness.transparency import (
    DELETERS,
    SEEDED,
    explanation_fidelity,
    explanation_stability,
    explanation_text,
    fidelity_summary,
    sample_pairs,
)
from recnb.metrics import arp, item_popularity, long_tail_mask, ranking_metric_arrays

__all__ = [
    "ExposureReport",
    "GroupReport",
    "MitigationReport",
    "TransparencyReport",
    "DecorrelatedRefit",
    "decorrelated_refit",
    "decorrelation_analysis",
    "stage03_explanations",
    "expected_clicks",
    "shop_customer_ids",
    "explaining_models",
    "fitted_model",
    "save_explainers",
    "stage03_handoff",
    "rerank_models",
    "N_CANDIDATES",
    "stability_models",
    "state_megabytes",
    "exposure_analysis",
    "group_analysis",
    "mitigation_analysis",
    "model_specs_from_stage03",
    "planted_label",
    "transparency_analysis",
]

Progress = Callable[..., None] | None
AGE_ORDER = ("<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")


def planted_label(planted: Mapping[str, str] | None) -> str | None:
    """Name of the derived attribute marking the shop's planted under-served group."""
    if not planted:
        return None
    ((attribute, value),) = dict(planted).items()
    return f"planted group ({attribute} = {value})"


# ----------------------------------------------------------------------------------------------
# who is served well
# ----------------------------------------------------------------------------------------------


@dataclass
class GroupReport:
    """Per-customer metrics disaggregated by group (see :func:`group_analysis`).

    Attributes
    ----------
    attributes : list of str
        Group attributes analysed (the planted group last, when there is one).
    customers : pandas.DataFrame
        One row per evaluated customer: ``customer`` (row index), ``activity`` and one column of
        labels per attribute.
    values : pandas.DataFrame
        Per-customer metrics, columns ``(model, metric)`` (:func:`per_customer_table`).
    by_group, gaps : pandas.DataFrame
        :func:`recnb.fairness.groups.disaggregate`.
    frames : pandas.DataFrame
        From fairlearn's MetricFrame, the primary metric of every model with the activity level as
        control feature: ``attribute, model, activity, difference, ratio, n_groups``.
    not_recorded : dict
        Customers without each attribute.
    """

    attributes: list[str]
    customers: pd.DataFrame
    values: pd.DataFrame
    by_group: pd.DataFrame
    gaps: pd.DataFrame
    frames: pd.DataFrame
    not_recorded: dict[str, int] = field(default_factory=dict)


def group_analysis(
    cands: Candidates,
    train: sparse.spmatrix,
    test: sparse.spmatrix,
    customer_ids: np.ndarray,
    customers: pd.DataFrame | None,
    activity: Sequence[object],
    k: int,
    item_categories: np.ndarray | None = None,
    attributes: Sequence[str] | None = None,
    planted: Mapping[str, str] | None = None,
    primary_metric: str = "ndcg",
    min_group_size: int = 10,
    n_boot: int = 1000,
    n_permutations: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
    truth: Mapping[str, np.ndarray] | None = None,
) -> GroupReport:
    """Who is served well: every per-customer metric of every model by every customer attribute.

    Parameters
    ----------
    cands : Candidates
        Stage 03's lists (rows: the evaluated customers).
    train, test : scipy sparse matrix
        The split's training and test matrices.
    customer_ids : numpy.ndarray
        External id of every row of the split (``Interactions.customer_ids``).
    customers : pandas.DataFrame or None
        The dataset's customers table (the attributes).
    activity : sequence
        Activity level of each evaluated customer (stage 03's cold / light / heavy segment).
    k : int
        List length.
    item_categories : numpy.ndarray of int, optional
        Category code per product (for the calibration KL).
    attributes : sequence of str, optional
        Attributes to use (default: every one of :data:`recnb.fairness.groups.ATTRIBUTES` the
        data has).
    planted : mapping, optional
        The synthetic shop's ``underserved_group`` (adds a member / rest attribute).
    primary_metric : str
    min_group_size, n_boot, n_permutations, alpha, seed
        See :func:`recnb.fairness.groups.disaggregate`; the permutation tests are run for the
        primary metric and the true expected clicks (the other metrics get intervals only).
    truth : mapping of str to numpy.ndarray, optional
        Per model, the synthetic shop's true expected clicks of each customer's list
        (:func:`expected_clicks`): added as the metric ``expected_clicks``.
    """
    cidx = cands.customer_idx
    attrs = group_attributes(customers, attributes)
    ids = np.asarray(customer_ids, dtype=object)[cidx]
    labels = (
        customer_groups(ids, customers, attrs)
        if attrs
        else pd.DataFrame(index=np.arange(len(cidx)))
    )
    name = planted_label(planted)
    if name is not None:
        ((attribute, value),) = dict(planted).items()
        src = customer_groups(ids, customers, [attribute])[attribute]
        labels[name] = np.where(src == str(value), "in the group", "rest")
    values = per_customer_table(cands.lists(k), cidx, train, test, k, item_categories)
    if truth:
        for model, clicks in truth.items():
            values[(model, "expected_clicks")] = np.asarray(clicks, dtype=np.float64)
        values = values[[c for m in cands.models for c in values.columns if c[0] == m]]
    act = np.asarray(activity, dtype=object).astype(str)
    by_group, gaps = disaggregate(
        values,
        labels,
        min_group_size=min_group_size,
        n_boot=n_boot,
        n_permutations=n_permutations,
        alpha=alpha,
        seed=seed,
        activity=act,
        orders={"age_band": AGE_ORDER},
        test_metrics=[primary_metric, "expected_clicks"],
    )
    frames = []
    primary = values.xs(primary_metric, axis=1, level="metric")
    for attribute in labels.columns:
        mf = metric_frame(primary, labels[attribute], min_group_size, control=act, name=attribute)
        if mf is None:
            continue
        diff, ratio = mf.difference(), mf.ratio()
        n_groups = mf.by_group.notna().groupby(level=0).sum()
        for level in diff.index:
            for model in primary.columns:
                frames.append(
                    {
                        "attribute": attribute,
                        "model": str(model),
                        "metric": primary_metric,
                        "activity": str(level),
                        "difference": float(diff.loc[level, str(model)]),
                        "ratio": float(ratio.loc[level, str(model)]),
                        "n_groups": int(n_groups.loc[level, str(model)]),
                    }
                )
    customers_out = pd.concat(
        [pd.DataFrame({"customer": cidx, "activity": act}), labels.reset_index(drop=True)], axis=1
    )
    return GroupReport(
        attributes=list(labels.columns),
        customers=customers_out,
        values=values,
        by_group=by_group,
        gaps=gaps,
        frames=pd.DataFrame(
            frames,
            columns=["attribute", "model", "metric", "activity", "difference", "ratio", "n_groups"],
        ),
        not_recorded={a: int((labels[a] == NOT_RECORDED).sum()) for a in labels.columns},
    )


def shop_customer_ids(
    pseudonyms: np.ndarray, shop: Any, key: bytes | str, length: int = 16
) -> np.ndarray:
    """The synthetic shop's own id of each (pseudonymised) customer of the scrubbed data.

    The privacy scrub replaced every id by its keyed pseudonym (:func:`recnb.privacy.pseudonymize`);
    with the same key the shop's ids map back. Raises KeyError for a pseudonym of no shop customer.
    """
    from recnb.privacy import pseudonymize

    own = shop.customers["customer_id"].to_numpy(dtype=object)
    mapping = pd.Series(own, index=pseudonymize(own, key, length))
    out = mapping.reindex(np.asarray(pseudonyms, dtype=object))
    if out.isna().any():
        bad = list(np.asarray(pseudonyms, dtype=object)[out.isna().to_numpy()][:3])
        raise KeyError(
            f"customers {bad} are no pseudonym of this shop's customers under the run's key"
        )
    return out.to_numpy(dtype=object)


def expected_clicks(
    shop: Any,
    shop_customer_ids: np.ndarray,
    product_ids: np.ndarray,
    topk: np.ndarray,
    chunk: int = 2000,
) -> np.ndarray:
    """The synthetic shop's true expected clicks of each customer's list (ground truth).

    Each list is shown in the shop's response model (:meth:`SyntheticShop.response_probabilities`:
    examination by position, the customer's true utility, the click model) in the customer's
    home context (home device and region; averaged over the parts of the day), without a day (no
    trends) and without purchase history. (Averaging over the customer's whole context mix is
    about 25 times slower and moves the figure little: the home device and region take 75% and
    90% of a customer's visits by default.)

    Parameters
    ----------
    shop : recnb.data.synthetic.SyntheticShop
    shop_customer_ids : numpy.ndarray, shape (n,)
        The shop's own ids of the customers (not the pseudonyms of the scrubbed data).
    product_ids : numpy.ndarray
        Product id of every product index.
    topk : numpy.ndarray, shape (n, k)
        Lists (product indices; -1 padding is not allowed here).
    chunk : int
        Lists per call.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
    """
    top = np.asarray(topk, dtype=np.int64)
    if (top < 0).any():
        raise ValueError("expected_clicks needs full lists (no -1 padding)")
    pids = np.asarray(product_ids, dtype=object)
    ids = np.asarray(shop_customer_ids, dtype=object)
    home = shop.customers.set_index("customer_id").loc[ids]
    device = home["device"].astype(object).to_numpy()
    region = home["region"].astype(object).to_numpy()
    out = np.empty(len(top))
    for start in range(0, len(top), chunk):
        part = top[start : start + chunk]
        sl = slice(start, start + chunk)
        r = shop.response_probabilities(
            ids[sl], pids[part], context={"device": device[sl], "location": region[sl]}
        )
        out[start : start + len(part)] = (
            r.groupby("list_index", sort=True)["p_click"].sum().to_numpy(dtype=np.float64)
        )
    return out


# ----------------------------------------------------------------------------------------------
# exposure
# ----------------------------------------------------------------------------------------------


@dataclass
class ExposureReport:
    """Popularity bias and exposure (see :func:`exposure_analysis`).

    Attributes
    ----------
    catalogue : pandas.DataFrame
        :func:`recnb.fairness.exposure.catalogue_exposure` (with the data's own row).
    lift : pandas.DataFrame
        Popularity lift per group (Abdollahpouri et al. 2021): ``attribute, group, model, n,
        gap_profile`` (mean popularity of what the group's customers consumed in training),
        ``gap_recommended`` (of what the model showed them) and ``popularity_lift``
        ``(GAP_r - GAP_p) / GAP_p``; popularity is the share of all training customers who
        interacted with a product; small groups are left out.
    data_vs_model : pandas.DataFrame
        Per attribute and model: the primary metric's gap, the gap of the random model (what the
        held-out data alone produces), the difference (what the model adds), and the model's Gini
        minus the data's.
    providers : pandas.DataFrame or None
        :func:`recnb.fairness.exposure.provider_exposure` (None without brands).
    sellers : pandas.DataFrame or None
        Brands with their catalogue size and large / small label.
    simulation : pandas.DataFrame or None
        Expected vs simulated examinations (synthetic shop only).
    examination : str
        Which examination model the exposure used.
    weights : numpy.ndarray
        Its examination probability per position of a list of ``k``.
    seller_codes : numpy.ndarray or None
        1 small seller, 0 large, -1 no brand, per product.
    """

    catalogue: pd.DataFrame
    lift: pd.DataFrame
    data_vs_model: pd.DataFrame
    providers: pd.DataFrame | None
    sellers: pd.DataFrame | None
    simulation: pd.DataFrame | None
    examination: str
    weights: np.ndarray
    seller_codes: np.ndarray | None = None


def exposure_analysis(
    cands: Candidates,
    train: sparse.spmatrix,
    test: sparse.spmatrix,
    product_ids: np.ndarray,
    products: pd.DataFrame | None,
    groups: GroupReport,
    k: int,
    shop: Any = None,
    primary_metric: str = "ndcg",
    large_share: float = 0.5,
    min_group_size: int = 10,
    n_simulated_lists: int = 2000,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
    simulate_model: str | None = None,
) -> ExposureReport:
    """Exposure of products and sellers in every model's lists; what the data vs the model does.

    On the synthetic shop, ``n_simulated_lists`` lists of ``simulate_model`` (default: the first
    model other than random) are shown in the shop to check the expected exposure against
    simulated impressions (:func:`recnb.fairness.exposure.simulated_exposure`).
    """
    train = sparse.csr_matrix(train)
    lists = cands.lists(k)
    catalogue = catalogue_exposure(lists, train, k)
    cidx = cands.customer_idx
    lift_rows = []
    phi = item_popularity(train)  # popularity over every training customer
    hist = (train[cidx] > 0).astype(np.float64)
    n_hist = np.asarray(hist.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = np.where(n_hist > 0, hist @ phi / n_hist, np.nan)
    for attribute in groups.attributes:
        lab = groups.customers[attribute].to_numpy(dtype=object).astype(str)
        enc = encode_groups(lab, min_group_size)
        for model, topk in lists.items():
            shown = arp(topk, train)
            for j, name in enumerate(enc.names):
                sel = (enc.codes == j) & np.isfinite(profile) & np.isfinite(shown)
                if sel.sum() < min_group_size:
                    continue
                gp, gr = float(profile[sel].mean()), float(shown[sel].mean())
                lift_rows.append(
                    {
                        "attribute": attribute,
                        "group": name,
                        "model": model,
                        "n": int(sel.sum()),
                        "gap_profile": gp,
                        "gap_recommended": gr,
                        "popularity_lift": (gr - gp) / gp if gp > 0 else np.nan,
                    }
                )
    lift = pd.DataFrame(
        lift_rows,
        columns=[
            "attribute",
            "group",
            "model",
            "n",
            "gap_profile",
            "gap_recommended",
            "popularity_lift",
        ],
    )
    gaps = groups.gaps[groups.gaps["metric"] == primary_metric]
    g_cat = catalogue.set_index("model")["gini"]
    data_gini = float(g_cat.get("data (training interactions)", np.nan))
    random_gap = gaps[gaps["model"] == "random"].set_index("attribute")["difference"]
    dvm = []
    for r in gaps.itertuples(index=False):
        base = float(random_gap.get(r.attribute, np.nan))
        dvm.append(
            {
                "attribute": r.attribute,
                "model": r.model,
                "metric": primary_metric,
                "gap": r.difference,
                "gap_random_model": base,
                "gap_added_by_model": r.difference - base if np.isfinite(base) else np.nan,
                "gini_data": data_gini,
                "gini_model": float(g_cat.get(r.model, np.nan)),
                "gini_added_by_model": float(g_cat.get(r.model, np.nan)) - data_gini,
            }
        )
    weights = examination_weights(k, shop)
    examination = (
        f"the synthetic shop's own examination model (position ** -{shop.config.position_bias:g}, "
        f"attention budget {shop.config.attention_budget:g})"
        if shop is not None
        else "the DCG discount 1 / log2(1 + position)"
    )
    providers = sellers = simulation = None
    codes = None
    if products is not None and "brand" in products.columns:
        brand = products.drop_duplicates("product_id").set_index(
            products.drop_duplicates("product_id")["product_id"].astype(str)
        )["brand"]
        per_product = brand.reindex(pd.Index(np.asarray(product_ids, dtype=object).astype(str)))
        if per_product.notna().any():
            codes, sellers = seller_groups(per_product.to_numpy(dtype=object), large_share)
            if (codes == 1).any() and (codes == 0).any():
                truth = sparse.csr_matrix(test)[cidx]
                providers = provider_exposure(lists, truth, codes, weights, n_boot, alpha, seed)
                if shop is not None and n_simulated_lists > 0:
                    rng = np.random.default_rng(seed)
                    models = [m for m in lists if m != "random"] or list(lists)
                    m = simulate_model if simulate_model in lists else models[0]
                    rows = rng.choice(
                        len(cidx), size=min(n_simulated_lists, len(cidx)), replace=False
                    )
                    ids = np.asarray(product_ids, dtype=object)
                    top = lists[m][np.sort(rows)]
                    pid = np.where(top >= 0, ids[np.maximum(top, 0)], None)
                    by_id = dict(zip(ids, codes, strict=True))
                    simulation = simulated_exposure(shop, pid, by_id, n_repeats=1, seed=seed)
                    simulation.insert(0, "model", m)
                    simulation["group"] = simulation["group"].map(
                        {0: "large sellers", 1: "small sellers"}
                    )
    return ExposureReport(
        catalogue=catalogue,
        lift=lift,
        data_vs_model=pd.DataFrame(dvm),
        providers=providers,
        sellers=sellers,
        simulation=simulation,
        examination=examination,
        weights=weights,
        seller_codes=codes,
    )


# ----------------------------------------------------------------------------------------------
# mitigation
# ----------------------------------------------------------------------------------------------


@dataclass
class MitigationReport:
    """Trade-off curves and recommended settings (see :func:`mitigation_analysis`)."""

    tradeoff: pd.DataFrame
    recommended: pd.DataFrame
    methods: list[str]
    models: list[str]


def mitigation_analysis(
    cands: Candidates,
    train: sparse.spmatrix,
    test: sparse.spmatrix,
    exposure: ExposureReport,
    item_categories: np.ndarray | None,
    k: int,
    models: Sequence[str] | None = None,
    strengths: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    fair_proportions: Sequence[float] = (0.0, 0.2, 0.4, 0.6),
    fair_alpha: float = 0.1,
    max_ndcg_loss: float = 0.05,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
    progress: Progress = None,
) -> MitigationReport:
    """Re-rank every chosen model's candidates with every available method at every strength.

    ``models`` None: every model but random that has candidates beyond its scored list.
    """
    chosen = (
        list(models)
        if models
        else [m for m in cands.models if m != "random" and not np.isnan(cands.scores[m]).all()]
    )
    unknown = [m for m in chosen if m not in cands.items]
    if unknown:
        raise ValueError(
            f"mitigation models {unknown} have no candidate lists; models: {cands.models}"
        )
    shallow = [m for m in chosen if np.isnan(cands.scores[m]).all()]
    if shallow:
        raise ValueError(
            f"mitigation models {shallow}: stage 03 kept only the list it scored (no candidates "
            "to re-rank, no scores); it keeps deeper lists for the chosen model and popularity, or "
            "for fairness_bias.mitigation_models when that is set before stage 03 runs"
        )
    train = sparse.csr_matrix(train)
    cidx = cands.customer_idx
    inputs = MitigationInputs(
        train_rows=train[cidx],
        long_tail=long_tail_mask(train),
        sellers=exposure.seller_codes if exposure.providers is not None else None,
        categories=item_categories,
        weights=exposure.weights,
        fair_alpha=fair_alpha,
    )
    methods = available_methods(inputs)
    truth = sparse.csr_matrix(test)[cidx]
    sel = selection_split(len(cidx), seed)
    parts = []
    for i, m in enumerate(chosen):
        if progress is not None:
            progress("re-ranking", m, i, len(chosen))
        parts.append(
            tradeoff(
                m,
                cands.items[m],
                cands.scores[m],
                truth,
                inputs,
                methods,
                strengths,
                k,
                sel,
                fair_proportions,
                n_boot,
                alpha,
                seed,
            )
        )
    table = pd.concat(parts, ignore_index=True)
    return MitigationReport(table, recommend_settings(table, max_ndcg_loss), methods, chosen)


# ----------------------------------------------------------------------------------------------
# models refitted from stage 03's choices
# ----------------------------------------------------------------------------------------------


def model_specs_from_stage03(
    capabilities: pd.DataFrame, chosen: pd.DataFrame
) -> dict[str, tuple[str, dict[str, Any]]]:
    """``label -> (registry name, hyperparameters)`` of every model stage 03 fitted last.

    Parameters
    ----------
    capabilities : pandas.DataFrame
        Stage 03's ``capabilities`` table (``model``, ``algorithm``).
    chosen : pandas.DataFrame
        Stage 03's ``tuning_chosen`` table (``model``, ``hyperparameter``, ``value`` as JSON).
    """
    out = {}
    for r in capabilities.itertuples(index=False):
        rows = chosen[chosen["model"] == r.model]
        params = {
            h: json.loads(v) for h, v in zip(rows["hyperparameter"], rows["value"], strict=True)
        }
        out[str(r.model)] = (str(r.algorithm), params)
    return out


def _build(algorithm: str, params: Mapping[str, Any], seed: int | None):
    from recnb.models.registry import REGISTRY, hyperparameters, make_model

    if algorithm not in REGISTRY:
        raise KeyError(f"model {algorithm!r} is not registered; known: {sorted(REGISTRY)}")
    p = dict(params)
    allowed = hyperparameters(algorithm)
    if "random_state" in allowed and "random_state" not in p:
        p["random_state"] = seed
    if "num_threads" in allowed:
        p["num_threads"] = 1  # explanations and stability must repeat
    return make_model(algorithm, **p)


# ----------------------------------------------------------------------------------------------
# pre-processing: CorrelationRemover on LightFM's customer features
# ----------------------------------------------------------------------------------------------


@dataclass
class DecorrelatedRefit:
    """The LightFM refit of :func:`decorrelated_refit` (what :func:`decorrelation_analysis` scores).

    Attributes
    ----------
    label : str or None
        Stage 03's LightFM model refitted (None: no refit, see ``note``).
    attribute : str or None
        The group attribute whose traces CorrelationRemover took out of the customer features.
    lists : numpy.ndarray or None
        The refitted model's top-``k`` of every evaluated customer.
    note : str
        What was done, or why nothing was.
    """

    label: str | None
    attribute: str | None
    lists: np.ndarray | None
    note: str


def decorrelated_refit(
    specs: Mapping[str, tuple[str, dict[str, Any]]],
    train_data,
    customer_idx: np.ndarray,
    k: int,
    attributes: Sequence[str],
    compared: Sequence[str] | None = None,
    features: dict[str, Any] | None = None,
    seed: int | None = 0,
) -> DecorrelatedRefit:
    """Refit stage 03's LightFM on customer features cleaned by fairlearn's CorrelationRemover.

    The first LightFM model of ``specs`` (among ``compared``, default all) that uses side
    features is refitted on the training part with its customer features passed through
    CorrelationRemover for the first of ``attributes`` with one-hot customer features, and its
    top-``k`` lists of ``customer_idx`` are returned. The slow part of
    :func:`decorrelation_analysis`, apart so that a stage can run it on another process while it
    computes the rest (its inputs are known before any statistic).
    """
    lightfm = [
        label
        for label, (algo, params) in specs.items()
        if algo.startswith("lightfm")
        and params.get("use_features", True)
        and (compared is None or label in compared)
    ]
    if not lightfm:
        return DecorrelatedRefit(
            None,
            None,
            None,
            "No LightFM model with side features was compared, so there is no pre-processing check.",
        )
    names = list(train_data.customer_feature_names or [])
    attr = next((a for a in attributes if any(n.startswith(f"{a}:") for n in names)), None)
    if attr is None:
        return DecorrelatedRefit(
            None,
            None,
            None,
            "The customer features hold none of the group attributes, so CorrelationRemover has "
            "nothing to remove.",
        )
    label = lightfm[0]
    algo, params = specs[label]
    x, kept = decorrelate_features(train_data.customer_features, names, attr)
    model = _build(algo, params, seed)
    fit_features = dict(features or {})
    fit_features.update({"customer_features": x, "customer_feature_names": kept})
    model.fit(train_data, features=fit_features)
    top, _ = model.recommend_indices(np.asarray(customer_idx, dtype=np.int64), k=k)
    text = (
        f"{label} was refitted with its customer features passed through fairlearn's "
        f"CorrelationRemover for {attr}: the {attr} columns were dropped and every other customer "
        f"feature made linearly uncorrelated with them. The model still learns each customer's "
        f"own identity embedding from behaviour, which this cannot change."
    )
    return DecorrelatedRefit(label, attr, top, text)


def decorrelation_analysis(
    specs: Mapping[str, tuple[str, dict[str, Any]]],
    train_data,
    test: sparse.spmatrix,
    cands: Candidates,
    groups: GroupReport,
    k: int,
    attribute: str | None = None,
    features: dict[str, Any] | None = None,
    min_group_size: int = 10,
    n_permutations: int = 1000,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
    refit: DecorrelatedRefit | None = None,
) -> tuple[pd.DataFrame | None, str]:
    """LightFM with and without a group attribute's traces in its customer features.

    The first LightFM model of stage 03 that uses side features is refitted on the training part
    with its customer features passed through fairlearn's ``CorrelationRemover`` for
    ``attribute`` (default: the first analysed attribute with one-hot customer features), by
    :func:`decorrelated_refit` unless ``refit`` (its result, e.g. computed on another process with
    the same inputs) is given. Its lists are scored like stage 03's and the group gap of NDCG
    compared with the original's.

    Returns
    -------
    (pandas.DataFrame or None, str)
        ``variant`` (original / decorrelated), ``ndcg`` with interval, the gap with interval and
        the permutation p-value; and a sentence saying what was done or why it was not.
    """
    if refit is None:
        candidates = (
            [attribute]
            if attribute
            else [a for a in groups.attributes if not a.startswith("planted")]
        )
        refit = decorrelated_refit(
            specs, train_data, cands.customer_idx, k, candidates, cands.models, features, seed
        )
    if refit.lists is None:
        return None, refit.note
    label, attr = refit.label, refit.attribute
    cidx = cands.customer_idx
    if len(refit.lists) != len(cidx):
        raise ValueError(
            f"the decorrelated {label} lists have {len(refit.lists)} rows, the candidates "
            f"{len(cidx)}: they are not of the same customers"
        )
    truth = sparse.csr_matrix(test)[cidx]
    nd_new = ranking_metric_arrays(refit.lists, truth, ks=(k,), metrics=["ndcg"])[("ndcg", k)]
    nd_old = groups.values[(label, "ndcg")].to_numpy()
    values = pd.DataFrame(
        np.column_stack([nd_old, nd_new]),
        columns=pd.MultiIndex.from_tuples([(label, "ndcg"), (f"{label} decorrelated", "ndcg")]),
    )
    by_group, gaps = disaggregate(
        values,
        groups.customers[[attr]],
        min_group_size=min_group_size,
        n_boot=n_boot,
        n_permutations=n_permutations,
        alpha=alpha,
        seed=seed,
    )
    overall = by_group[by_group["group"] == "all customers"].set_index("model")["value"]
    out = gaps[
        ["model", "attribute", "difference", "difference_ci_low", "difference_ci_high", "p_value"]
    ].copy()
    out.insert(1, "variant", ["original", "decorrelated"])
    out["ndcg"] = out["model"].map(overall)
    return out.reset_index(drop=True), refit.note


# ----------------------------------------------------------------------------------------------
# transparency
# ----------------------------------------------------------------------------------------------


@dataclass
class TransparencyReport:
    """Explanation fidelity (see :func:`transparency_analysis`).

    Attributes
    ----------
    fidelity : pandas.DataFrame
        One row per explained recommendation (:data:`recnb.fairness.transparency.FIDELITY_COLUMNS`).
    summary : pandas.DataFrame
        One row per model (:func:`recnb.fairness.transparency.fidelity_summary`) plus
        ``deterministic`` and ``source`` (``saved by stage 03`` or ``refitted``). The sampled
        recommendations are of customers the model scores itself; ``fallback_share`` is the
        share of all evaluated customers served by the popularity fallback instead, and
        ``coverage`` the share of all evaluated customers' recommendations with a personal
        reason (the sample's coverage times the share not on the fallback).
    examples : pandas.DataFrame
        A few customers' recommendations with their explanation text (no customer named).
    skipped : list of str
        Compared models that cannot explain (or have no deletion check).
    """

    fidelity: pd.DataFrame
    summary: pd.DataFrame
    examples: pd.DataFrame
    skipped: list[str]


def explaining_models(
    specs: Mapping[str, tuple[str, dict[str, Any]]], available: Sequence[str] | None = None
) -> list[str]:
    """Labels of the compared models whose explanations can be checked (:data:`DELETERS`)."""
    from recnb.models.registry import REGISTRY

    return [
        lbl
        for lbl, (algo, _) in specs.items()
        if algo in DELETERS
        and REGISTRY[algo].can_explain
        and (available is None or lbl in available)
    ]


def stability_models(
    specs: Mapping[str, tuple[str, dict[str, Any]]],
    explainers: Sequence[str],
    chosen: str,
    wanted: Sequence[str] | None = None,
) -> list[str]:
    """The explaining models refitted with another seed for the stability check.

    Only seeded families (:data:`recnb.fairness.transparency.SEEDED`) can differ between seeds.
    ``wanted`` None picks one refit: the chosen model when it is seeded, else the first seeded
    explaining model (each refit costs a full fit).

    Raises
    ------
    ValueError
        ``wanted`` names a model that is not an explaining model of this run.
    """
    if wanted is not None:
        bad = [m for m in wanted if m not in explainers]
        if bad:
            raise ValueError(
                f"stability_models {bad} are not explaining models of this run; they are "
                f"{list(explainers)}"
            )
        return [m for m in wanted if specs[m][0] in SEEDED]
    seeded = [m for m in explainers if specs[m][0] in SEEDED]
    if chosen in seeded:
        return [chosen]
    return seeded[:1]


#: largest fitted state (MB) stage 03 saves for stage 04 (LightFM, ALS, kNN, content fit here;
#: EASE's dense products x products matrix does not and is refitted, in closed form)
SAVE_LIMIT_MB = 24.0


def state_megabytes(model) -> float:
    """Size of a fitted model's saved arrays in MB (what :meth:`Recommender.save` writes)."""
    arrays, _ = model._get_state()
    return float(sum(a.nbytes for a in arrays.values()) / 2**20)


def save_explainers(
    models: Mapping[str, Any],
    specs: Mapping[str, tuple[str, dict[str, Any]]],
    folder,
    max_mb: float = SAVE_LIMIT_MB,
) -> pd.DataFrame:
    """Save stage 03's fitted explaining models for stage 04 (``<folder>/<label>/``).

    Only models whose explanations stage 04 checks (:func:`explaining_models`) and whose fitted
    state is at most ``max_mb``: the others are refitted by stage 04 (:func:`fitted_model`).
    A folder of a model not saved this time is removed, so stage 04 never loads a stale model.

    Returns
    -------
    pandas.DataFrame
        ``model``, ``state_mb`` and ``saved`` per explaining model.
    """
    import shutil
    from pathlib import Path

    folder = Path(folder)
    rows = []
    for label in explaining_models(specs, list(models)):
        mb = state_megabytes(models[label])
        saved = mb <= max_mb
        target = folder / label
        if saved:
            models[label].save(target)
        elif target.exists():
            shutil.rmtree(target)
        rows.append({"model": label, "state_mb": round(mb, 1), "saved": saved})
    return pd.DataFrame(rows, columns=["model", "state_mb", "saved"])


#: candidates per list stage 03 keeps for the re-rankers of stage 04
N_CANDIDATES = 100


def rerank_models(
    chosen: str, wanted: Sequence[str] | None = None, available: Sequence[str] | None = None
) -> list[str]:
    """The models whose candidate lists stage 04 re-ranks: ``wanted`` (the ``fairness_bias``
    setting ``mitigation_models``) or, when None, the chosen model and popularity; only those
    in ``available`` when given."""
    models = list(dict.fromkeys(wanted if wanted is not None else [chosen, "popularity"]))
    return [m for m in models if available is None or m in available]


def stage03_handoff(
    models: Mapping[str, Any],
    scored: Mapping[str, np.ndarray],
    customer_idx: np.ndarray,
    specs: Mapping[str, tuple[str, dict[str, Any]]],
    folder,
    n_candidates: int = N_CANDIDATES,
    max_mb: float = SAVE_LIMIT_MB,
    deep_models: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What stage 03 leaves for stage 04: every model's candidates and the explaining models.

    Parameters
    ----------
    models : mapping of str to Recommender
        Stage 03's fitted models by label.
    scored : mapping of str to numpy.ndarray
        The lists stage 03 scored (rows aligned with ``customer_idx``): every candidate list must
        start with its scored list (:func:`recnb.fairness.audit.candidate_lists`).
    customer_idx : numpy.ndarray of int
        The evaluated customers.
    specs : mapping
        ``label -> (registry name, hyperparameters)``.
    folder : path
        Where the explaining models are saved (:func:`save_explainers`).
    n_candidates : int
        Candidates per list (at least the scored lists' length) of the ``deep_models``.
    max_mb : float
        Largest model state saved.
    deep_models : sequence of str, optional
        The models stage 04 re-ranks (:func:`rerank_models`): only they get ``n_candidates``
        candidates with scores; every other model keeps the list stage 03 scored, without scores
        (NaN), which is all stage 04 reads of it. None: every model gets ``n_candidates``.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The ``candidates`` table (:func:`recnb.fairness.audit.candidates_table`) and the
        :func:`save_explainers` table.
    """
    from recnb.fairness.audit import candidate_lists, candidates_table

    width = max((np.asarray(v).shape[1] for v in scored.values()), default=0)
    deep = list(models) if deep_models is None else [m for m in models if m in deep_models]
    table = candidate_lists(
        {m: models[m] for m in deep}, customer_idx, max(int(n_candidates), width), scored=scored
    )
    shallow = {
        m: (np.asarray(v), np.full(np.shape(v), np.nan, dtype=np.float32))
        for m, v in scored.items()
        if m not in deep
    }
    if shallow:
        rest = candidates_table(shallow, customer_idx)
        order = [m for m in models if m in deep or m in shallow]
        parts = [t.astype({"model": object}) for t in (table, rest) if len(t)]
        table = pd.concat(parts, ignore_index=True).astype(
            {"customer_row": np.int32, "rank": np.int16, "product": np.int32, "score": np.float32}
        )
        table["model"] = pd.Categorical(table["model"], categories=order)
        table = table.sort_values("model", kind="stable").reset_index(drop=True)
    saved = save_explainers(models, specs, folder, max_mb=max_mb)
    return table, saved


def fitted_model(
    label: str,
    specs: Mapping[str, tuple[str, dict[str, Any]]],
    train_data,
    saved: str | None = None,
    features: dict[str, Any] | None = None,
    seed: int | None = 0,
):
    """Stage 03's fitted model ``label``: loaded from ``saved`` when that folder exists, else
    refitted on ``train_data`` with stage 03's hyperparameters and ``seed``.

    Returns
    -------
    (Recommender, str)
        The model and where it came from (``"saved by stage 03"`` or ``"refitted"``).
    """
    from pathlib import Path

    from recnb.models.registry import REGISTRY

    algo, params = specs[label]
    if saved is not None and (Path(saved) / "model.json").exists():
        return REGISTRY[algo].load(saved), "saved by stage 03"
    return _build(algo, params, seed).fit(train_data, features=features), "refitted"


def transparency_analysis(
    models: Mapping[str, Any],
    specs: Mapping[str, tuple[str, dict[str, Any]]],
    train_data,
    cands: Candidates,
    k: int,
    stability_models: Sequence[str] = (),
    n_customers: int = 30,
    n_examples: int = 3,
    features: dict[str, Any] | None = None,
    products: pd.DataFrame | None = None,
    seed: int | None = 0,
    sources: Mapping[str, str] | None = None,
    progress: Progress = None,
) -> TransparencyReport:
    """Measure the explanations of fitted models on sampled recommendations.

    Parameters
    ----------
    models : mapping of str to Recommender
        Fitted explaining models by label (:func:`fitted_model`).
    specs : mapping
        :func:`model_specs_from_stage03` (registry names and hyperparameters).
    train_data : Interactions
        The training part (for the stability refits).
    cands : Candidates
        Stage 03's lists: the customers sampled are among the evaluated ones.
    k : int
        Recommendations explained per sampled customer (their top ``k``).
    stability_models : sequence of str
        Labels refitted with ``seed + 1`` for the stability check (seeded families only).
    n_customers, n_examples : int
        Customers sampled for fidelity; customers shown as examples.
    features, products, seed, sources, progress
        Fit features, products table (names), seed, where each model came from, progress.
    """
    names = _product_names(products, train_data.product_ids)
    fidelity, stability, examples, fallback_share = [], {}, [], {}
    labels = list(models)
    for i, lbl in enumerate(labels):
        if progress is not None:
            progress("explanations", lbl, i, len(labels))
        model = models[lbl]
        algo, params = specs[lbl]
        # explanations are checked on customers the model scores itself; the popularity
        # fallback's share is counted over every evaluated customer
        served = ~model.uses_fallback(cands.customer_idx)
        fallback_share[lbl] = float(1.0 - served.mean())
        cidx = cands.customer_idx[served]
        top, _ = model.recommend_indices(cidx, k=k)
        pairs = sample_pairs(top, cidx, n_customers, k, seed)
        fidelity.append(explanation_fidelity(model, pairs, label=lbl))
        if lbl in stability_models and algo in SEEDED:
            other = _build(algo, params, None if seed is None else seed + 1).fit(
                train_data, features=features
            )
            stability[lbl] = explanation_stability(model, other, pairs)
        first = list(pairs["customer"].drop_duplicates())[:n_examples]
        for r in pairs[pairs["customer"].isin(first)].itertuples(index=False):
            pid = str(model.product_ids_[r.product])
            ex = model.explain(model.customer_ids_[r.customer], model.product_ids_[r.product])
            examples.append(
                {
                    "model": lbl,
                    "customer": _example_label(first.index(r.customer)),
                    "rank": int(r.rank),
                    "product": names.get(pid, pid),
                    "because": explanation_text(ex, names),
                }
            )
    fid = pd.concat(fidelity, ignore_index=True) if fidelity else pd.DataFrame()
    summary = fidelity_summary(fid, stability) if len(fid) else pd.DataFrame()
    if len(summary):
        fb = summary["model"].map(fallback_share)
        summary["coverage"] = summary["coverage"] * (1.0 - fb)
        summary["fallback_share"] = fb
        summary["deterministic"] = [specs[m][0] not in SEEDED for m in summary["model"]]
        summary["source"] = [(sources or {}).get(m, "") for m in summary["model"]]
    skipped = [lbl for lbl in specs if lbl not in models and lbl in cands.items]
    return TransparencyReport(fid, summary, pd.DataFrame(examples), skipped)


def stage03_explanations(
    specs: Mapping[str, tuple[str, dict[str, Any]]],
    train_data,
    models_dir,
    customer_idx: np.ndarray,
    compared: Sequence[str],
    k: int,
    chosen: str,
    wanted_stability: Sequence[str] | None = None,
    n_customers: int = 30,
    features: dict[str, Any] | None = None,
    products: pd.DataFrame | None = None,
    seed: int | None = 0,
) -> TransparencyReport:
    """The transparency section from stage 03's outputs alone: every explaining model loaded from
    ``models_dir`` (or refitted, :func:`fitted_model`), the stability refits
    (:func:`stability_models`), then :func:`transparency_analysis`.

    Its inputs are known before any statistic of the stage, so a stage can run it on another
    process while it computes the rest; the result is the same wherever it runs.
    """
    from pathlib import Path

    explainers = explaining_models(specs, compared)
    models, sources = {}, {}
    for label in explainers:
        models[label], sources[label] = fitted_model(
            label, specs, train_data, str(Path(models_dir) / label), features, seed
        )
    refit = stability_models(specs, explainers, chosen, wanted_stability)
    # transparency needs the evaluated customers and the compared models, not their lists
    cands = Candidates(
        np.asarray(customer_idx, dtype=np.int64),
        {m: np.zeros((len(customer_idx), 0), dtype=np.int64) for m in compared},
        {m: np.zeros((len(customer_idx), 0)) for m in compared},
    )
    return transparency_analysis(
        models, specs, train_data, cands, k, refit, n_customers=n_customers, features=features,
        products=products, seed=seed, sources=sources,
    )  # fmt: skip


def _example_label(i: int) -> str:
    """``customer A``, ``customer B``, ...: no digits, which the privacy scan would take for a
    raw id where customer ids are small numbers (MovieLens user 1, 2, 3)."""
    letters = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(65 + r) + letters
    return f"customer {letters}"


def _product_names(products: pd.DataFrame | None, product_ids: np.ndarray) -> dict[str, str]:
    ids = [str(p) for p in product_ids]
    if products is None or "product_id" not in products.columns:
        return {p: p for p in ids}
    p = products.drop_duplicates("product_id").set_index(
        products.drop_duplicates("product_id")["product_id"].astype(str)
    )
    label = p["title"] if "title" in p.columns else p.get("category")
    if label is None:
        return {x: x for x in ids}
    label = label.astype(object).where(label.notna(), None)
    return {x: (str(label.get(x)) if label.get(x) is not None else x) for x in ids}
