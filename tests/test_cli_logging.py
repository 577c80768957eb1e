"""Logging is set up once: our packages at INFO, third-party libraries at WARNING unless --verbose;
--quiet and --log-level set our own level (and never let third-party lines below it)."""

import logging

import pytest

from serving.cli import setup_logging
from tests.conftest import run_cli

OURS, THEIRS = "serving.batch", "onnx_ir.passes.common"


@pytest.fixture(autouse=True)
def _restore_levels():
    names = ("", "serving", "training", "evals")
    before = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("verbose", [False, True])
def test_third_party_info_lines_only_when_verbose(verbose):
    setup_logging(verbose)
    assert logging.getLogger("training.finetune").isEnabledFor(logging.INFO)
    assert logging.getLogger(OURS).isEnabledFor(logging.INFO)
    assert logging.getLogger(THEIRS).isEnabledFor(logging.INFO) is verbose
    assert logging.getLogger(THEIRS).isEnabledFor(logging.WARNING)


@pytest.mark.parametrize(
    ("level", "ours_lowest", "theirs_lowest"),
    [
        ("DEBUG", logging.DEBUG, logging.WARNING),
        ("WARNING", logging.WARNING, logging.WARNING),
        ("ERROR", logging.ERROR, logging.ERROR),
        ("CRITICAL", logging.CRITICAL, logging.CRITICAL),
    ],
)
def test_log_level_sets_our_level_and_floors_third_party(level, ours_lowest, theirs_lowest):
    setup_logging(False, level)
    for name in (OURS, "training.finetune", "evals.evaluate"):
        assert logging.getLogger(name).getEffectiveLevel() == ours_lowest, name
    assert logging.getLogger(THEIRS).getEffectiveLevel() == theirs_lowest


@pytest.mark.parametrize(
    ("flags", "ours_lowest"),
    [(["--quiet"], logging.ERROR), (["--log-level", "debug"], logging.DEBUG), ([], logging.INFO)],
)
def test_quiet_and_log_level_on_the_command_line(flags, ours_lowest, tmp_path, capsys):
    # verify fails on a missing bundle, after logging is set up: the error line still shows
    assert run_cli(*flags, "verify", "--bundle", tmp_path / "missing") == 2
    assert logging.getLogger(OURS).getEffectiveLevel() == ours_lowest
    assert capsys.readouterr().err.startswith("error: bundle")


@pytest.mark.parametrize(
    "flags", [["--quiet", "--log-level", "INFO"], ["--quiet", "--verbose"], ["--log-level", "LOUD"]]
)
def test_contradictory_or_unknown_logging_flags_are_usage_errors(flags, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*flags, "verify", "--bundle", tmp_path)
    assert exit_info.value.code == 2
    assert "usage: grooming-risk" in capsys.readouterr().err
