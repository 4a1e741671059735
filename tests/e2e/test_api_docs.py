"""The API docs in the browser, offline: Swagger UI and ReDoc render the schema from files this
server serves (drf_spectacular_sidecar), and no request leaves for another host (a CDN, fonts, the
swagger.io validator). ReDoc's bundle does try one, the Redocly logo of its side menu: the page's
Content-Security-Policy has the browser refuse it before it leaves (config/docs.py)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser import ARTIFACTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture
def docs_page(request, browser, live_server):
    """A fresh browser context whose every request (from any page or worker) is recorded in
    ``page.requested`` from the first one on, and those the browser refused to send for the page's
    Content-Security-Policy in ``page.refused``; screenshots under test-artifacts/ on failure."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    refused: list[str] = []
    context.on("request", lambda req: requested.append(req.url))
    context.on("requestfailed", lambda req: refused.append(req.url) if "csp" in (req.failure or "").lower() else None)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.requested = requested
    page.refused = refused
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    if getattr(request.node, "report_call", None) and request.node.report_call.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def log_in(page, base_url: str, user, next_path: str) -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.locator("input[name=username]").fill(user.username)
    page.locator("input[name=password]").fill("pw-" + user.username)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(next_path) + "$"))


def foreign(urls: list[str]) -> list[str]:
    """The requests for a host other than this machine's loopback."""
    return [u for u in urls if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname not in LOCAL_HOSTS]


def test_swagger_ui_lists_operations_and_runs_one_without_leaving_the_server(docs_page, live_server, users, project):
    page = docs_page
    log_in(page, live_server.url, users["owner"], "/api/docs/")
    projects = page.locator('.opblock-get .opblock-summary-path[data-path="/api/projects/"]')
    expect(projects).to_be_visible()
    for path in ("/api/images/{image_id}/annotations", "/api/versions/{version_id}/export", "/api/jobs/{job_id}/"):
        expect(page.locator(f'.opblock-summary-path[data-path="{path}"]').first).to_be_visible()

    # "Try it out" runs with the browser's session: the owner sees their project.
    projects.click()
    operation = page.locator(".opblock.is-open")
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table")
    expect(live.locator("tbody .response-col_status").first).to_have_text("200")
    expect(live).to_contain_text(project.name)

    page.wait_for_load_state("networkidle")
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle" in u for u in page.requested)
    assert any(urlsplit(u).path == "/api/schema/" for u in page.requested)
    assert not foreign(page.requested), foreign(page.requested)
    assert not page.errors, page.errors


def test_redoc_lists_operations_without_leaving_the_server(docs_page, live_server, users):
    page = docs_page
    log_in(page, live_server.url, users["viewer"], "/api/redoc/")
    expect(page.get_by_text("Lensforge API", exact=False).first).to_be_visible()
    expect(page.get_by_text("/api/projects/{project_id}/health", exact=True).first).to_be_attached()
    page.wait_for_load_state("networkidle")
    assert any("/static/drf_spectacular_sidecar/redoc/" in u for u in page.requested)
    sent = [u for u in foreign(page.requested) if u not in page.refused]
    assert not sent, sent
    assert not page.errors, page.errors
