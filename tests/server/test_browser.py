"""The web page in a real headless Chromium (the OS package, driven by Playwright): ask through
the page, open a citation and see its span highlighted, audit the answer, check an answer,
draw a graph; screenshots at desktop and phone width go to $MEDKB_SCREENSHOTS (default: the
test's tmp dir)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from medkb_serving import serve_kb
from medkb_testutil import TINY_RECORDS, build_hash_kb

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-dev-shm-usage"]
QUESTION = "What is the first-line treatment for mild asthma?"


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium on PATH: .ci/run installs it (apt-get install chromium)")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    kb = build_hash_kb(tmp_path_factory.mktemp("browser"), TINY_RECORDS)
    with serve_kb(kb) as served:
        yield served


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("MEDKB_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_page(browser, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height},
                                  device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    # Nothing may be fetched from outside the server.
    page.route("**/*", lambda route: route.continue_()
               if route.request.url.startswith(("http://127.0.0.1", "data:"))
               else (errors.append(f"external fetch {route.request.url}"), route.abort()))
    return context, page, errors


def ask_through_the_page(page, url: str) -> None:
    page.goto(url + "/#ask")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("document.querySelector('#ask-backend').options.length > 0")
    page.fill("#ask-q", QUESTION)
    page.select_option("#ask-backend", "extractive")
    page.click("#ask-form button[type=submit]")
    page.wait_for_selector("#ask-out article.answer", timeout=120_000)


def test_ask_cite_audit_on_desktop(browser, server, shots):
    context, page, errors = new_page(browser, 1280, 900)
    ask_through_the_page(page, server.url)
    answer = page.inner_text("#ask-out .claims")
    assert "corticosteroids" in answer.lower()
    assert page.locator("#ask-out .checks .badge.pass").count() >= 1

    # A citation chip opens the passage with the cited span highlighted.
    page.locator("#ask-out .claim button.chip:not(.graph)").first.click()
    page.wait_for_selector("#source mark#cited-span")
    mark = page.inner_text("#source mark#cited-span")
    passage = page.inner_text("#source-text")
    assert mark.strip() and mark in passage and len(passage) > len(mark)
    assert "corticosteroids" in mark.lower()
    page.screenshot(path=str(shots / "answer-desktop.png"), full_page=False)

    # The audit view of the same generation.
    gen_id = page.inner_text("#ask-out code.gen-id")
    page.click("#ask-out a.audit-link")
    page.wait_for_selector("#audit-out .verification")
    verification = page.inner_text("#audit-out .verification")
    assert gen_id in verification
    assert "ledger intact" in verification
    assert page.url.endswith(f"#audit/{gen_id}")
    page.screenshot(path=str(shots / "audit-desktop.png"), full_page=True)
    assert not errors, errors
    context.close()


def test_check_and_graph(browser, server, shots):
    context, page, errors = new_page(browser, 1280, 900)
    page.goto(server.url + "/#check")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#check-q", "Which drug is first-line for type 2 diabetes?")
    page.fill("#check-a", "Metformin is the preferred initial drug for type 2 diabetes. "
                          "Albuterol cures diabetes.")
    page.click("#check-form button[type=submit]")
    page.wait_for_selector("#check-out article.answer")
    claims = page.locator("#check-out .claim")
    assert claims.count() == 2
    assert page.locator("#check-out .claim.unsupported").count() >= 1
    page.screenshot(path=str(shots / "check-desktop.png"), full_page=True)

    page.goto(server.url + "/#graph/asthma")
    page.wait_for_selector("#graph-out svg.graph-svg .node.centre")
    nodes = page.locator("#graph-out svg .node:not(.centre)")
    assert nodes.count() >= 3
    title = page.locator("#graph-out svg line.edge title").first.text_content()
    assert "asthma" in title.lower()
    page.screenshot(path=str(shots / "graph-desktop.png"), full_page=True)
    assert not errors, errors
    context.close()


def test_phone_width(browser, server, shots):
    context, page, errors = new_page(browser, 390, 844)
    ask_through_the_page(page, server.url)
    # Nothing wider than the screen.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    page.screenshot(path=str(shots / "answer-phone.png"), full_page=True)
    page.locator("#ask-out .claim button.chip:not(.graph)").first.click()
    page.wait_for_selector("#source mark#cited-span")
    box = page.locator("#source").bounding_box()
    assert box["width"] <= 390 and box["x"] >= 0
    page.screenshot(path=str(shots / "source-phone.png"), full_page=False)
    assert not errors, errors
    context.close()
