"""Command-line entry points that the other tests do not cover: doctor, and clear errors from bench."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "molpractice", *args], cwd=REPO, capture_output=True, text=True)


def test_doctor_reports_versions_device_mode_and_data():
    result = _run("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    for words in ("torch", "rdkit", "device", "run mode", "implementation", "solubility", "doctor: all good"):
        assert words in result.stdout


def test_bench_errors_are_messages_not_tracebacks():
    result = _run("bench", "ch01", "--csv", "missing.csv")
    assert result.returncode == 2 and "--smiles-col" in result.stderr and "Traceback" not in result.stderr
    result = _run("bench", "ch09")
    assert result.returncode == 2 and "no chapter" in result.stderr and "ch01" in result.stderr


def test_installed_console_script_matches_module():
    exe = Path(sys.executable).with_name("molpractice")
    assert exe.exists(), "the console script `molpractice` is not installed"
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "grade" in result.stdout and "make-exercises" in result.stdout


def test_versions_imports_the_libraries_and_reads_the_tools_from_metadata(monkeypatch):
    from importlib import metadata

    from molpractice import doctor

    monkeypatch.setattr(doctor, "PACKAGES", ("numpy", "no_such_library_xyz", "jupyterlab", "no_such_tool_xyz"))
    monkeypatch.setattr(doctor, "TOOLS", ("jupyterlab", "no_such_tool_xyz"))
    v = doctor.versions()
    import numpy

    assert v["numpy"] == numpy.__version__ and v["jupyterlab"] == metadata.version("jupyterlab")
    assert v["no_such_library_xyz"] == "missing (ModuleNotFoundError)"
    assert v["no_such_tool_xyz"] == "missing (PackageNotFoundError)"
    assert set(v) == {"python", *doctor.PACKAGES}
