"""Colab support: the one setup cell every notebook starts with, and the repository it fetches.

``REPO_URL`` is the only place the repository address is written; ``setup_cell_source()`` renders the
cell, and a test checks that every notebook's first code cell is exactly this text.
"""
REPO_URL = "https://github.com/molpractice/molpractice"

_SETUP_CELL = '''# Setup — on Colab: fetch the curriculum and install what Colab lacks. Elsewhere: nothing to install.
import os, subprocess, sys
if "google.colab" in sys.modules and not os.path.isdir("/content/molpractice"):
    subprocess.run(["git", "clone", "--depth", "1", "{url}", "/content/molpractice"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/molpractice"], check=True)
if "google.colab" in sys.modules:
    os.chdir("/content/molpractice/notebooks")
    sys.path.insert(0, "/content/molpractice")
import molpractice as mp
mp.report();'''


def setup_cell_source() -> str:
    """The exact source of the first code cell of every notebook."""
    return _SETUP_CELL.format(url=REPO_URL)


def badge_markdown(notebook: str) -> str:
    """A Markdown 'Open in Colab' badge for ``notebooks/<notebook>``."""
    path = REPO_URL.replace("https://github.com/", "")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}/blob/main/notebooks/{notebook})")
