"""Test harness shipped with the package: tiny data sets with known answers and fast settings.

Used by ``tests/test_models*.py`` and available to anyone adding a model: build the model with
:func:`build`, fit it on :func:`checkerboard` and check the known right answers.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.models.base import CONFIG_FILE, STATE_FILE, Recommender
from recnb.models.registry import REGISTRY, make_model

BLOCK_CUSTOMERS = 12  # customers per block
BLOCK_PRODUCTS = 6  # products per block
T0 = 1.7e9  # seconds since the epoch of the first event

__all__ = [
    "SAVE_CORRUPTIONS",
    "TEST_PARAMS",
    "build",
    "checkerboard",
    "corrupt_saved_model",
    "products_table",
    "random_interactions",
    "rewrite_saved_state",
]

# fast settings per model for the contract tests (tiny data, few epochs, one thread)
TEST_PARAMS: dict[str, dict] = {
    "item_knn": {"shrinkage": 0.0},
    "user_knn": {"shrinkage": 0.0},
    "pure_svd": {"n_factors": 2},
    "biased_mf": {"n_factors": 2, "n_epochs": 3},
    "ease": {"l2": 1.0},
    "edlae": {"l2": 1.0, "dropout": 0.1},
    "rp3beta": {"n_neighbors": 8},
    "cornac_bpr": {"factors": 4, "iterations": 300, "learning_rate": 0.05},
    "blend": {
        "first": "ease",
        "second": "als",
        "first_params": {"l2": 1.0},
        "second_params": {
            "factors": 4,
            "iterations": 10,
            "regularization": 0.01,
            "alpha": 10.0,
            "num_threads": 1,
        },
    },
    "trending": {"window_days": 2.0},
    "als": {"factors": 4, "iterations": 10, "regularization": 0.01, "alpha": 10.0},
    "bpr": {"factors": 4, "iterations": 300, "learning_rate": 0.05},
    "spark_als": {"factors": 4, "iterations": 10, "regularization": 0.01, "alpha": 10.0},
}


def checkerboard() -> tuple[Interactions, dict[int, int]]:
    """Two disjoint blocks of customers x products, one product per customer held out.

    Customer ``u`` of block ``b`` consumed every product of block ``b`` except one; that missing
    product (the only unseen product of its own block) is the known right answer at rank 1. The
    last customer (``cold``) has no interaction at all. Products carry a block attribute and a
    block term, so content models can find the answer too; timestamps are hourly.

    Returns
    -------
    Interactions, dict
        The data and ``{customer index: held-out product index}``.
    """
    rows, cols, held = [], [], {}
    for b in range(2):
        for c in range(BLOCK_CUSTOMERS):
            u = b * BLOCK_CUSTOMERS + c
            miss = c % BLOCK_PRODUCTS
            held[u] = b * BLOCK_PRODUCTS + miss
            for j in range(BLOCK_PRODUCTS):
                if j != miss:
                    rows.append(u)
                    cols.append(b * BLOCK_PRODUCTS + j)
    n_c, n_p = 2 * BLOCK_CUSTOMERS + 1, 2 * BLOCK_PRODUCTS
    vals = np.ones(len(rows), np.float32)
    m = sp.csr_matrix((vals, (rows, cols)), shape=(n_c, n_p))
    ts = sp.csr_matrix((T0 + 3600.0 * np.arange(len(rows)), (rows, cols)), shape=(n_c, n_p))
    pf = np.array(
        [[1, 0, 1, 0] if j < BLOCK_PRODUCTS else [0, 1, 0, 1] for j in range(n_p)], np.float32
    )
    cids = [f"c{i}" for i in range(n_c - 1)] + ["cold"]
    inter = Interactions(
        matrix=m,
        customer_ids=cids,
        product_ids=[f"p{j}" for j in range(n_p)],
        product_features=sp.csr_matrix(pf),
        product_feature_names=["category:a", "category:b", "term:alpha", "term:beta"],
        timestamps=ts,
    )
    return inter, held


def random_interactions(
    rng: np.random.Generator,
    n_customers: int = 40,
    n_products: int = 25,
    density: float = 0.2,
    ratings: bool = False,
) -> Interactions:
    """Random long-tailed data with side features, timestamps and one cold customer (the last).

    Values are confidences in [1, 5] (or half-star ratings when ``ratings``).
    """
    pop = rng.pareto(1.5, n_products) + 0.2
    p = np.minimum(1.0, density * pop / pop.mean())
    dense = rng.random((n_customers, n_products)) < p[None, :]
    dense[-1] = False
    dense[:-1, 0] |= ~dense[:-1].any(axis=1)  # every customer but the last has history
    r, c = np.nonzero(dense)
    if ratings:
        vals = rng.integers(1, 11, len(r)) / 2.0
    else:
        vals = rng.integers(1, 6, len(r)).astype(float)
    m = sp.csr_matrix((vals.astype(np.float32), (r, c)), shape=dense.shape)
    ts = sp.csr_matrix((T0 + rng.uniform(0, 30 * 86400.0, len(r)), (r, c)), shape=dense.shape)
    n_feat = 6
    pf = (rng.random((n_products, n_feat)) < 0.4).astype(np.float32)
    pf[:, 0] = 1.0  # every product has at least one feature
    return Interactions(
        matrix=m,
        customer_ids=[f"u{i}" for i in range(n_customers)],
        product_ids=[f"i{j}" for j in range(n_products)],
        product_features=sp.csr_matrix(pf),
        product_feature_names=[f"term:w{j}" for j in range(n_feat)],
        timestamps=ts,
    )


def products_table(product_ids: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """A products table in the recnb schema with descriptions, categories, brands and prices."""
    cats = ["home/kitchen", "home/garden", "fashion/shoes", "fashion/bags"]
    words = {
        "home/kitchen": "pan pot knife steel cooking",
        "home/garden": "hose spade seeds soil outdoor",
        "fashion/shoes": "sneaker leather sole running lace",
        "fashion/bags": "tote leather strap zipper travel",
    }
    rows = []
    for j, pid in enumerate(product_ids):
        cat = cats[j % len(cats)]
        vocab = words[cat].split()
        desc = " ".join(rng.choice(vocab, 4)) + f" item{j % 3}"
        rows.append(
            {
                "product_id": pid,
                "category": cat,
                "brand": f"brand{j % 3}",
                "price": float(np.round(rng.lognormal(3.0, 0.7), 2)),
                "description": desc,
            }
        )
    return pd.DataFrame(rows)


def build(name: str, **overrides: object) -> Recommender:
    """Model ``name`` with its fast test settings, seeded, one thread where it has that knob."""
    params = {"random_state": 7, **TEST_PARAMS.get(name, {}), **overrides}
    sig = inspect.signature(REGISTRY[name].__init__).parameters
    if "num_threads" in sig:
        params.setdefault("num_threads", 1)
    return make_model(name, **params)


# -- damaged saves -----------------------------------------------------------------------------
def _arrays(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / STATE_FILE, allow_pickle=False) as z:
        return {key: z[key] for key in z.files}


def _config(folder: Path) -> dict:
    return json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))


def _write_config(folder: Path, config: dict) -> None:
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")


def rewrite_saved_state(
    folder: Path, change: Callable[[dict[str, np.ndarray]], None], record_arrays: bool = False
) -> None:
    """Change the arrays and write them back with a matching size and sha256 in model.json.

    This is the damage a checksum cannot see: a state file rewritten on purpose (or by a buggy
    tool). With ``record_arrays`` the array names, dtypes and shapes in model.json are rewritten
    to match too, so only the consistency checks of the state itself can catch it.
    """
    arrays = _arrays(folder)
    change(arrays)
    path = folder / STATE_FILE
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    config = _config(folder)
    data = path.read_bytes()
    config["state_npz"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if record_arrays:
        config["arrays"] = {
            k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in sorted(arrays.items())
        }
    _write_config(folder, config)


def _own_hyperparameter(config: dict) -> str:
    """The first hyperparameter of the model's own (else a shared one)."""
    shared = ("random_state", "unknown", "batch_size")
    own = [k for k in config["params"] if k not in shared]
    return own[0] if own else "batch_size"


