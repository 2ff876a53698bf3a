"""The status page in a real browser (Chromium through Playwright) on the live stack, after
files were dropped: what it shows matches the ledger, markup stays text, the chart draws,
and the page fits an 800 px window and a phone."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from batch_core.states import RunState
from tests.core.pipeline_helpers import CSV_HEADER
from tests.statuspage.conftest import Site

if TYPE_CHECKING:  # playwright is imported by the fixture, which skips when it is absent
    from playwright.sync_api import Dialog

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.e2e]

MARKUP = "<img src=x onerror=alert(1)>"
TIMEOUT_SECONDS = 180


def wait_until_nothing_is_active(site: Site, expected: int) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        runs = [r for r in site.pipeline.ledger.recent(5000) if r.name.startswith(site.prefix)]
        ended = len(runs) >= expected and all(r.state.terminal for r in runs)
        if ended and not site.pipeline.ledger.active():
            return
        time.sleep(1)
    raise AssertionError(f"runs under {site.prefix} did not all end: {runs}")


def overflows(page: Any) -> bool:
    return bool(
        page.evaluate(
            "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
    )


def test_the_status_page_shows_the_ledger_safely_and_fits_the_screen(
    site: Site, browser: Any, artifacts: Path
) -> None:
    # Given a good CSV and a file of no known type, named with markup, dropped into incoming
    p = site.pipeline
    incoming = p.settings.container_incoming
    p.blobs.upload(
        incoming, f"{site.prefix}/good.csv", CSV_HEADER + b"1,06001,US,A,CT,41.7,-72.6\n"
    )
    p.blobs.upload(incoming, f"{site.prefix}/{MARKUP}.txt", b"whatever")
    # and a failed run whose reason carries markup, as a worker's last stderr line may
    failed = site.write_run(
        "broken.csv",
        RunState.FAILED,
        f"worker crashed (exit 1) ({MARKUP}<script>alert(2)</script>) after 2 attempts; "
        "quarantined in failed",
        attempt=2,
    )
    wait_until_nothing_is_active(site, 3)
    expected = Counter(r.state.value for r in p.ledger.recent(5000))

    # When an operator opens the page in an 800 px wide window
    page = browser.new_page(viewport={"width": 800, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    def refuse(dialog: Dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", refuse)
    response = page.goto(site.stack.status_page)
    assert response is not None and response.status == 200
    page.wait_for_selector("#chart canvas")

    # Then the counts are the ledger's
    shown = {
        li.get_attribute("data-state"): int(li.locator(".n").inner_text())
        for li in page.locator("li.count").all()
    }
    assert shown == {s.value: expected.get(s.value, 0) for s in RunState}

    # and the failed run is listed with its reason, markup shown as text, and where to look
    row = page.locator(f"tr[data-key='{failed.key}']")
    assert row.locator(".reason").inner_text() == failed.reason
    looks = row.locator("code").all_inner_texts()
    assert any(t.startswith("failed/") and t.endswith(f"/{failed.key}/") for t in looks)
    assert any(t.endswith(f"/{failed.key}/attempt-2/") for t in looks)
    rejected = page.locator("tr.problem.state-rejected", has_text=f"{site.prefix}/{MARKUP}.txt")
    assert rejected.count() == 1 and "no route" in rejected.locator(".reason").inner_text()
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0

    # and the chart drew
    box = page.locator("#chart canvas").first.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0

    # and nothing went wrong, nothing sticks out sideways
    page.screenshot(path=str(artifacts / "status-page-800.png"), full_page=True)
    assert problems == []
    assert not overflows(page)

    # and on a phone too
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)  # the chart follows the resize
    page.screenshot(path=str(artifacts / "status-page-phone.png"), full_page=True)
    assert not overflows(page)
    assert problems == []
    page.close()
