"""Logging is set up once: our packages at INFO, third-party libraries at WARNING unless --verbose."""

import logging

import pytest

from serving.cli import setup_logging


@pytest.mark.parametrize("verbose", [False, True])
def test_third_party_info_lines_only_when_verbose(verbose):
    root = logging.getLogger()
    before = root.level
    try:
        setup_logging(verbose)
        assert logging.getLogger("training.finetune").isEnabledFor(logging.INFO)
        assert logging.getLogger("serving.batch").isEnabledFor(logging.INFO)
        assert logging.getLogger("onnx_ir.passes.common").isEnabledFor(logging.INFO) is verbose
        assert logging.getLogger("onnx_ir.passes.common").isEnabledFor(logging.WARNING)
    finally:
        root.setLevel(before)
