"""The `grooming-risk` command. Subcommands come from the entry-point group
`grooming_risk.commands`, so serving never imports training or evals."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from serving.bundle import BundleError

GROUP = "grooming_risk.commands"
log = logging.getLogger("grooming_risk")


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


def setup_logging(verbose: bool) -> None:
    """Logging set up once, for every subcommand."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)  # also when a handler was there before (basicConfig does nothing then)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    parser = argparse.ArgumentParser(prog="grooming-risk", description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="third-party libraries log at INFO too")
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
    setup_logging(args.verbose)
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
    return 2


if __name__ == "__main__":
    sys.exit(main())
