"""The OpenAPI schema builds without a single drf-spectacular warning, validates, and says what the
API answers; the docs pages load nothing from another host (the browser check is
tests/e2e/test_api_docs.py)."""

from __future__ import annotations

import re

import pytest
import yaml
from django.core.management import call_command
from django.test import Client


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    # --fail-on-warn turns every warning and error of the generator (a serializer it cannot guess,
    # a queryset that fails without a user, an enum name collision...) into a failure.
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(path))
    return yaml.safe_load(path.read_text())


def _ref(schema: dict, path: str, method: str, code: str, content: str = "application/json") -> str:
    return schema["paths"][path][method]["responses"][code]["content"][content]["schema"]["$ref"].split("/")[-1]


def test_schema_builds_without_warnings_and_validates(schema):
    assert schema["openapi"].startswith("3.")
    assert {"/api/projects/", "/api/images/{image_id}/annotations", "/api/jobs/{job_id}/"} <= set(schema["paths"])


def test_every_body_and_answer_has_a_shape(schema):
    """No free-form ``object`` where a view answers a known dict (health, split, preview...)."""
    untyped = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                for media in response.get("content", {}).values():
                    shape = media.get("schema", {})
                    if shape.get("type") == "object" and "properties" not in shape:
                        untyped.append(f"{method.upper()} {path} {code}")
    assert not untyped, untyped


def test_answers_are_the_real_shapes(schema):
    components = schema["components"]["schemas"]
    annotations = "/api/images/{image_id}/annotations"
    assert _ref(schema, annotations, "get", "200") == "ImageAnnotations"
    assert {"image", "revision", "annotations"} <= set(components["ImageAnnotations"]["properties"])
    assert _ref(schema, annotations, "put", "412") == "StaleRevision"
    assert _ref(schema, "/api/projects/{project_id}/split", "post", "200") == "SplitResult"
    assert _ref(schema, "/api/projects/{project_id}/health", "get", "200") == "Health"
    assert _ref(schema, "/api/projects/{project_id}/versions/", "post", "202") == "VersionJob"
    assert _ref(schema, "/api/jobs/{job_id}/cancel", "post", "202") == "Job"
    assert _ref(schema, "/api/jobs/{job_id}/cancel", "post", "409") == "Error"
    export = schema["paths"]["/api/versions/{version_id}/export"]["get"]["responses"]
    assert "application/zip" in export["200"]["content"] and "application/zip" in export["206"]["content"]
    # The choice sets that several models share a field name for each have their own enum.
    assert components["JobStatusEnum"]["enum"] != components["ImageStatusEnum"]["enum"]
    assert set(components["AnnotationKindEnum"]["enum"]) == {"tag", "box", "polygon", "mask", "keypoints"}


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_only_local_files(url):
    response = Client().get(url)
    assert response.status_code == 200
    # What the bundles would fetch from elsewhere (ReDoc's Redocly logo) the browser refuses.
    assert "img-src 'self' data:" in response["Content-Security-Policy"]
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/drf_spectacular_sidecar/") for a in assets), assets
    assert "https://" not in html and "http://" not in html
