"""Browser fixtures (a pytest plugin, loaded from the root conftest): Debian's Chromium driven by
Playwright against pytest-django's live server. One browser serves the whole session, whichever
app's tests ask for it (two Playwright instances cannot share a thread).

Playwright's sync API runs an event loop in the test thread, which makes Django refuse ORM
calls there unless told that this is fine (the live server runs in its own thread)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (make test installs Debian's chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def pages(request, browser, live_server):
    """``pages.open(user, url)`` → a logged-in page in its own browser context. On failure every
    page of the test is saved as a screenshot under test-artifacts/."""

    class Pages:
        def __init__(self):
            self.contexts = []
            self.all = []

        def open(self, user, path: str, *, ready: bool = True):
            client = Client()
            client.force_login(user)
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                  "url": live_server.url}]
            )
            self.contexts.append(context)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.errors = []
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            self.all.append(page)
            page.goto(live_server.url + path)
            if ready:
                page.wait_for_selector("#annotator[data-ready='1']")
            return page

    opened = Pages()
    yield opened
    failed = any(getattr(request.node, f"report_{w}", None) and getattr(request.node, f"report_{w}").failed
                 for w in ("setup", "call"))
    if failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)[-150:]
        for i, page in enumerate(opened.all):
            try:
                page.screenshot(path=str(ARTIFACTS / f"{name}-{i}.png"), full_page=True)
            except Exception as exc:  # a crashed page must not hide the test's own failure
                print(f"screenshot failed: {exc}")
    for context in opened.contexts:
        context.close()