def _truncate(folder: Path) -> str:
    path = folder / STATE_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return "truncated"


def _flip(folder: Path) -> str:
    path = folder / STATE_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return "sha256"


def _missing_state(folder: Path) -> str:
    (folder / STATE_FILE).unlink()
    return "missing"


def _missing_config(folder: Path) -> str:
    (folder / CONFIG_FILE).unlink()
    return "missing"


def _wrong_key(folder: Path) -> str:
    rewrite_saved_state(folder, lambda a: a.update(popularity=a.pop("popularity_")))
    return r"array names do not match.*missing \['popularity_'\], unexpected \['popularity'\]"


def _wrong_dtype(folder: Path) -> str:
    rewrite_saved_state(folder, lambda a: a.update(popularity_=a["popularity_"].astype(np.float64)))
    return "'popularity_' has dtype float64"


def _wrong_shape(folder: Path) -> str:
    rewrite_saved_state(folder, lambda a: a.update(popularity_=a["popularity_"][:-1]))
    return "'popularity_' has shape"


def _wrong_shape_recorded(folder: Path) -> str:
    rewrite_saved_state(folder, lambda a: a.update(popularity_=a["popularity_"][:-1]), True)
    return "popularity_ has shape"


def _pickled(folder: Path) -> str:
    def change(a: dict[str, np.ndarray]) -> None:
        a["popularity_"] = np.array([object()] * len(a["popularity_"]), dtype=object)

    rewrite_saved_state(folder, change)
    return "pickled"


