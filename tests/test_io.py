"""Atomic writes and the Interactions round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.data.io import atomic_path, read_json, write_json, write_parquet


def test_failed_write_keeps_previous_file(tmp_path):
    target = tmp_path / "results.json"
    write_json(target, {"version": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"version": 2, "half')
        raise RuntimeError("crash mid-write")
    assert read_json(target) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left behind


def test_written_files_get_normal_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(mask)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644


def test_json_rejects_nan_and_converts_numpy(tmp_path):
    write_json(tmp_path / "a.json", {"x": np.float32(1.5), "n": np.int64(3), "arr": np.arange(2)})
    assert read_json(tmp_path / "a.json") == {"x": 1.5, "n": 3, "arr": [0, 1]}
    with pytest.raises(ValueError):
        write_json(tmp_path / "b.json", {"x": float("nan")})
    assert not (tmp_path / "b.json").exists()


def test_read_json_names_file(tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        read_json(tmp_path / "bad.json")


def test_parquet_roundtrip(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    write_parquet(tmp_path / "t.parquet", df)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), df)


def make_interactions() -> Interactions:
    m = sp.csr_matrix(np.array([[1, 0, 2], [0, 3, 0]], dtype=np.float32))
    return Interactions(
        matrix=m,
        customer_ids=np.array(["c1", "c2"]),
        product_ids=np.array(["p1", "p2", "p3"]),
        product_features=sp.identity(3, format="csr"),
        product_feature_names=["f1", "f2", "f3"],
        timestamps=sp.csr_matrix(np.array([[10, 0, 20], [0, 30, 0]], dtype=np.float64)),
        meta={"kind": "test", "cold": [1]},
    )


def test_interactions_roundtrip(tmp_path):
    a = make_interactions()
    a.save(tmp_path / "train")
    b = Interactions.load(tmp_path / "train")
    assert (a.matrix != b.matrix).nnz == 0
    assert b.matrix.dtype == np.float32
    assert list(b.customer_ids) == ["c1", "c2"] and list(b.product_ids) == ["p1", "p2", "p3"]
    assert b.product_feature_names == ["f1", "f2", "f3"]
    assert b.customer_features is None
    assert (a.timestamps != b.timestamps).nnz == 0
    assert b.meta == {"kind": "test", "cold": [1]}
    assert list(b.customer_index(["c2", "zz"])) == [1, -1]
    assert list(b.product_index(["p3"])) == [2]


def test_interactions_rejects_misaligned_ids():
    with pytest.raises(ValueError, match="3 customer ids for a matrix with 2 rows"):
        Interactions(
            matrix=sp.csr_matrix((2, 2)), customer_ids=["a", "b", "c"], product_ids=["x", "y"]
        )
    with pytest.raises(ValueError, match="customer_ids: ids are not unique"):
        Interactions(matrix=sp.csr_matrix((2, 2)), customer_ids=["a", "a"], product_ids=["x", "y"])
    with pytest.raises(ValueError, match="product_feature_names: 1 names for 2 columns"):
        Interactions(
            matrix=sp.csr_matrix((2, 2)),
            customer_ids=["a", "b"],
            product_ids=["x", "y"],
            product_features=sp.identity(2),
            product_feature_names=["f"],
        )


def test_interactions_load_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved Interactions here"):
        Interactions.load(tmp_path / "nothing")
