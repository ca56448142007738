"""The console against guessing and other sites, on the real board server and Redis:
lockout after wrong passwords, the same cost for unknown users, and what it says
without a users file. (CSRF and Origin: test_escalation.py, on a live alert.)"""

from __future__ import annotations

import statistics
import time

import pytest
import requests

from tests.integration.helpers import open_alert, start_board, with_users

pytestmark = pytest.mark.integration


def test_wrong_passwords_lock_the_user_out_on_every_page_and_nobody_else(stack, tmp_path):
    with_users(stack, tmp_path, console_max_failures="3")
    url, _ = start_board(stack)
    console = f"{url}/console"
    assert requests.get(console, auth=("lin", "floor-pass"), timeout=10).status_code == 200
    for _ in range(3):
        assert requests.get(console, auth=("lin", "guess"), timeout=10).status_code == 401
    # Locked out: the right password is refused too, here and on every guarded page
    # (one counter, not one per page: 3 guesses in all, not 3 a page).
    assert requests.get(console, auth=("lin", "floor-pass"), timeout=10).status_code == 429
    assert requests.get(f"{url}/replay", auth=("lin", "floor-pass"), timeout=10).status_code == 429
    assert requests.get(f"{url}/displays", auth=("lin", "guess"), timeout=10).status_code == 429
    # Another user from the same address is not locked out by lin's guesses.
    assert requests.get(console, auth=("wang", "x"), timeout=10).status_code == 401


def test_anonymous_visits_never_lock_anyone_out(stack, tmp_path):
    with_users(stack, tmp_path, console_max_failures="3")
    url, _ = start_board(stack)
    for _ in range(12):  # a browser's first visit, or anyone's, comes without credentials
        first = requests.get(f"{url}/console", timeout=10)
        assert first.status_code == 401 and "Basic" in first.headers["WWW-Authenticate"]
    assert requests.get(f"{url}/console", auth=("lin", "floor-pass"), timeout=10).status_code == 200


def test_behind_a_trusted_proxy_each_client_address_has_its_own_lockout(stack, tmp_path):
    with_users(stack, tmp_path, console_max_failures="3")
    url, _ = start_board(stack, CALLBOARD_BOARD_TRUSTED_PROXIES="1")
    console = f"{url}/console"

    def get(address: str, password: str) -> int:
        return requests.get(console, auth=("lin", password), timeout=10,
                            headers={"X-Forwarded-For": address}).status_code

    for _ in range(3):
        assert get("203.0.113.7", "guess") == 401
    assert get("203.0.113.7", "floor-pass") == 429   # the guesser's address: locked
    assert get("198.51.100.2", "floor-pass") == 200  # lin at her desk: not


def test_every_answer_tells_the_browser_what_it_may_do(stack):
    url, _ = start_board(stack)
    console = requests.get(f"{url}/console", timeout=10)
    assert console.headers["X-Frame-Options"] == "DENY"
    assert console.headers["X-Content-Type-Options"] == "nosniff"
    assert console.headers["Referrer-Policy"] == "same-origin"
    wall = requests.get(f"{url}/board", timeout=10)  # a signage player may frame a wall
    assert "X-Frame-Options" not in wall.headers and wall.headers["X-Content-Type-Options"] == "nosniff"
    # Scripts from the board and its own inline ones (by hash) only: no 'unsafe-inline',
    # so a script slipped into a page would not run (the walls' Chromium tests run
    # under this policy).
    policy = dict(d.strip().split(" ", 1) for d in console.headers["Content-Security-Policy"]
                  .split(";"))
    assert policy["script-src"].startswith("'self' 'sha256-")
    assert "unsafe" not in policy["script-src"] and policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "frame-ancestors" not in wall.headers["Content-Security-Policy"]


def test_an_unknown_user_costs_a_password_check(stack, tmp_path):
    with_users(stack, tmp_path, console_max_failures="100")
    url, _ = start_board(stack)

    def median_s(name: str) -> float:
        took = []
        for _ in range(7):
            started = time.perf_counter()
            assert requests.get(f"{url}/console", auth=(name, "guess"),
                                timeout=10).status_code == 401
            took.append(time.perf_counter() - started)
        return statistics.median(took)

    known, unknown = median_s("lin"), median_s("nobody")
    # Before: ~145 ms against ~1 ms. Both now run one password hash; allow for noise.
    assert unknown > 0.4 * known, (known, unknown)


def test_without_a_users_file_the_console_says_acknowledging_is_off(stack):
    open_alert(stack)
    url, _ = start_board(stack)
    page = requests.get(f"{url}/console?lang=en", timeout=10)
    assert page.status_code == 200
    assert page.headers["Server"] == "callboard"  # waitress, not Flask's development server
    assert 'id="open-GEN"' in page.text and "no escalation.users_file is configured" in page.text
    assert "<button>" not in page.text
    refused = requests.post(f"{url}/console/ack/GEN", timeout=10)
    assert refused.status_code == 403 and "users_file" in refused.text
