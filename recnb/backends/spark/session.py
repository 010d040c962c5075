"""The Spark session: Java and pyspark checks, and one configured session for recnb.

pyspark is an optional extra (``pip install -e ".[spark]"``, or ``make ... ENGINE=spark``); it
drives a JVM, so a Java runtime (17 or newer for Spark 4) must be on the machine. Both are checked
before a session starts, with a message that says what is missing and how to get it, instead of
py4j's ``Java gateway process exited before sending its port number``.

:func:`spark_session` builds the session recnb uses: the master from ``$RECNB_SPARK_MASTER``,
else the params (``spark_master``, or ``spark.master`` in ``spark_conf``), else ``local[2]`` (this
machine, two cores; see :func:`resolve_master`), a small number of shuffle partitions (Spark's default of 200
is made for clusters and only adds task overhead on a few cores), the web UI off, Arrow on for the
pandas conversions, and quiet logging. Every setting can be overridden with ``conf``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = [
    "DEFAULT_CONF",
    "DEFAULT_MASTER",
    "MASTER_ENV",
    "active_session",
    "MIN_JAVA",
    "SparkSetupError",
    "check_java",
    "check_master",
    "check_pyspark",
    "check_spark_conf",
    "resolve_master",
    "java_version",
    "session_scope",
    "spark_session",
    "stop_session",
]

#: the master used when none is given: this machine, two cores
DEFAULT_MASTER = "local[2]"
#: environment variable that overrides the master of the params file (and of ``master=``)
MASTER_ENV = "RECNB_SPARK_MASTER"
#: the oldest Java major version Spark 4 runs on
MIN_JAVA = 17
#: settings of every session recnb starts (``conf`` overrides them)
DEFAULT_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "8",
    "spark.default.parallelism": "8",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    # pandas writes nanosecond timestamps, which Spark's Parquet reader otherwise refuses: read
    # them as int64 nanoseconds, the form the Spark engine keeps times in (prep.read_events)
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.driver.memory": "2g",
}


class SparkSetupError(RuntimeError):
    """pyspark or Java is missing or too old for the Spark engine."""


def java_version(java: str | os.PathLike | None = None) -> tuple[int, str]:
    """Major version and the first line of ``java -version`` of the Java Spark would start.

    Parameters
    ----------
    java : path, optional
        The ``java`` executable; default ``$JAVA_HOME/bin/java`` when ``JAVA_HOME`` is set (what
        Spark's launcher uses), else ``java`` on ``PATH``.

    Raises
    ------
    SparkSetupError
        No executable found, or it does not run, or its version cannot be read.
    """
    exe = _java_executable(java)
    try:
        out = subprocess.run(
            [exe, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as e:
        raise SparkSetupError(
            f"the Spark engine needs Java {MIN_JAVA}+: {exe} does not run ({e})"
        ) from None
    text = (out.stderr or "") + (out.stdout or "")
    m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if out.returncode != 0 or m is None:
        first = text.strip().splitlines()[0] if text.strip() else f"exit code {out.returncode}"
        raise SparkSetupError(
            f"the Spark engine needs Java {MIN_JAVA}+: cannot read the version of {exe} ({first})"
        )
    major = int(m.group(1))
    if major == 1 and m.group(2):  # "1.8.0_392" is Java 8
        major = int(m.group(2))
    return major, text.strip().splitlines()[0]


def _java_executable(java: str | os.PathLike | None) -> str:
    if java is not None:
        return str(java)
    home = os.environ.get("JAVA_HOME")
    if home:
        exe = Path(home) / "bin" / "java"
        if not exe.exists():
            raise SparkSetupError(
                f"the Spark engine needs Java {MIN_JAVA}+: JAVA_HOME={home} has no bin/java; "
                "point JAVA_HOME at a Java installation or unset it"
            )
        return str(exe)
    found = shutil.which("java")
    if found is None:
        raise SparkSetupError(
            f"the Spark engine (params key engine: spark) needs Java {MIN_JAVA} or newer, and no "
            "'java' is on PATH (nor JAVA_HOME set). Install one, e.g. "
            "'apt-get install openjdk-17-jre-headless', or set JAVA_HOME"
        )
    return found


def check_java(java: str | os.PathLike | None = None) -> int:
    """Stop with a clear message unless a Java runtime of at least :data:`MIN_JAVA` is present.

    Returns
    -------
    int
        The Java major version.
    """
    major, line = java_version(java)
    if major < MIN_JAVA:
        raise SparkSetupError(
            f"the Spark engine needs Java {MIN_JAVA} or newer; found Java {major} ({line}). "
            "Install a newer one or point JAVA_HOME at it"
        )
    return major


def check_pyspark() -> str:
    """Stop with a clear message unless pyspark is installed; return its version."""
    if importlib.util.find_spec("pyspark") is None:
        raise SparkSetupError(
            "the Spark engine needs pyspark, an optional extra of recnb: "
            "pip install -e '.[spark]' (or run make with ENGINE=spark)"
        )
    import pyspark

    return str(pyspark.__version__)


_MASTER_FORMS = (
    (
        re.compile(r"local(\[(\*|[1-9]\d*)(,\s*[1-9]\d*)?\])?"),
        "local, local[N], local[*], local[N,F]",
    ),
    (re.compile(r"local-cluster\[[1-9]\d*,\s*[1-9]\d*,\s*[1-9]\d*\]"), "local-cluster[N,C,M]"),
    (re.compile(r"spark://[^\s/:,]+(:\d+)?(,[^\s/:,]+(:\d+)?)*"), "spark://host:7077"),
    (re.compile(r"yarn"), "yarn"),
    (re.compile(r"k8s://\S+"), "k8s://https://host:6443"),
)


def check_master(master: str, where: str = "spark.master") -> str:
    """Return ``master`` if it is a ``spark.master`` Spark accepts, else stop with a clear error.

    Parameters
    ----------
    master : str
        ``local[2]``, ``local[*]``, ``spark://host:7077`` (several hosts for standby masters),
        ``yarn`` or ``k8s://https://host:6443``.
    where : str
        Where the value came from, for the message (a params key or an environment variable).

    Raises
    ------
    ValueError
        Not a string, or of none of those forms.
    """
    if not isinstance(master, str) or not master.strip():
        raise ValueError(f"{where}: the Spark master must be a non-empty string, got {master!r}")
    value = master.strip()
    if any(rx.fullmatch(value) for rx, _ in _MASTER_FORMS):
        return value
    forms = "; ".join(form for _, form in _MASTER_FORMS)
    raise ValueError(f"{where}: {master!r} is not a Spark master; use one of: {forms}")


def check_spark_conf(conf: Mapping[str, Any] | None, where: str = "spark_conf") -> dict[str, str]:
    """Spark settings as strings, after checking every key and value.

    Keys must be Spark setting names (``spark.`` followed by more, e.g. ``spark.executor.memory``);
    values strings, numbers or booleans (booleans become ``true`` / ``false``). A ``spark.master``
    key is checked with :func:`check_master`.

    Raises
    ------
    ValueError
        Naming ``where`` and the key at fault.
    """
    if conf is None:
        return {}
    if not isinstance(conf, Mapping):
        raise ValueError(
            f"{where}: must be a mapping of Spark settings (spark.x: value), got "
            f"{type(conf).__name__}"
        )
    out: dict[str, str] = {}
    for key, value in conf.items():
        if not isinstance(key, str) or not re.fullmatch(r"spark\.[A-Za-z0-9_.\-]+", key):
            raise ValueError(
                f"{where}: {key!r} is not a Spark setting (names start with 'spark.', e.g. "
                "spark.executor.memory)"
            )
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            text = str(value)
        else:
            raise ValueError(
                f"{where}: {key}: value must be a string, number or boolean, got "
                f"{type(value).__name__} {value!r}"
            )
        if not text.strip():
            raise ValueError(f"{where}: {key}: empty value")
        if key == "spark.master":
            text = check_master(text, f"{where}: {key}")
        out[key] = text
    return out


def resolve_master(master: str | None = None, conf: Mapping[str, Any] | None = None) -> str | None:
    """The master a new session gets: ``$RECNB_SPARK_MASTER``, else ``master``, else
    ``conf["spark.master"]``, else ``local[2]``; None under ``spark-submit`` (its master is kept).

    The environment variable overrides the params file, so one params file can run on a laptop
    and, with ``RECNB_SPARK_MASTER=spark://head:7077``, on a cluster (or the other way round).
    """
    env = os.environ.get(MASTER_ENV)
    if env:
        return check_master(env, f"environment variable {MASTER_ENV}")
    if master is not None:
        return check_master(master, "master")
    if conf and "spark.master" in conf:
        return check_master(str(conf["spark.master"]), "spark.master")
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        # under spark-submit (which starts the gateway itself) the master it was given is kept
        return None
    return DEFAULT_MASTER


def spark_session(
    master: str | None = None,
    app_name: str = "recnb",
    conf: Mapping[str, Any] | None = None,
    log_level: str = "ERROR",
) -> SparkSession:
    """Start (or return the running) Spark session with recnb's settings.

    Parameters
    ----------
    master : str, optional
        ``spark.master``: ``local[2]`` (default), ``local[*]``, ``spark://host:7077``,
        ``yarn``, ``k8s://...``. Under ``spark-submit`` leave it None: the master given to
        spark-submit is kept. The environment variable ``RECNB_SPARK_MASTER`` overrides it
        (:func:`resolve_master`).
    app_name : str
        Application name shown by the cluster manager.
    conf : mapping, optional
        Further Spark settings; they override :data:`DEFAULT_CONF`.
    log_level : str
        Log level of the JVM (``ERROR`` keeps notebooks and test output quiet).

    Returns
    -------
    pyspark.sql.SparkSession
    """
    check_pyspark()
    check_java()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # executors run this interpreter (the venv's), not whatever 'python3' is first on PATH
    os.environ.setdefault("PYSPARK_PYTHON", _python())
    builder = SparkSession.builder.appName(app_name)
    settings = {**DEFAULT_CONF, **check_spark_conf(conf, "conf")}
    chosen = resolve_master(master, settings if conf and "spark.master" in conf else None)
    if chosen is not None:
        settings["spark.master"] = chosen
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(log_level)
    return session


def _python() -> str:
    import sys

    return sys.executable


def active_session() -> SparkSession | None:
    """The running session of this process, or None (also when pyspark is not installed)."""
    if importlib.util.find_spec("pyspark") is None:
        return None
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def stop_session() -> None:
    """Stop the active session, if any (tests stop theirs at the end of the module)."""
    if importlib.util.find_spec("pyspark") is None:
        return
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


@contextmanager
def session_scope(**kwargs: Any) -> Iterator[SparkSession]:
    """``with session_scope(master="local[2]") as spark:`` a session stopped at the end."""
    session = spark_session(**kwargs)
    try:
        yield session
    finally:
        session.stop()
