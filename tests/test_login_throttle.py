"""Failed logins are throttled per username and per client address, on the API and the login page."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from config.login import FailedLoginThrottle

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"
PAGE = "/accounts/login/"


def token(username: str, password: str, address: str = "127.0.0.1"):
    return APIClient().post(TOKEN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_guessing_a_password_on_the_api_is_answered_429(users):
    codes = [token("viewer", f"guess-{i}").status_code for i in range(40)]
    assert codes == [400] * 10 + [429] * 30
    response = token("viewer", "pw-viewer")  # even the right password, until the window passes
    assert response.status_code == 429 and "Too many failed logins" in response.json()["detail"]
    assert int(response["Retry-After"]) > 0
    # Someone else, elsewhere, is not affected.
    assert token("annotator", "pw-annotator", address="10.0.0.2").status_code == 200


def test_one_address_trying_many_usernames_is_throttled_but_not_others(users):
    codes = [token(f"nobody-{i}", "x").status_code for i in range(31)]
    assert codes == [400] * 30 + [429]
    assert token("viewer", "pw-viewer").status_code == 429  # from that address
    assert token("viewer", "pw-viewer", address="10.0.0.3").status_code == 200
    assert token("viewer", "pw-viewer", address="2001:db8::1").status_code == 200


def test_guesses_spread_over_addresses_are_counted_per_username(users):
    codes = [token("viewer", "x", address=f"10.1.0.{i}").status_code for i in range(11)]
    assert codes == [400] * 10 + [429]
    assert token("annotator", "pw-annotator", address="10.1.0.1").status_code == 200


def test_successful_logins_are_not_counted(users):
    assert all(token("viewer", "pw-viewer").status_code == 200 for _ in range(40))


def test_the_rate_is_a_window(users, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(FailedLoginThrottle, "timer", lambda self: clock[0])
    for _ in range(10):
        assert token("viewer", "x").status_code == 400
    assert token("viewer", "pw-viewer").status_code == 429
    clock[0] += 61
    assert token("viewer", "pw-viewer").status_code == 200


def test_the_login_page_is_throttled_too(client, users):
    for _ in range(10):
        response = client.post(PAGE, {"username": "viewer", "password": "wrong"})
        assert response.status_code == 200 and "did not match" in response.content.decode()
    response = client.post(PAGE, {"username": "viewer", "password": "pw-viewer"})
    assert response.status_code == 429 and "Retry-After" in response
    page = response.content.decode()
    assert "Too many failed logins" in page and 'name="username"' in page
    assert "_auth_user_id" not in client.session  # not logged in
    # The API counts the same failures.
    assert token("viewer", "pw-viewer").status_code == 429
    other = client.post(PAGE, {"username": "annotator", "password": "pw-annotator"}, REMOTE_ADDR="10.0.0.4")
    assert other.status_code == 302


def test_the_admin_login_page_is_throttled_too(client, users):
    users["owner"].__class__.objects.create_superuser("root", "root@example.com", "pw-root")
    for _ in range(10):
        response = client.post("/admin/login/", {"username": "root", "password": "wrong"})
        assert response.status_code == 200 and "correct username and password" in response.content.decode()
    response = client.post("/admin/login/", {"username": "root", "password": "pw-root"})
    assert response.status_code == 429 and "Retry-After" in response
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert token("root", "pw-root").status_code == 429  # the same count as the API's
    # Someone else, elsewhere, logs in and lands on the page asked for.
    other = users["owner"].__class__.objects.create_superuser("ops", "ops@example.com", "pw-ops")
    response = client.post("/admin/login/?next=/admin/jobs/job/", {"username": "ops", "password": "pw-ops"},
                           REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 302 and response["Location"] == "/admin/jobs/job/"
    assert client.session["_auth_user_id"] == str(other.pk)
    client.logout()
    # Not staff: the admin's own form still refuses.
    response = client.post("/admin/login/", {"username": "viewer", "password": "pw-viewer"}, REMOTE_ADDR="10.0.0.8")
    assert response.status_code == 200 and "staff account" in response.content.decode()
    assert client.get("/admin/login/").status_code == 200
