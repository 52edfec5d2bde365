"""``pipetune cache info|clear``: what the stage-output cache holds, and emptying it."""

from __future__ import annotations

import argparse
import sys

from pipetune.cli.output import EXIT_OK, Report, emit, format_bytes
from pipetune.pipeline.cache import CACHE_DIR_ENV, StageCache, default_cache_dir


def cmd_cache(args: argparse.Namespace) -> int:
    cache = StageCache(args.cache_dir or default_cache_dir())
    if args.action == "clear":
        removed = cache.clear(stage=args.stage)
        what = f"stage {args.stage!r}" if args.stage else "all stages"
        if args.format == "table":
            sys.stdout.write(f"Removed {removed} cached output(s) of {what} from {cache.root}.\n")
        else:
            record = {"root": cache.root, "stage": args.stage, "removed": removed}
            emit(Report([record], list(record), [list(record.values())]), args.format,
                  sys.stdout)
        return EXIT_OK
    info = cache.info()
    stages = [*info.by_stage.items(), ("(all)", (info.entries, info.size))]
    records = [{"root": info.root, "stage": stage, "entries": count, "bytes": size}
               for stage, (count, size) in stages]
    if args.format == "table":  # sizes for reading; CSV and JSON keep the exact bytes
        limit = "" if info.max_bytes is None else f" (at most {format_bytes(info.max_bytes)})"
        sys.stdout.write(f"Stage cache at {info.root}{limit}\n")
        report = Report(records, ["stage", "entries", "size"],
                        [[stage, count, format_bytes(size)] for stage, (count, size) in stages])
    else:
        report = Report(records, ["stage", "entries", "bytes"],
                        [[stage, count, size] for stage, (count, size) in stages])
    emit(report, args.format, sys.stdout)
    return EXIT_OK


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("info", "clear"),
                        help="info: entries and size per stage; clear: delete cached outputs")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help=f"the cache folder (default: ${CACHE_DIR_ENV}, else "
                             "./pipetune-cache)")
    parser.add_argument("--stage", metavar="NAME",
                        help="with clear: delete only this stage's outputs")
