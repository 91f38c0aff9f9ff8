"""Presets build and train a few steps on synthetic data; the fast paths they use agree with the plain ones."""

from __future__ import annotations

import json

import pytest
import torch

from mnist_tui.engine import device
from mnist_tui.engine.batches import BatchSpec, prepare, train_batches
from mnist_tui.engine.config import PRESETS, TrainConfig, make_config
from mnist_tui.engine.device import pick_precision
from mnist_tui.runfolder import events as ev
from mnist_tui.training.train import fit


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_builds_and_trains_a_few_steps(preset, synthetic_dir, runs_dir):
    config = make_config(
        preset=preset,
        data_dir=str(synthetic_dir),
        runs_dir=str(runs_dir),
        epochs=1,
        train_subset=256,
        threads=1,
        precision="fp32",
    )
    assert config.preset == preset
    for key, value in PRESETS[preset].items():
        if key not in ("epochs", "precision"):
            assert getattr(config, key) == value
    events = []
    result = fit(config, events.append)
    assert result.status == "finished"
    assert 0.0 <= result.summary.test_acc <= 1.0
    assert result.summary.preset == preset
    assert result.summary.tta == config.tta and (result.summary.ema_decay or 0.0) == config.ema_decay
    recorded = json.loads((result.run_dir / "config.json").read_text())
    assert recorded["preset"] == preset and recorded["epoch_fraction"] == config.epoch_fraction
    started = next(e for e in events if isinstance(e, ev.RunStarted))
    assert started.batches_per_epoch == -(-round(256 * config.epoch_fraction) // config.batch_size)


def test_unknown_preset_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown preset 'turbo'"):
        make_config(preset="turbo")


def test_presets_record_their_recipe():
    for name in PRESETS:
        recipe = make_config(preset=name).to_dict()
        for key in ("optimizer", "schedule", "batch_size", "epochs", "augment", "precision", "lr"):
            assert key in recipe
        assert TrainConfig.from_dict(recipe) == make_config(preset=name)


def test_bad_fractions_are_rejected():
    with pytest.raises(ValueError, match="epoch fraction"):
        make_config(epoch_fraction=0)
    with pytest.raises(ValueError, match="EMA decay"):
        make_config(ema_decay=1.0)
    with pytest.raises(ValueError, match="elastic displacement"):
        make_config(elastic=-1)
    with pytest.raises(ValueError, match="unknown keep 'first'"):
        make_config(keep="first")
    with pytest.raises(ValueError, match="augmentation strength"):
        make_config(aug_strength=0)


@pytest.mark.parametrize("augment", [False, True])
def test_prepared_batches_match_per_batch_conversion(augment):
    images = torch.randint(0, 256, (300, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (300,))
    spec = BatchSpec(64, augment)
    plain = list(
        train_batches(images, labels, spec, torch.Generator().manual_seed(3), torch.Generator().manual_seed(4))
    )
    fast = list(
        train_batches(prepare(images), labels, spec, torch.Generator().manual_seed(3), torch.Generator().manual_seed(4))
    )
    assert len(plain) == len(fast) == 5
    for (xa, ya), (xb, yb) in zip(plain, fast):
        assert torch.equal(ya, yb)
        assert torch.allclose(xa, xb, atol=1e-4)


def test_elastic_reaches_the_batches_only_when_asked():
    images = prepare(torch.randint(0, 256, (64, 28, 28), dtype=torch.uint8))
    labels = torch.zeros(64, dtype=torch.long)

    def first(elastic):
        spec = BatchSpec(64, augment=True, erase_p=0.0, elastic=elastic)
        batches = train_batches(
            images.clone(), labels, spec, torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
        )
        return next(iter(batches))[0]

    assert torch.equal(first(0.0), first(0.0))
    assert not torch.allclose(first(2.0), first(0.0), atol=1e-3)


def test_fit_passes_the_augmentation_settings_to_the_batches(synthetic_dir, runs_dir, monkeypatch):
    from mnist_tui.training import train

    seen = []

    def recording(images, labels, spec, *generators):
        seen.append(spec)
        return train_batches(images, labels, spec, *generators)

    monkeypatch.setattr(train, "train_batches", recording)
    config = make_config(
        model="1-layer",
        data_dir=str(synthetic_dir),
        runs_dir=str(runs_dir),
        epochs=1,
        train_subset=128,
        threads=1,
        augment=True,
        elastic=1.5,
        erase_p=0.25,
        aug_strength=0.5,
    )
    assert fit(config).status == "finished"
    assert seen and seen[0].elastic == 1.5 and seen[0].erase_p == 0.25 and seen[0].strength == 0.5


def test_limit_draws_a_fraction_of_the_epoch():
    images = prepare(torch.zeros(100, 28, 28, dtype=torch.uint8))
    batches = list(train_batches(images, torch.arange(100), BatchSpec(16, limit=40), torch.Generator().manual_seed(0)))
    assert sum(len(y) for _, y in batches) == 40
    assert len({int(i) for _, y in batches for i in y}) == 40


def test_auto_precision_needs_native_bf16_and_a_faster_probe(monkeypatch, tmp_path):
    cpu = torch.device("cpu")
    assert pick_precision("fp32", cpu) == "fp32"
    assert pick_precision("bf16", cpu) == "bf16"
    monkeypatch.setattr(device, "_cache_file", lambda: tmp_path / "precision.json")
    monkeypatch.setattr(device, "_PROBED", {})
    monkeypatch.setattr(device, "measure_precisions", lambda d: {"fp32": 10.0, "bf16": 20.0})
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert pick_precision("auto", cpu) == "bf16"
    assert json.loads((tmp_path / "precision.json").read_text())  # cached on disk for the next process
    monkeypatch.setattr(device, "_PROBED", {})
    (tmp_path / "precision.json").unlink()
    monkeypatch.setattr(device, "measure_precisions", lambda d: {"fp32": 10.0, "bf16": 9.0})
    assert pick_precision("auto", cpu) == "fp32"  # native, but measured slower
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert pick_precision("auto", cpu) == "fp32"


def test_auto_precision_rule_bf16_only_native_faster_and_not_for_accuracy():
    assert device.auto_precision(native_bf16=True, bf16_faster=True, accuracy_first=False) == "bf16"
    assert device.auto_precision(native_bf16=True, bf16_faster=False, accuracy_first=False) == "fp32"
    assert device.auto_precision(native_bf16=False, bf16_faster=True, accuracy_first=False) == "fp32"
    assert device.auto_precision(native_bf16=True, bf16_faster=True, accuracy_first=True) == "fp32"


def test_accuracy_first_skips_the_probe(monkeypatch):
    def no_probe(d):
        raise AssertionError("probed")

    monkeypatch.setattr(device, "_PROBED", {})
    monkeypatch.setattr(device, "probe_precisions", no_probe)
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert pick_precision("auto", torch.device("cpu"), accuracy_first=True) == "fp32"
    assert pick_precision("bf16", torch.device("cpu"), accuracy_first=True) == "bf16"  # asked for: given
