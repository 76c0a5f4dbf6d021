"""Static checks of scripts/env.sh that the machines running the suite cannot show (it runs on a learner's laptop)."""
import re
from pathlib import Path

ENV_SH = Path(__file__).resolve().parents[1] / "scripts" / "env.sh"


def test_env_sh_expands_possibly_empty_arrays_the_bash_3_2_way():
    """macOS ships bash 3.2, where "${a[@]}" of an empty array under `set -u` aborts ("unbound variable"):
    arrays that may be empty must be expanded as ${a[@]+"${a[@]}"}."""
    text = ENV_SH.read_text()
    assert "set -u" in text or "set -euo" in text
    may_be_empty = set(re.findall(r"^\s*(\w+)=\(\)", text, flags=re.M))
    assert {"as_root", "xdist"} <= may_be_empty, "the arrays this test guards were renamed: update the test"
    for name in may_be_empty:
        bare = re.findall(r'(?<!\+)"\$\{' + name + r'\[@\]\}"', text)
        assert not bare, f'{name}: expand it as ${{{name}[@]+"${{{name}[@]}}"}} (bash 3.2 with set -u)'


def test_env_sh_hashes_without_assuming_sha256sum():
    text = ENV_SH.read_text()
    assert "shasum -a 256" in text, "macOS has shasum, not always sha256sum"