def _bad_hyperparameter(folder: Path) -> str:
    config = _config(folder)
    key = _own_hyperparameter(config)
    config["params"][key] = "lots"
    _write_config(folder, config)
    return f"bad hyperparameter: .*{key}.*'lots'"


def _unknown_hyperparameter(folder: Path) -> str:
    config = _config(folder)
    config["params"]["n_neighbours"] = 5
    _write_config(folder, config)
    return r"unknown \['n_neighbours'\]"


def _edited_state(folder: Path) -> str:
    config = _config(folder)
    config["state"]["tampered_"] = 1
    _write_config(folder, config)
    return "state_sha256"


def _not_json(folder: Path) -> str:
    (folder / CONFIG_FILE).write_text("{not json", encoding="utf-8")
    return "not valid JSON"


#: kind of damage -> (function that damages a saved folder and returns a regex the error matches,
#: the file the error must name)
SAVE_CORRUPTIONS: dict[str, tuple[Callable[[Path], str], str]] = {
    "truncated_state": (_truncate, STATE_FILE),
    "flipped_bytes": (_flip, STATE_FILE),
    "missing_state": (_missing_state, STATE_FILE),
    "missing_config": (_missing_config, CONFIG_FILE),
    "wrong_key": (_wrong_key, STATE_FILE),
    "wrong_dtype": (_wrong_dtype, STATE_FILE),
    "wrong_shape": (_wrong_shape, STATE_FILE),
    "wrong_shape_recorded": (_wrong_shape_recorded, STATE_FILE),
    "pickled_array": (_pickled, STATE_FILE),
    "bad_hyperparameter": (_bad_hyperparameter, CONFIG_FILE),
    "unknown_hyperparameter": (_unknown_hyperparameter, CONFIG_FILE),
    "edited_state": (_edited_state, CONFIG_FILE),
    "not_json": (_not_json, CONFIG_FILE),
}


def corrupt_saved_model(folder: str | Path, kind: str) -> tuple[Path, str]:
    """Damage a folder written by :meth:`Recommender.save` in one of ``SAVE_CORRUPTIONS``' ways.

    Returns
    -------
    pathlib.Path, str
        The file the load error must name, and a regex its message must match.
    """
    folder = Path(folder)
    damage, file_name = SAVE_CORRUPTIONS[kind]
    return folder / file_name, damage(folder)
