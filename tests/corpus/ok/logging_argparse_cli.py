"""A command-line tool skeleton: argparse with parse_args([]) and logging to stderr."""

import argparse
import logging
import sys

log = logging.getLogger("tool")


def build_parser():
    parser = argparse.ArgumentParser(prog="tool", description="Summarise some numbers.")
    parser.add_argument("numbers", nargs="*", type=float, default=[3.0, 1.0, 4.0, 1.0, 5.0])
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("--mode", choices=["sum", "mean", "max"], default="mean")
    parser.add_argument("--precision", type=int, default=2)
    parser.add_argument("--tag", action="append", default=[])
    return parser


def main(argv):
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s %(name)s: %(message)s")
    log.info("mode=%s numbers=%s", args.mode, args.numbers)
    if not args.numbers:
        log.error("no numbers given")
        return 1
    result = {"sum": sum, "mean": lambda xs: sum(xs) / len(xs), "max": max}[args.mode](args.numbers)
    log.debug("result before rounding: %r", result)
    print(f"{args.mode} = {result:.{args.precision}f}", *args.tag)
    if result > 100:
        log.warning("large result %s", result)
    return 0


if __name__ == "__main__":
    print(build_parser().format_usage().strip())
    main([])
    main(["-vv", "--mode", "max", "10", "200", "--tag", "demo"])
    sys.exit(main(["--mode", "sum", "--precision", "0", "1.5", "2.5"]))
