"""The accuracy benchmark's command line: --set overrides are typed, checked and recorded."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def accuracy(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module("accuracy")
    monkeypatch.setattr(sys.modules["_common"], "RESULTS", tmp_path)
    return module


def test_settings_take_the_field_type(accuracy):
    assert accuracy.parse_setting("label_smoothing=0.1") == ("label_smoothing", 0.1)
    assert accuracy.parse_setting("batch_size=64") == ("batch_size", 64)
    assert accuracy.parse_setting("tta=true") == ("tta", True)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "nope=1"], "config field"),
        (["--set", "batch_size=big"], "batch_size: 'big' is not a valid int"),
        (["--set", "aug_strength=0"], "augmentation strength"),
        (["--set", "model=nope"], "unknown model 'nope'"),
    ],
)
def test_bad_settings_stop_with_one_line(accuracy, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        accuracy.main(["--quick", "--presets", "fast", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_settings_reach_the_run_and_the_results(accuracy, synthetic_dir, tmp_path):
    assert (
        accuracy.main(
            [
                "--quick",
                "--presets",
                "fast",
                "--data-dir",
                str(synthetic_dir),
                "--threads",
                "1",
                "--set",
                "label_smoothing=0.2",
                "--out",
                "check",
            ]
        )
        == 0
    )
    saved = json.loads((tmp_path / "check.json").read_text())
    fast = saved["presets"]["fast"]
    assert fast["settings"] == {"label_smoothing": 0.2}
    assert fast["recipe"]["label_smoothing"] == 0.2
    assert fast["runs"][0]["config"]["label_smoothing"] == 0.2


def test_contention_policies_parse(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    contention = importlib.import_module("contention")
    assert contention.parse_policy("GOMP_SPINCOUNT=10000,KMP_BLOCKTIME=1") == {
        "GOMP_SPINCOUNT": "10000",
        "KMP_BLOCKTIME": "1",
    }
    with pytest.raises(Exception, match="NAME=VALUE"):
        contention.parse_policy("PASSIVE")
