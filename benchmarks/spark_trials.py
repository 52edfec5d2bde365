"""``SparkTrials(parallelism=2)`` against ``Trials()``: the wall time of one Hyperopt-style
search of ``--evals`` trials (default 40) of an objective that sleeps ``--seconds`` (default 1),
both through ``pipetune.compat.hyperopt.fmin`` with ``tpe.suggest``, in one process run.

The local Spark (``local[2]``, bound to 127.0.0.1) is started before the SparkTrials searches
are timed, as a cluster is up before a notebook calls ``fmin``: its start-up, with one trivial
Python job that starts its Python workers, is printed on its own line. The first SparkTrials
search then pays what a fresh cluster pays (each Python worker imports pipetune); a second one,
on the same workers, shows the steady state. Each search keeps its trials in a SQLite file of a
temporary folder (SparkTrials' default on a local Spark; ``Trials(storage=...)`` for the other),
so both write the same records.

Target: the first SparkTrials search at least 1.8x faster than ``Trials()`` (two trials at a
time, against one). The script exits 1 when the target fails (``--exit-zero``: 0).

    .venv/bin/python benchmarks/spark_trials.py            # ~2 minutes
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

TARGET = 1.8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evals", type=int, default=40, help="trials per search")
    parser.add_argument("--seconds", type=float, default=1.0, help="each trial's sleep")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 on a missed target")
    args = parser.parse_args(argv)

    from pipetune.compat.hyperopt import SparkTrials, Trials, fmin, hp, tpe

    seconds = args.seconds

    def objective(x: float) -> float:
        time.sleep(seconds)
        return (x - 0.3) ** 2

    space = hp.uniform("x", 0.0, 1.0)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        fmin(objective, space, algo=tpe.suggest, max_evals=args.evals, show_progressbar=False,
             trials=Trials(storage=f"sqlite:///{os.path.join(folder, 'serial.db')}",
                           study_name="serial"))
        serial = time.perf_counter() - started

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    started = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("pipetune-bench")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.parallelize(range(2), 2).map(lambda i: i).collect()
    startup = time.perf_counter() - started
    searches = []
    try:
        for _ in range(2):
            trials = SparkTrials(parallelism=2)
            started = time.perf_counter()
            fmin(objective, space, algo=tpe.suggest, max_evals=args.evals, trials=trials,
                 show_progressbar=False)
            searches.append(time.perf_counter() - started)
            assert len(trials) == args.evals, len(trials)
    finally:
        spark.stop()

    first, second = searches
    print(f"{args.evals} trials of a {seconds:g} s objective, tpe.suggest "
          f"(Spark start-up before, not counted: {startup:.2f} s)")
    print(f"  Trials()                                  {serial:7.2f} s")
    print(f"  SparkTrials(parallelism=2), first search  {first:7.2f} s   "
          f"ratio {serial / first:.2f}x")
    print(f"  SparkTrials(parallelism=2), second search {second:7.2f} s   "
          f"ratio {serial / second:.2f}x")
    met = serial / first >= TARGET
    print(f"  target: first search >= {TARGET}x faster: {'met' if met else 'MISSED'}")
    return 0 if met or args.exit_zero else 1


if __name__ == "__main__":
    sys.exit(main())
