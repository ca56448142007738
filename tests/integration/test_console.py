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


def test_wrong_passwords_lock_the_user_and_the_address_out(stack, tmp_path):
    with_users(stack, tmp_path, console_max_failures="3")
    url, _ = start_board(stack)
    console = f"{url}/console"
    assert requests.get(console, auth=("lin", "floor-pass"), timeout=10).status_code == 200
    for _ in range(3):
        assert requests.get(console, auth=("lin", "guess"), timeout=10).status_code == 401
    # Locked out: the right password is refused too, for the user and the address.
    locked = requests.get(console, auth=("lin", "floor-pass"), timeout=10)
    assert locked.status_code == 429
    assert requests.get(console, auth=("someone", "x"), timeout=10).status_code == 429


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
    assert page.headers["Server"].startswith("gunicorn")  # not Flask's development server
    assert 'id="open-GEN"' in page.text and "no escalation.users_file is configured" in page.text
    assert "<button>" not in page.text
    refused = requests.post(f"{url}/console/ack/GEN", timeout=10)
    assert refused.status_code == 403 and "users_file" in refused.text
