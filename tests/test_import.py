"""Importing molpractice is fast and has no side effects (no heavy imports, no network, no seeding)."""
import subprocess
import sys

PROBE = r"""
import random, socket, sys, time
def no_network(*a, **k):
    raise AssertionError("molpractice opened a network connection at import")
socket.socket.connect = no_network
socket.create_connection = no_network
random.seed(7); state = random.getstate()
t0 = time.perf_counter()
import molpractice
elapsed = time.perf_counter() - t0
heavy = sorted(m for m in ("torch", "rdkit", "datamol", "matplotlib", "torch_geometric", "pandas") if m in sys.modules)
print(f"{elapsed:.3f}", ",".join(heavy) or "-", random.getstate() == state)
"""


def test_import_is_fast_light_and_side_effect_free():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    seconds, heavy, rng_untouched = float(out[0]), out[1], out[2]
    assert seconds < 2.0, f"import molpractice took {seconds:.2f} s"
    assert heavy == "-", f"import molpractice imported heavy modules: {heavy}"
    assert rng_untouched == "True", "import molpractice changed the global random state"


def test_lazy_attributes_resolve():
    import molpractice as mp

    assert callable(mp.check) and callable(mp.load_chapter)
    assert mp.data.__name__ == "molpractice.data"
    assert "check" in dir(mp)
