"""The run page's robustness section in a browser: the owner picks a file and starts a report, the
page follows its job and draws the table (one row per device profile, five severities) and the
plot from the API without a reload; a viewer sees the reports but no form."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from augment.profiles import PROFILES
from training.models import RobustnessReport

from .test_robustness import colour_version, finished_run  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_owner_starts_a_report_and_sees_its_table_and_plot(pages, users, finished_run):  # noqa: F811
    run = finished_run
    page = pages.open(users["owner"], f"/training-runs/{run.pk}/", ready=False)
    section = page.get_by_test_id("robustness")
    expect(section.locator(".empty")).to_have_text("No robustness report yet.")
    section.locator("select[name=variant]").select_option("onnx-float32")
    section.locator("input[name=seed]").fill("3")
    section.get_by_role("button", name="Measure robustness").click()

    report = section.locator("article.robustness-report[data-status=succeeded]")
    expect(report).to_have_count(1, timeout=120_000)
    stored = RobustnessReport.objects.get()
    assert stored.variant == "onnx-float32" and stored.seed == 3 and stored.clean == 1.0
    expect(report.locator("tbody tr")).to_have_count(len(PROFILES))
    expect(report.locator("thead th")).to_have_count(1 + 5 + 2)  # profile, severities 1-5, mean, relative error
    row = report.locator("tr[data-profile=indoor-tungsten] td")
    shown = [float(row.nth(i).inner_text()) for i in range(1, 6)]
    assert shown == pytest.approx(stored.results["indoor-tungsten"], abs=5e-4)
    expect(section.locator(".robustness-message")).to_have_text("Done.")
    page.wait_for_function(
        "() => { const img = document.querySelector('article.robustness-report figure img');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )
    assert page.errors == []

    viewer = pages.open(users["viewer"], f"/training-runs/{run.pk}/", ready=False)
    expect(viewer.get_by_test_id("robustness-reports").locator("tbody tr")).to_have_count(len(PROFILES))
    expect(viewer.get_by_test_id("robustness-form")).to_have_count(0)
    assert viewer.errors == []
