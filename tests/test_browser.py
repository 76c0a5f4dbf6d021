"""A learner's browser: JupyterLab (``bash scripts/env.sh lab``'s command) driven by Playwright in Debian's Chromium.

On a copy of this checkout (so the learner's edits touch nothing here), headless:

1. in Lab's editor, the learner writes a correct exercise 0.1 and saves it;
2. from the file browser, they open ``notebooks/00_start_here.ipynb`` and run all cells: no error output, the
   check cell shows ✅, plots appear as images;
3. in Lab's editor they change the exercise to a wrong answer (no log-sum-exp shift), save, re-run the check
   cell: ❌ with the message that names the fix;
4. ``notebooks/04_diffusion_sampling_diagnostics.ipynb`` (a heavier chapter with progress bars, fast mode) runs
   all cells: no error output, progress bars render as widgets while its loops run (never "Error displaying
   widget"), plots appear.

Screenshots of every step go to ``$MOLPRACTICE_ARTIFACTS`` (default: this test's temporary folder; never
committed). Skips, naming what is missing, without playwright (PyPI) or a Chromium binary (Debian's
``chromium``; ``MOLPRACTICE_CHROMIUM`` points at another).
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
from labserver import copy_checkout, start_lab, stop

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("MOLPRACTICE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

REQUIRED = os.environ.get("MOLPRACTICE_REQUIRE_ROOM") == "1"  # set by .ci/run: there, missing tools fail
pytestmark = [
    pytest.mark.skipif(sync_playwright is None and not REQUIRED, reason="needs playwright (PyPI; .ci/run installs it)"),
    pytest.mark.skipif(CHROMIUM is None and not REQUIRED, reason="needs a Chromium binary (Debian package chromium; .ci/run "
                                                "installs it) or MOLPRACTICE_CHROMIUM"),
    pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="runs scripts/env.sh with this virtual environment"),
]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EXERCISE = "exercises/ch00_start_here.py"
CORRECT = '''    logits = -(energies - energies.min()) / temperature
    log_p = logits - np.log(np.sum(np.exp(logits)))
    p = np.exp(log_p)
    return p, float(np.sum(p * energies)), float(-np.sum(p * log_p))
'''
WRONG = '''    p = np.exp(-energies / temperature)
    p = p / p.sum()
    return p, float(p @ energies), float(-(p * np.log(p)).sum())
'''


def _with_body(stub: str, body: str) -> str:
    lines = stub.splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.strip().startswith("raise NotImplementedError")]
    assert len(at) == 1
    return "".join(lines[:at[0]]) + body + "".join(lines[at[0] + 1:])


class Learner:
    """The steps a person takes in Lab, with a screenshot after each."""

    def __init__(self, page, base, token, shots: Path):
        self.page, self.base, self.token, self.shots, self.n = page, base, token, shots, 0
        self.bars_seen = 0

    def shot(self, name: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(self.shots / f"{self.n:02d}_{name}.png"), full_page=False)

    def open_lab(self) -> None:
        self.page.goto(f"{self.base}/lab?token={self.token}")
        self.page.locator(".jp-BreadCrumbs-home").first.wait_for(timeout=120_000)

    def dismiss_dialogs(self) -> None:
        """Answer the kernel chooser (the default kernel) if Lab shows it."""
        dialog = self.page.locator(".jp-Dialog")
        if dialog.count() and dialog.first.is_visible():
            self.page.locator(".jp-Dialog-button.jp-mod-accept").first.click()

    def open_from_file_browser(self, folder: str, name: str) -> None:
        """Click the file browser's root, then double-click ``folder`` and ``name`` (as a person does)."""
        page = self.page
        page.locator(".jp-BreadCrumbs-home").first.click(timeout=60_000)
        for item in (folder, name):
            page.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(item)}$")).first.dblclick(
                timeout=60_000)

    def switch_to(self, tab: str) -> None:
        self.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=tab).first.click()

    def edit_file(self, folder: str, name: str, text: str) -> None:
        """Open ``folder/name`` in Lab's editor from the file browser, replace its whole text, save (Ctrl+S)."""
        page = self.page
        self.open_from_file_browser(folder, name)
        editor = page.locator(".jp-FileEditor:not(.lm-mod-hidden) .cm-content").first
        editor.wait_for(timeout=60_000)
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.press("Delete")
        page.keyboard.insert_text(text)  # one input event: no auto-indent or bracket closing
        page.keyboard.press("Control+s")
        page.wait_for_function("() => !document.querySelector('.jp-mod-current .jp-mod-dirty')", timeout=30_000)

    def open_notebook(self, folder: str, name: str) -> None:
        self.open_from_file_browser(folder, name)
        self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.wait_for(timeout=60_000)
        self.page.wait_for_timeout(1000)
        self.dismiss_dialogs()
        self.wait_kernel_idle()

    def wait_kernel_idle(self, timeout: float = 120) -> None:
        """Wait until the notebook has a kernel and it is idle. The execution indicator alone says "idle" before
        any kernel is connected (its initial state), so the toolbar's kernel name must also be a kernel's: on a
        loaded machine Lab can take seconds to attach the kernel, and "Run All" before that runs nothing."""
        self.page.wait_for_function(
            "() => { const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)'); if (!p) return false;"
            " const s = p.querySelector('.jp-Notebook-ExecutionIndicator');"
            " const k = p.querySelector('.jp-Toolbar-kernelName'); const name = k ? k.textContent.trim() : '';"
            " return s && s.getAttribute('data-status') === 'idle' && name !== '' && name !== 'No Kernel'; }",
            timeout=timeout * 1000)

    def menu(self, top: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()

    def watch_progress_bars(self) -> None:
        """Count progress-bar widgets as Lab adds them to the page (a closed bar leaves the DOM at once)."""
        self.page.evaluate("""() => {
            if (window.__progressBars !== undefined) return;
            const BARS = '.widget-hprogress, .widget-vprogress';   // ipywidgets 8's progress views
            const FAILED = '.jupyter-widgets-error-widget';          // what "Error displaying widget" renders in
            window.__progressBars = 0; window.__widgetErrors = 0;
            new MutationObserver(records => { for (const r of records) for (const n of r.addedNodes) {
                if (n.nodeType === 1 && (n.matches(BARS) || n.querySelector(BARS))) window.__progressBars += 1;
                if (n.nodeType === 1 && (n.matches(FAILED) || n.querySelector(FAILED))) window.__widgetErrors += 1;
            } }).observe(document.body, {childList: true, subtree: true});
        }""")

    def run_all(self, timeout: float = 600) -> None:
        """Clear the stored outputs (so nothing below is left from the stored run), then Run All Cells."""
        self.watch_progress_bars()
        self.menu("Edit", "Clear Outputs of All Cells")
        prompts = self.prompts()
        assert prompts and not any(re.search(r"\d", p) for p in prompts), f"outputs not cleared: {prompts[:5]}"
        assert not self.outputs().strip(), "stored outputs still shown after clearing"
        self.menu("Run", "Run All Cells")
        self.wait_all_executed(timeout)

    def prompts(self) -> list[str]:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt"
                                 ).all_text_contents()  # not innerText: Lab does not lay out off-screen cells

    def wait_all_executed(self, timeout: float) -> None:
        """Wait until every code cell has run; meanwhile record the progress-bar widgets seen (the chapters'
        bars close when done, so they are visible only while a loop runs) and any widget that failed. An error
        output ends the wait at once: Run All stops at a failing cell, so the cells after it would never run and
        the wait would last the whole timeout (the test fails on that output either way, see _assert_clean)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.bars_seen = max(self.bars_seen, self.page.evaluate("window.__progressBars || 0"))
            text = self.outputs()
            if self.page.evaluate("window.__widgetErrors || 0") or "Error displaying widget" in text:
                raise AssertionError("a widget failed to render: 'Error displaying widget'")
            if "Traceback" in text:
                at = max(0, text.index("Traceback") - 500)
                raise AssertionError(f"an error output while the cells ran:\n{text[at:][:2000]}")
            prompts = self.prompts()
            if prompts and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts):
                self.wait_kernel_idle()
                return
            time.sleep(1)
        raise AssertionError(f"cells still running or never run after {timeout:.0f} s: {self.prompts()}")

    def outputs(self) -> str:
        return "\n".join(self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output"
                                           ).all_text_contents())

    def cell_output(self, contains: str) -> str:
        cell = self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell",
                                 has=self.page.locator(".jp-InputArea", has_text=contains)).first
        return cell.locator(".jp-OutputArea").text_content()

    def rerun_cell(self, contains: str, timeout: float = 120) -> str:
        page = self.page
        cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell",
                            has=page.locator(".jp-InputArea", has_text=contains)).first
        before = cell.locator(".jp-InputPrompt").text_content().strip()
        cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = cell.locator(".jp-InputPrompt").text_content().strip()
            if re.fullmatch(r"\[\d+\]:", now) and now != before:
                return cell.locator(".jp-OutputArea").text_content()
            time.sleep(0.5)
        raise AssertionError(f"the cell with {contains!r} did not run again within {timeout:.0f} s")

    def images(self) -> int:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea .jp-RenderedImage img"
                                 ).count()


def _assert_clean(learner: Learner, notebook: str) -> str:
    text = learner.outputs()
    assert "Traceback" not in text, f"{notebook}: an error output:\n{text[max(0, text.index('Traceback') - 500):][:2000]}"
    assert "Error displaying widget" not in text, f"{notebook}: a widget failed to render"
    assert learner.images() > 0, f"{notebook}: no plot rendered as an image"
    return text


def test_a_learner_in_jupyterlab(tmp_path):
    assert sync_playwright is not None and CHROMIUM is not None, (
        "MOLPRACTICE_REQUIRE_ROOM=1 but playwright or Chromium is missing")
    shots = Path(os.environ.get("MOLPRACTICE_ARTIFACTS") or tmp_path / "screenshots") / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    repo = copy_checkout(REPO, tmp_path / "repo")
    stub = (repo / EXERCISE).read_text()
    token = "molpractice-browser-test"
    proc, base, log = start_lab(repo, tmp_path, token, via_env_sh=False, env={
        "MOLPRACTICE_FAST": "1", "MOLPRACTICE_IMPL": "exercises", "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                learner = Learner(page, base, token, shots)
                learner.open_lab()
                # 1. a correct answer, written in Lab's editor
                learner.edit_file("exercises", "ch00_start_here.py", _with_body(stub, CORRECT))
                learner.shot("exercise_correct_saved")
                assert CORRECT in (repo / EXERCISE).read_text(), "Lab's editor did not save the exercise"

                # 2. the start notebook from the file browser, run all
                learner.open_notebook("notebooks", "00_start_here.ipynb")
                learner.shot("start_notebook_open")
                learner.run_all()
                learner.shot("start_notebook_ran")
                _assert_clean(learner, "00_start_here")
                verdict = learner.cell_output('mp.check("0.1")')
                assert "✅" in verdict, f"the check cell did not pass: {verdict!r}"

                # 3. a wrong answer: the check names the fix
                learner.edit_file("exercises", "ch00_start_here.py", _with_body(stub, WRONG))
                learner.shot("exercise_wrong_saved")
                assert WRONG in (repo / EXERCISE).read_text(), "Lab's editor did not save the exercise"
                learner.switch_to("00_start_here.ipynb")
                verdict = learner.rerun_cell('mp.check("0.1")')
                learner.shot("check_failed")
                assert "❌" in verdict and "minimum" in verdict, f"expected ❌ naming the fix, got {verdict!r}"

                # 4. a heavier chapter in fast mode: progress bars as widgets, plots
                learner.open_notebook("notebooks", "04_diffusion_sampling_diagnostics.ipynb")
                learner.run_all(timeout=1200)
                learner.shot("diffusion_notebook_ran")
                _assert_clean(learner, "04_diffusion_sampling_diagnostics")
                assert learner.bars_seen > 0, "no progress bar rendered as a widget while notebook 04 ran"
            finally:
                browser.close()
    finally:
        assert stop(proc, base, token), "a process of the lab server's group was left running"
