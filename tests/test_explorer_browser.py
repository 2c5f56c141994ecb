"""The explorer in a real browser: Debian's headless Chromium, driven by Playwright.

One browser for the module; each test opens the saved page (or a notebook-like
host page) and reads the DOM, clicks and types as a learner would. Without
Chromium these tests skip with the install command; with CI set they fail.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from microgrid import Value, explore, gradients

CHROMIUM = "/usr/bin/chromium"
INSTALL = "sudo apt-get install chromium chromium-driver (or, as root: make chromium)"
# as root on a closed network: no sandbox, no GPU, and nothing that phones home
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; in CI the browser tests must run: {INSTALL}")
    pytest.skip(f"{reason}: {INSTALL}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the Python package playwright is missing (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        # launch() starts Chromium headless with a fresh, temporary --user-data-dir
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


def neuron() -> tuple[Value, Value, Value, Value, Value]:
    """tanh(w*x + b) at x = 0.5, w = -2, b = 1.5, with n = w*x + b; backward() run."""
    x, w, b = Value(0.5, "x"), Value(-2.0, "w"), Value(1.5, "b")
    n = w * x + b
    n.label = "n"
    out = n.tanh()
    out.backward()
    return x, w, b, n, out


@pytest.fixture(scope="module")
def page_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    *_, out = neuron()
    return explore(out).save(tmp_path_factory.mktemp("explorer") / "backprop.html")


@pytest.fixture()
def page(browser: Any, page_path: Path) -> Iterator[Any]:
    """The saved page, opened; every request the page makes is recorded in ``page.requested``."""
    context = browser.new_context(viewport={"width": 1100, "height": 700})
    page = context.new_page()
    page.requested = []  # type: ignore[attr-defined]
    page.on("request", lambda request: page.requested.append(request.url))  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_path.as_uri())
    page.wait_for_selector(".mg-explorer")
    yield page
    assert errors == [], errors
    context.close()


def records(page: Any) -> dict[str, list[str]]:
    """Name -> the texts of each named record in the drawing, as the page shows them now."""
    found = page.eval_on_selector_all(
        ".mg-graph g.node", "gs => gs.map(g => Array.from(g.querySelectorAll('text'), t => t.textContent))"
    )
    return {texts[0]: texts[1:] for texts in found if len(texts) == 3}


def step(page: Any) -> int:
    return int(page.get_attribute(".mg-explorer", "data-step"))


def caption(page: Any) -> list[str]:
    return page.eval_on_selector_all(".mg-caption div", "ds => ds.map(d => d.textContent)")


def test_the_first_step_is_the_seed_and_the_last_has_every_gradient(page: Any) -> None:
    x, w, b, n, out = neuron()
    assert step(page) == 0
    assert caption(page)[0].startswith("backward: d out/d out = 1, the seed")
    assert page.inner_text(".mg-counter") == "step 1 of 4, backward pass"
    shown = records(page)
    assert shown["out"] == [f"data {math.tanh(0.5):.4g}", "grad 1"]
    assert {name: texts[1] for name, texts in shown.items() if name != "out"} == dict.fromkeys(
        ["x", "w", "b", "n", "n1"], "grad ?"
    )
    page.click("button[title^='last step']")
    assert step(page) == 3
    shown = records(page)
    for name, v in {"x": x, "w": w, "b": b, "n": n, "out": out}.items():
        assert shown[name][1] == f"grad {v.grad:.4g}"  # the engine's own gradients
    assert page.eval_on_selector(".mg-graph", "g => g.querySelectorAll('text.mg-pending').length") == 0


NUMBER = r"(-?[\d.]+(?:e[+-]\d+)?)"
PRODUCT = re.compile(rf"d out/d (\S+) \+?= d out/d (\S+) · d \S+/d \S+ = {NUMBER} · {NUMBER} = {NUMBER}")


def test_each_steps_caption_states_the_engines_numbers(page: Any) -> None:
    x, w, b, n, out = neuron()
    named = {"x": x, "w": w, "b": b, "n": n, "out": out, "n1": n.children[0]}
    final = gradients(out)
    checked = []
    for k in range(1, 4):
        page.click("button[title^='step forward']")
        assert step(page) == k
        for line in caption(page)[1:]:
            target, via, upstream, local, product = PRODUCT.fullmatch(line).groups()  # type: ignore[union-attr]
            assert float(upstream) == pytest.approx(final[named[via]], rel=5e-4)
            assert float(upstream) * float(local) == pytest.approx(float(product), rel=1e-3)
            assert float(product) == pytest.approx(named[target].grad, rel=5e-4)  # each node used once here
            checked.append(target)
    assert sorted(checked) == ["b", "n", "n1", "w", "x"]


def test_arrow_keys_home_end_and_space_step_through(page: Any) -> None:
    page.focus(".mg-explorer")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert step(page) == 2
    page.keyboard.press("ArrowLeft")
    assert step(page) == 1
    page.keyboard.press("End")
    assert step(page) == 3
    page.keyboard.press("ArrowRight")  # past the end: stays
    assert step(page) == 3
    page.keyboard.press("Home")
    assert step(page) == 0
    page.keyboard.press(" ")  # play: one step at once, then one a second
    assert step(page) == 1 and page.inner_text(".mg-play") == "⏸ pause"
    page.keyboard.press(" ")
    assert page.inner_text(".mg-play") == "▶ play"
    page.fill(".mg-slider", "2")
    assert step(page) == 2


def test_clicking_a_node_shows_its_details(page: Any) -> None:
    x, w, b, n, out = neuron()
    page.click(".mg-graph g.node:has(text:text-is('w'))")
    rows = dict(
        page.eval_on_selector_all(
            ".mg-details tr", "rs => rs.map(r => [r.cells[0].textContent, r.cells[1].textContent])"
        )
    )
    assert page.inner_text(".mg-details .mg-title") == "w"
    assert rows["data"] == "-2.0" and rows["role"] == "input"
    assert rows["gradient"].startswith("pending")
    page.keyboard.press("End")
    rows = dict(
        page.eval_on_selector_all(
            ".mg-details tr", "rs => rs.map(r => [r.cells[0].textContent, r.cells[1].textContent])"
        )
    )
    assert rows["gradient"] == f"{w.grad!r}  (final)"
    page.click(".mg-graph g.node:has(text:text-is('n'))")  # an operation: its rule's local derivatives
    rows = dict(
        page.eval_on_selector_all(
            ".mg-details tr", "rs => rs.map(r => [r.cells[0].textContent, r.cells[1].textContent])"
        )
    )
    assert rows["operation"].startswith("n = n1 + b")
    assert rows["local derivatives"] == "d n/d n1 = 1.0\nd n/d b = 1.0"


def test_the_page_makes_no_network_request(page: Any, page_path: Path) -> None:
    page.keyboard.press("End")
    page.click(".mg-graph g.node:has(text:text-is('x'))")
    assert page.requested == [page_path.as_uri()]  # the page itself, nothing else


def test_a_hostile_label_stays_text(browser: Any, tmp_path: Path) -> None:
    x = Value(1.0, '</script><img src="http://example.invalid/x.png" onerror="alert(1)">')
    path = explore(x * 2.0).save(tmp_path / "hostile.html")
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_selector(".mg-explorer")
    assert requested == [path.as_uri()]
    assert page.eval_on_selector_all(".mg-explorer img", "imgs => imgs.length") == 0
    assert x.label in page.eval_on_selector_all(".mg-graph text", "ts => ts.map(t => t.textContent)")
    page.close()


def test_a_screenshot_of_a_step(page: Any, tmp_path: Path) -> None:
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.click(".mg-graph g.node:has(text:text-is('n'))")
    path = Path(os.environ.get("MICROGRID_SCREENSHOT", tmp_path / "step.png"))
    page.screenshot(path=str(path), full_page=True)
    header = path.read_bytes()[:24]
    assert header.startswith(b"\x89PNG") and int.from_bytes(header[16:20], "big") >= 800


def test_where_scripts_do_not_run_the_still_frames_show(browser: Any, page_path: Path) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(page_path.as_uri())
    assert page.query_selector(".mg-explorer") is None
    captions = page.eval_on_selector_all(".mg-fallback figcaption", "cs => cs.map(c => c.textContent)")
    assert [c.split(":")[0] for c in captions] == ["step 1 of 4", "step 2 of 4", "step 3 of 4", "step 4 of 4"]
    assert page.eval_on_selector_all(".mg-fallback svg", "svgs => svgs.length") == 4
    context.close()


# How the two notebooks run a script in an HTML output: JupyterLab sets innerHTML, then
# replaces each <script> by a fresh copy in place; classic Notebook (jQuery's .html())
# inserts the HTML, then evaluates each script's text globally, from outside the output.
NOTEBOOKS = {
    "JupyterLab": """(html) => { const out = document.createElement('div'); document.body.appendChild(out);
        out.innerHTML = html;
        out.querySelectorAll('script').forEach(old => { const s = document.createElement('script');
            s.textContent = old.textContent; old.parentNode.replaceChild(s, old); }); }""",
    "classic Notebook": """(html) => { const out = document.createElement('div'); document.body.appendChild(out);
        out.innerHTML = html;
        out.querySelectorAll('script').forEach(old => { const s = document.createElement('script');
            s.textContent = old.textContent; document.head.appendChild(s); document.head.removeChild(s); }); }""",
}


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS))
def test_two_explorers_work_in_one_notebook(browser: Any, notebook: str) -> None:
    *_, out = neuron()
    explorer = explore(out)
    page = browser.new_page()
    page.set_content("<html><body></body></html>")
    for _ in range(2):  # two outputs of one graph: each finds its own place
        page.evaluate(NOTEBOOKS[notebook], explorer._repr_html_())
    assert page.eval_on_selector_all(".mg-explorer", "es => es.length") == 2
    assert page.eval_on_selector_all(".mg-fallback", "fs => fs.length") == 0
    page.locator(".mg-explorer").nth(1).focus()
    page.keyboard.press("End")
    steps = page.eval_on_selector_all(".mg-explorer", "es => es.map(e => e.dataset.step)")
    assert steps == ["0", "3"]
    page.close()
