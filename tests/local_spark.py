"""One local Spark (``local[2]``, bound to 127.0.0.1) for every test of the session that needs
Spark: starting one costs seconds, so it starts on first use and lives until the tests end.

Test modules import it as ``local_spark`` (``tests/`` is on ``sys.path`` once pytest has loaded
``tests/conftest.py``) and call ``spark_session()`` from a fixture; it skips the test (fails it
under CI) where PySpark or Java is missing.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from availability import require_installed, unavailable

_session: list[Any] = []


def require_spark() -> None:
    """Skips the calling test (fails it under CI) unless PySpark and a Java runtime are
    there."""
    require_installed("pyspark", extra="spark")
    if os.environ.get("JAVA_HOME") is None and shutil.which("java") is None:
        unavailable("Spark needs a Java runtime and there is none (apt-get install "
                    "default-jre-headless, or `make test`, which installs it).")


def spark_session() -> Any:
    """The shared local SparkSession, started on first call."""
    require_spark()
    if _session:
        return _session[0]
    # Read when the JVM starts: every listener on 127.0.0.1. The executors' Python must be
    # this one, which has pipetune installed.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("pipetune-tests")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    _session.append(session)
    return session
