"""Unit tests of molpractice.runtime: modes, implementation switch, device choice, seeding, cache."""
import random

import numpy as np
import pytest
import torch

from molpractice import runtime


@pytest.mark.parametrize("raw, fast", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False),
                                       ("off", False)])
def test_fast_mode_spellings(monkeypatch, raw, fast):
    monkeypatch.setenv("MOLPRACTICE_FAST", raw)
    assert runtime.is_fast() is fast
    assert runtime.pick("full", "fast") == ("fast" if fast else "full")


def test_fast_mode_unset_is_full(monkeypatch):
    monkeypatch.delenv("MOLPRACTICE_FAST", raising=False)
    assert runtime.run_mode() == "full"


def test_fast_mode_rejects_garbage(monkeypatch):
    monkeypatch.setenv("MOLPRACTICE_FAST", "sometimes")
    with pytest.raises(ValueError, match="sometimes"):
        runtime.is_fast()


def test_impl_default_switch_and_errors(monkeypatch):
    monkeypatch.delenv("MOLPRACTICE_IMPL", raising=False)
    assert runtime.implementation_name() == "exercises"
    runtime.use("solutions")
    assert runtime.implementation_name() == "solutions"
    with pytest.raises(ValueError, match="implementation"):
        runtime.use("mine")
    monkeypatch.setenv("MOLPRACTICE_IMPL", "answers")
    with pytest.raises(ValueError, match="answers"):
        runtime.implementation_name()


def test_device_default_and_override(monkeypatch):
    monkeypatch.delenv("MOLPRACTICE_DEVICE", raising=False)
    assert runtime.get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("MOLPRACTICE_DEVICE", "cpu")
    assert runtime.get_device() == torch.device("cpu")
    monkeypatch.setenv("MOLPRACTICE_DEVICE", "gpu0")
    with pytest.raises(ValueError, match="gpu0"):
        runtime.get_device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("MOLPRACTICE_DEVICE", "cuda")
        with pytest.raises(ValueError, match="CUDA is not available"):
            runtime.get_device()


def test_seed_everything_reproduces_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    runtime.seed_everything(123)
    first = draw()
    runtime.seed_everything(123)
    assert draw() == first
    runtime.seed_everything(124)
    assert draw() != first
    with pytest.raises(ValueError):
        runtime.seed_everything(-1)


def test_cache_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("MOLPRACTICE_CACHE", str(tmp_path / "c"))
    assert runtime.cache_dir() == tmp_path / "c"
    assert (tmp_path / "c").is_dir()


def test_report_prints_one_line(capsys, monkeypatch):
    monkeypatch.setenv("MOLPRACTICE_IMPL", "solutions")
    info = runtime.report()
    assert info["implementation"] == "solutions"
    assert capsys.readouterr().out.count("\n") == 1


def test_load_chapter_falls_back_to_reference_for_stubs(monkeypatch):
    import warnings

    import numpy as np

    from molpractice.implementations import load_chapter

    monkeypatch.delenv("MOLPRACTICE_IMPL", raising=False)
    module = load_chapter("ch00_start_here")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probs, _, _ = module.softmax_energy_stats(np.array([0.0, 0.0]), 1.0)
    assert np.allclose(probs, 0.5)
    assert any("not implemented yet" in str(w.message) for w in caught)
    strict = load_chapter("ch00_start_here", fallback=False)
    with pytest.raises(NotImplementedError, match="Exercise 0.1"):
        strict.softmax_energy_stats(np.array([0.0]), 1.0)
    assert load_chapter("ch00_start_here", name="solutions").__name__ == "solutions.ch00_start_here"
