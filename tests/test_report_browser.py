"""The HTML report in a real headless browser: Debian's chromium, driven by Playwright.

Needs the Debian package ``chromium`` (/usr/bin/chromium; ``apt-get install chromium``, done by
ci/install-deps.sh) and the PyPI package ``playwright`` (in the test extra; Playwright's own
browser downloads are not used). Without them these tests skip, unless
``MEMIF_REQUIRE_BROWSER=1`` (set by .ci/run) makes that a failure. The screenshot is written
to ``MEMIF_SCREENSHOTS`` (a directory) when set, else to the test's tmp_path.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memif_harness.conformance import catalogue
from memif_harness.report import diff
from memif_harness.report.html import write_html

from .test_report_views import sample

CHROMIUM = os.environ.get("MEMIF_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"no chromium at {CHROMIUM}: apt-get install chromium (Debian package chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the PyPI package playwright is not installed: pip install -e '.[test]'"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    why = _missing()
    if why:
        if os.environ.get("MEMIF_REQUIRE_BROWSER") == "1":
            pytest.fail(f"MEMIF_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # root in CI: chromium's sandbox needs user namespaces we may not have
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[tuple[Any, list[str], list[str]]]:
    """The sample report's page, marked against a baseline where its failing test passed;
    (page, console errors, URLs requested)."""
    new = sample(tmp_path)
    base = sample()
    failing = next(r for r in base["results"] if r["outcome"] == "failed")
    failing.update(outcome="passed", message=None)
    path = write_html(new, tmp_path / "interop.html", changes=diff(base, new))
    pg = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(path.as_uri())
    pg.wait_for_load_state("load")
    yield pg, errors, requests
    pg.close()


def test_page_loads_without_errors_or_network(page: tuple[Any, list[str], list[str]]) -> None:
    pg, errors, requests = page
    assert errors == []
    assert all(u.startswith("file://") for u in requests), requests
    assert len(requests) == 1  # the page itself: CSS, JS and SVG are inline
    ids = pg.eval_on_selector_all("tr.row th.id", "els => els.map(e => e.textContent)")
    assert [s.id for s in catalogue.scenarios()] == ids[: len(catalogue.scenarios())]


def test_failing_cell_expands_and_screenshot(
    page: tuple[Any, list[str], list[str]], tmp_path: Path
) -> None:
    pg, errors, _ = page
    cell = pg.locator("td.cell.failed").first
    detail = pg.locator(f"#{cell.get_attribute('data-detail')}")
    assert detail.is_hidden()
    cell.click()
    assert detail.is_visible()
    assert cell.get_attribute("aria-expanded") == "true"
    text = detail.inner_text()
    assert "AssertionError: no HELLO" in text
    assert "decided by: test_x.py:12: assert hello is not None" in text
    assert "artifacts/h1/sent.pcap" in text
    assert "▼ regressed since the baseline (was passed)" in text
    assert "since the baseline: 1 regressions" in pg.inner_text("div.changes")
    out = Path(os.environ.get("MEMIF_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "interop-report.png"
    pg.screenshot(path=str(shot), full_page=False)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000  # a rendered page, not a blank one
    cell.press("Enter")  # the keyboard closes it again
    assert detail.is_hidden()
    assert errors == []


def test_filters_hide_rows(page: tuple[Any, list[str], list[str]]) -> None:
    pg, errors, _ = page

    def shown() -> list[str]:
        return list(pg.eval_on_selector_all(
            "tr.row:not([hidden]) th.id", "els => els.map(e => e.textContent)"
        ))

    assert "Z5" in shown()  # a gap row, shown while "no test" is ticked
    pg.uncheck("input[value=none]")
    assert "Z5" not in shown()
    pg.uncheck("input[value=passed]")
    # rows left: those with a failed, error, skipped or xfailed cell
    assert shown() == ["H1", "D1", "D2"]
    pg.select_option("#family", "D")
    assert shown() == ["D1", "D2"]
    pg.select_option("#family", "tests")
    assert shown() == []  # the docker test passed, and passed is unticked
    pg.check("input[value=passed]")
    assert shown() == ["test_docker_pair"]
    assert errors == []
