from dataclasses import dataclass

import pytest

from serving.params import deep_merge, from_dict, load_params
from tests.conftest import ROOT
from training.config import training_params


@dataclass(frozen=True)
class Inner:
    size: int


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner
    shape: tuple[int, ...]


def test_from_dict_builds_nested_dataclasses_and_refuses_typos():
    built = from_dict(Outer, {"name": "x", "inner": {"size": 3}, "shape": [1, 2]})
    assert built == Outer("x", Inner(3), (1, 2))
    with pytest.raises(KeyError, match="sise"):
        from_dict(Outer, {"name": "x", "inner": {"sise": 3}, "shape": []})


def test_deep_merge_overrides_leaves_and_keeps_siblings():
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 9}}) == {"a": {"b": 9, "c": 2}, "d": 3}


def test_params_file_loads_in_both_profiles_with_one_seed():
    default, _ = training_params(ROOT / "params.yaml")
    quick, raw = training_params(ROOT / "params.yaml", "quick")
    assert default.transformer.init == "pretrained"
    assert quick.transformer.init == "random"
    assert quick.generate.seed == default.generate.seed == raw["seed"]
    assert sum(quick.generate.conversations.values()) < sum(default.generate.conversations.values())
    with pytest.raises(KeyError, match="profile"):
        load_params(ROOT / "params.yaml", "no-such-profile")
