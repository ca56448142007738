"""Who may see what (issue #30 §1), on the real board server and Redis: the supervisor
page and its callbacks behind the sign-in, a viewer who may look and not act, a
supervisor who may act, the walls open to a kiosk."""

from __future__ import annotations

import re

import pytest
import requests
from werkzeug.security import generate_password_hash

from callboard import services
from tests.integration.helpers import open_alert, start_board

pytestmark = pytest.mark.integration


def _users(stack, tmp_path, extra: str = "") -> None:
    users = tmp_path / "users.toml"
    users.write_text(
        "[users]\n"
        f'lin = "{generate_password_hash("floor-pass")}"\n'  # before roles: a supervisor
        f'zhao = {{ password = "{generate_password_hash("look-only")}", role = "viewer" }}\n'
        f'qian = {{ password = "{generate_password_hash("run-it")}", role = "admin" }}\n'
        + extra)
    config = tmp_path / "centre.toml"
    config.write_text(f'[escalation]\nusers_file = "{users}"\n')
    stack.env["CALLBOARD_CONFIG"] = str(config)


def test_the_supervisor_page_and_its_callbacks_need_a_signed_in_user(stack, tmp_path):
    _users(stack, tmp_path)
    url, _ = start_board(stack)
    # Anonymous: the page, its layout and its callbacks (the data) are refused ...
    assert requests.get(f"{url}/supervisor/", timeout=10).status_code == 401
    assert requests.get(f"{url}/supervisor/_dash-layout", timeout=10).status_code == 401
    posted = requests.post(f"{url}/supervisor/_dash-update-component", json={
        "output": "sup-table.children", "outputs": {"id": "sup-table", "property": "children"},
        "inputs": [], "changedPropIds": []}, timeout=10)
    assert posted.status_code == 401 and b"GEN" not in posted.content
    # ... the walls are not.
    assert requests.get(f"{url}/board", timeout=10).status_code == 200
    assert requests.get(f"{url}/board/frame?wall=board", timeout=10).status_code == 200
    # Any signed-in role reads it.
    for user in (("zhao", "look-only"), ("lin", "floor-pass"), ("qian", "run-it")):
        assert requests.get(f"{url}/supervisor/", auth=user, timeout=10).status_code == 200
        assert requests.get(f"{url}/supervisor/_dash-layout", auth=user,
                            timeout=10).status_code == 200
    assert requests.get(f"{url}/supervisor/", auth=("zhao", "wrong"),
                        timeout=10).status_code == 401


def test_a_viewer_looks_and_a_supervisor_acts(stack, tmp_path):
    _users(stack, tmp_path)
    open_alert(stack)
    url, _ = start_board(stack)
    viewer = requests.get(f"{url}/console", auth=("zhao", "look-only"), timeout=10)
    assert viewer.status_code == 200 and "/console/ack/GEN" not in viewer.text
    acting = requests.Session()
    acting.auth = ("lin", "floor-pass")
    page = acting.get(f"{url}/console", timeout=10)
    assert "/console/ack/GEN" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    # The viewer's POST is refused for the role, whatever it carries.
    refused = requests.post(f"{url}/console/ack/GEN", auth=("zhao", "look-only"),
                            data={"csrf_token": token}, timeout=10)
    assert refused.status_code == 403 and "viewer" in refused.text
    done = acting.post(f"{url}/console/ack/GEN", data={"csrf_token": token}, timeout=10,
                       allow_redirects=False)
    assert done.status_code == 303
    # The replay page: the viewer sees the sessions, the admin the form that starts one.
    assert 'action="/replay/start' not in requests.get(
        f"{url}/replay", auth=("zhao", "look-only"), timeout=10).text
    assert 'action="/replay/start' in requests.get(
        f"{url}/replay", auth=("qian", "run-it"), timeout=10).text


def test_a_role_that_does_not_exist_stops_the_board_at_start(stack, tmp_path):
    _users(stack, tmp_path, f'boss = {{ password = "{generate_password_hash("x")}", '
                            'role = "boss" }\n')
    port = services.free_port()
    stack.env.update({"CALLBOARD_BOARD_PORT": str(port)})
    proc = stack.start("board", name="board-badrole")
    assert proc.wait(timeout=60) != 0
    log = stack.log_tail("board-badrole", 60)
    assert "users.boss" in log and "viewer, supervisor, admin" in log
