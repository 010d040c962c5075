"""Java and pyspark checks of the Spark engine (no session is started here)."""

from __future__ import annotations

import os
import stat

import pytest

from recnb.backends.spark import session as ss


def _fake_java(tmp_path, text, code=0):
    exe = tmp_path / "java"
    exe.write_text(f"#!/bin/sh\necho '{text}' 1>&2\nexit {code}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_java_17_passes_and_its_version_is_read(tmp_path):
    exe = _fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')
    assert ss.check_java(exe) == 17


def test_old_java_is_refused_with_its_version(tmp_path):
    exe = _fake_java(tmp_path, 'java version "1.8.0_392"')
    with pytest.raises(ss.SparkSetupError, match=r"needs Java 17 or newer; found Java 8"):
        ss.check_java(exe)
    exe = _fake_java(tmp_path, 'openjdk version "11.0.2" 2019-01-15')
    with pytest.raises(ss.SparkSetupError, match="found Java 11"):
        ss.check_java(exe)


def test_a_java_that_fails_is_named(tmp_path):
    exe = _fake_java(tmp_path, "Error: could not open jvm.cfg", code=1)
    with pytest.raises(ss.SparkSetupError, match="cannot read the version of .*java"):
        ss.check_java(exe)


def test_missing_java_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java here
    with pytest.raises(
        ss.SparkSetupError, match=r"needs Java 17 or newer, and no 'java' is on PATH"
    ):
        ss.check_java()


def test_java_home_without_java_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(ss.SparkSetupError, match=f"JAVA_HOME={tmp_path} has no bin/java"):
        ss.check_java()


def test_java_home_is_what_spark_would_start(monkeypatch, tmp_path):
    (tmp_path / "bin").mkdir()
    _fake_java(tmp_path / "bin", 'openjdk version "21.0.1" 2023-10-17')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert ss.check_java() == 21


def test_missing_pyspark_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a)
    )
    with pytest.raises(ss.SparkSetupError, match=r"pip install -e '\.\[spark\]'"):
        ss.check_pyspark()
    with pytest.raises(ss.SparkSetupError, match="needs pyspark"):
        ss.spark_session()


@pytest.mark.skipif(
    not os.path.exists("/usr/bin/java") and "JAVA_HOME" not in os.environ, reason="no Java"
)
def test_this_machine_has_a_java_spark_can_use():
    assert ss.check_java() >= ss.MIN_JAVA


@pytest.mark.parametrize(
    "master",
    [
        "local",
        "local[2]",
        "local[*]",
        "local[4,2]",
        "spark://head:7077",
        "spark://a:7077,b:7077",
        "yarn",
        "k8s://https://api.example:6443",
        "local-cluster[2,1,1024]",
    ],
)
def test_spark_masters_of_every_form_pass(master):
    assert ss.check_master(f" {master} ") == master


@pytest.mark.parametrize("master", ["local[0]", "locale", "spark:/head:7077", "", "mesos://h:5050"])
def test_a_master_of_no_known_form_is_named_with_the_forms(master):
    with pytest.raises(ValueError, match=r"where: .*(not a Spark master; use one of: local|empty)"):
        ss.check_master(master, "where")


def test_spark_conf_values_become_strings_and_bad_keys_are_named():
    conf = {
        "spark.executor.memory": "4g",
        "spark.sql.shuffle.partitions": 8,
        "spark.sql.adaptive.enabled": False,
        "spark.memory.fraction": 0.5,
    }
    assert ss.check_spark_conf(conf, "c") == {
        "spark.executor.memory": "4g",
        "spark.sql.shuffle.partitions": "8",
        "spark.sql.adaptive.enabled": "false",
        "spark.memory.fraction": "0.5",
    }
    with pytest.raises(ValueError, match=r"c: 'executor.memory' is not a Spark setting"):
        ss.check_spark_conf({"executor.memory": "4g"}, "c")
    with pytest.raises(ValueError, match=r"c: spark.x: value must be a string, number or boolean"):
        ss.check_spark_conf({"spark.x": {"a": 1}}, "c")
    with pytest.raises(ValueError, match=r"c: spark.master: 'nowhere' is not a Spark master"):
        ss.check_spark_conf({"spark.master": "nowhere"}, "c")


def test_the_environment_variable_overrides_the_params_master(monkeypatch):
    monkeypatch.delenv(ss.MASTER_ENV, raising=False)
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert ss.resolve_master() == ss.DEFAULT_MASTER
    assert ss.resolve_master("spark://head:7077") == "spark://head:7077"
    assert ss.resolve_master(None, {"spark.master": "yarn"}) == "yarn"
    monkeypatch.setenv(ss.MASTER_ENV, "local[1]")
    assert ss.resolve_master("spark://head:7077", {"spark.master": "yarn"}) == "local[1]"
    monkeypatch.setenv(ss.MASTER_ENV, "local[x]")
    with pytest.raises(ValueError, match="environment variable RECNB_SPARK_MASTER: 'local\\[x\\]'"):
        ss.resolve_master("yarn")
    # under spark-submit (gateway started by it) and nothing set: spark-submit's master is kept
    monkeypatch.delenv(ss.MASTER_ENV)
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "12345")
    assert ss.resolve_master() is None
