"""``pipetune cache info|clear``: what the stage-output cache holds, and emptying it."""

from __future__ import annotations

import argparse
import sys

from pipetune.cli.output import EXIT_OK, Report, _emit
from pipetune.pipeline.cache import CACHE_DIR_ENV, StageCache, default_cache_dir


def _cmd_cache(args: argparse.Namespace) -> int:
    cache = StageCache(args.cache_dir or default_cache_dir())
    if args.action == "clear":
        removed = cache.clear(stage=args.stage)
        what = f"stage {args.stage!r}" if args.stage else "all stages"
        if args.format == "table":
            sys.stdout.write(f"Removed {removed} cached output(s) of {what} from {cache.root}.\n")
        else:
            record = {"root": cache.root, "stage": args.stage, "removed": removed}
            _emit(Report([record], list(record), [list(record.values())]), args.format,
                  sys.stdout)
        return EXIT_OK
    info = cache.info()
    columns = ["stage", "entries", "bytes"]
    rows = [[stage, count, size] for stage, (count, size) in info.by_stage.items()]
    rows.append(["(all)", info.entries, info.size])
    records = [{"root": info.root, "stage": stage, "entries": count, "bytes": size}
               for stage, count, size in rows]
    if args.format == "table":
        sys.stdout.write(f"Stage cache at {info.root}\n")
    _emit(Report(records, columns, rows), args.format, sys.stdout)
    return EXIT_OK


def _add_cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("info", "clear"),
                        help="info: entries and bytes per stage; clear: delete cached outputs")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help=f"the cache folder (default: ${CACHE_DIR_ENV}, else "
                             "./pipetune-cache)")
    parser.add_argument("--stage", metavar="NAME",
                        help="with clear: delete only this stage's outputs")
