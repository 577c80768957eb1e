"""The `grooming-risk` command. Subcommands come from the entry-point group
`grooming_risk.commands`, so serving never imports training or evals."""

from __future__ import annotations

import argparse
import importlib
import io
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import IO

from serving.bundle import BundleError

GROUP = "grooming_risk.commands"
DISTRIBUTION = "grooming-risk"
log = logging.getLogger("grooming_risk")
# Exit codes (README "Exit codes"): a gate FAIL is 1, like an unexpected error's traceback.
EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, its arguments, what it runs and the extra it needs."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    extra: str | None = None


def _add_params_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="parameters file")
    parser.add_argument("--profile", default=None, help="a profile of the parameters file, e.g. quick")


def stage_command(help: str, target: str, extra: str) -> Command:
    """A pipeline stage `module:function(params_path, profile) -> exit code`, imported only
    when run so that `--help` stays fast and a missing extra can be named."""

    def run(args: argparse.Namespace) -> int:
        module, function = target.split(":")
        return getattr(importlib.import_module(module), function)(args.params, args.profile)

    return Command(help, _add_params_arguments, run, extra)


class UsageError(RuntimeError):
    """A mistake of the caller (missing file, bad flag); printed as one line."""


def add_bundle_arguments(parser: argparse.ArgumentParser) -> None:
    """`--bundle`, the optional pin of its manifest's sha256 and the public key its signature must match."""
    parser.add_argument("--bundle", required=True, type=Path, help="model bundle folder")
    parser.add_argument(
        "--bundle-sha256",
        metavar="HEX",
        default=None,
        help="refuse the bundle unless its manifest.json has this sha256 (as `verify` prints it)",
    )
    parser.add_argument(
        "--bundle-public-key",
        metavar="PEM",
        type=Path,
        default=None,
        help="refuse the bundle unless its model.sig is this EC public key's signature of all its files",
    )


def _missing_extra(name: str, extra: str | None) -> str:
    hint = f"pip install 'grooming-risk[{extra}]'" if extra else "reinstall grooming-risk"
    return f"grooming-risk {name} needs the '{extra or 'base'}' extra ({hint})"


# Our packages log at INFO; third-party libraries (onnx_ir, transformers, mlflow...) only at
# WARNING unless --verbose: an export would otherwise print hundreds of optimiser lines.
OWN_LOGGERS = ("serving", "training", "evals")


def setup_logging(verbose: bool, level: str | None = None) -> None:
    """Logging set up once, for every subcommand: our packages at `level` (default INFO),
    third-party libraries at WARNING (INFO with `verbose`), neither below `level`."""
    own = logging.getLevelName(level) if level is not None else logging.INFO
    third_party = max(logging.INFO if verbose else logging.WARNING, own)
    logging.basicConfig(level=third_party, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(third_party)  # also when a handler was there before (basicConfig does nothing then)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own)


def package_version() -> str:
    """The installed version of grooming-risk (`unknown` when run from a tree never installed)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


class _Discard(io.TextIOBase):
    """A text stream that drops what is written to it."""

    def write(self, text: str) -> int:
        return len(text)


def human_stream(args: argparse.Namespace, stream: IO[str]) -> IO[str]:
    """Where a subcommand prints progress and its summary: `stream`, or nowhere with --quiet."""
    return _Discard() if getattr(args, "quiet", False) else stream


def _add_logging_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("--verbose", action="store_true", help="third-party libraries log at INFO too")
    loudness.add_argument(
        "--quiet",
        action="store_true",
        help="only errors: logging at ERROR; score, verify and gate print no progress or summary",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=None,
        metavar="LEVEL",
        help=f"level of our own log lines, one of {', '.join(LOG_LEVELS)} (default INFO; ERROR with --quiet)",
    )


def _log_level(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """The level --quiet or --log-level asks for; both at once is a usage error."""
    if args.quiet and args.log_level is not None:
        parser.error("--quiet and --log-level cannot be combined (--quiet is --log-level ERROR)")
    return "ERROR" if args.quiet else args.log_level


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    parser = argparse.ArgumentParser(
        prog="grooming-risk",
        description=__doc__.splitlines()[0],
        epilog="exit codes: 0 done (score: every record scored or rejected; gate: PASS), 1 gate FAIL or an "
        "unexpected error, 2 usage, bundle, input or output error, 130 interrupted (Ctrl-C)",
    )
    _add_logging_arguments(parser)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: dict[str, Command] = {}
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        command = entry.load()
        commands[entry.name] = command
        sub = subparsers.add_parser(entry.name, help=command.help, description=command.help)
        command.add_arguments(sub)
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose, _log_level(parser, args))
    command = commands[args.command]
    try:
        return command.run(args)
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] in {"serving", "training", "evals"}:
            raise
        print(f"error: {_missing_extra(args.command, command.extra)}; missing module {error.name}", file=sys.stderr)
    except (BundleError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
    except OSError as error:
        print(f"error: {error.strerror or type(error).__name__}: {error.filename}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    # `python -m serving.cli` runs this file as `__main__`: call the `serving.cli` the subcommands
    # import, whose UsageError is the one they raise (this module's own would not catch it).
    from serving.cli import main as imported_main

    sys.exit(imported_main())
