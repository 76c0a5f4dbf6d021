"""The weights' cache key follows the installed package code (review 04e R16 / 04f finding 3): cached chapter-4
weights are never loaded by code other than the code that trained them."""
import importlib.util
import sys

from molpractice import diffusion_model as D


def _load(tmp_path, monkeypatch, name, text):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # inspect.getsource finds a class through its module
    spec.loader.exec_module(module)
    return module


BASE = '''
class Block:
    """A block."""

    def forward(self, x):
        """Doubles x."""
        return 2 * x  # a comment
'''


def test_code_hash_ignores_docstrings_comments_layout_and_sees_code(tmp_path, monkeypatch):
    base = _load(tmp_path, monkeypatch, "base", BASE).Block
    redoc = _load(tmp_path, monkeypatch, "redoc", BASE.replace("A block.", "Another block.").replace("Doubles x.", "Twice x.")
                  .replace("# a comment", "# other").replace("return 2 * x", "return (2 *\n                x)")).Block
    changed = _load(tmp_path, monkeypatch, "changed", BASE.replace("return 2 * x", "return 3 * x")).Block
    assert D._code_hash([base]) == D._code_hash([redoc]), "docstrings, comments and layout must keep the hash"
    assert D._code_hash([base]) != D._code_hash([changed]), "a change to what the code does must change the hash"


def test_package_code_hash_covers_the_model_and_the_loop_and_is_in_the_key(monkeypatch):
    for name in ("EGNNDenoiser", "_EGNNBlock", "_train_steps", "_collate", "EMA"):
        assert name in D.PACKAGE_TRAINING_CODE
    assert all(callable(getattr(D, name)) for name in D.PACKAGE_TRAINING_CODE)
    assert len(D.package_source_hash()) == 10 and D.package_source_hash() == D.package_source_hash()
    cfg = D.SETTINGS.current("fast")
    data = [{"smiles": "CCO"}]
    before = D.weights_path(cfg, "solutions", data)
    monkeypatch.setattr(D, "package_source_hash", lambda: "0123456789")
    assert D.weights_path(cfg, "solutions", data) != before, "the package's model/training code must be in the key"


def test_guidance_weights_follow_the_package_code(monkeypatch):
    from molpractice import guidance_model as GM

    cfg = GM.SETTINGS.current("fast") if hasattr(GM, "SETTINGS") else None
    if cfg is None:
        import pytest
        pytest.fail("molpractice.guidance_model.SETTINGS is gone: update this test")
    data = [{"smiles": "CCO"}]
    before = GM.weights_path(cfg, data, "base")
    assert GM.weights_path(cfg, data, "other base") != before, "chapter 4's weights must be in the guidance cache key"
    monkeypatch.setattr(GM, "package_source_hash", lambda: "0123456789")
    assert GM.weights_path(cfg, data, "base") != before, "chapter 4's model code must be in the guidance cache key"
