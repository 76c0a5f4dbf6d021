"""``molpractice doctor``: what a learner or instructor needs to know before starting."""
from __future__ import annotations

import importlib
import platform
import sys

PACKAGES = ("torch", "torch_geometric", "rdkit", "datamol", "sklearn", "numpy", "pandas", "matplotlib",
            "tqdm", "jupyterlab", "ipywidgets", "pytest", "nbval")
#: Tools that run the notebooks and tests rather than being imported by them: their version is read from the
#: installed distribution's metadata (importing ``jupyterlab`` in a kernel only to read it costs about 2 CPU-s).
TOOLS = ("jupyterlab", "ipywidgets", "pytest", "nbval")


def versions() -> dict[str, str]:
    """Installed version of every package the curriculum uses (``missing (<reason>)`` when absent): the libraries
    the notebooks import are imported (so ``missing`` also means "does not import"); :data:`TOOLS` are looked up
    in the installed distributions' metadata."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            if name in TOOLS:
                out[name] = metadata.version(name)
            else:
                out[name] = getattr(importlib.import_module(name), "__version__", "installed")
        except Exception as err:  # report, never crash
            out[name] = f"missing ({type(err).__name__})"
    return out


def doctor() -> int:
    """Print versions, device, run mode, implementation, repository and data availability.

    Returns 0 when everything needed is importable, 1 otherwise.
    """
    from . import data, runtime

    problems = 0
    print("== versions")
    for name, version in versions().items():
        print(f"  {name:<16} {version}")
        problems += version.startswith("missing") and name not in ("pytest", "nbval")
    print("== run time")
    try:
        import torch

        device = runtime.get_device()
        print(f"  device           {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
        print(f"  torch threads    {runtime.configure_threads()} (MOLPRACTICE_THREADS; the policy every notebook and "
              f"command sets)")
    except Exception as err:
        print(f"  device           error: {err}")
        problems += 1
    for label, getter in (("run mode", runtime.run_mode), ("implementation", runtime.implementation_name)):
        try:
            print(f"  {label:<16} {getter()}")
        except ValueError as err:
            print(f"  {label:<16} error: {err}")
            problems += 1
    print(f"  colab            {runtime.in_colab()}")
    print(f"  executable       {sys.executable}")
    try:
        from .repository import find_repo

        print(f"  repository       {find_repo()}")
    except FileNotFoundError as err:
        print(f"  repository       not found: {err}")
    print("== data (offline)")
    for name, status in data.available_datasets().items():
        print(f"  {name:<20} {status}")
        problems += not status.startswith("ok")
    print("doctor: all good" if not problems else f"doctor: {problems} problem(s) above")
    return 0 if not problems else 1
