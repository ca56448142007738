"""Only the board's real pages are pages (issue #30 §6): Dash answered every path under
its base with the wall, so a probe of /healthz or /ack/..%2f.. got a 200 and a page."""

from __future__ import annotations

import pytest

from base.config import Settings
from wallboard.server import build


@pytest.fixture(scope="module")
def client():
    return build(Settings()).server.test_client()


@pytest.mark.parametrize("path", ["/board", "/board/", "/board/agents", "/supervisor/",
                                  "/assets/wall.js", "/_dash-layout", "/supervisor/_dash-layout"])
def test_the_walls_and_the_supervisor_page_are_served(client, path):
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/ack/..%2f..", "/board/a/b",
                                  "/supervisor/anything", "/wp-login.php"])
def test_any_other_path_is_not_found(client, path):
    answer = client.get(path)
    assert answer.status_code == 404
    assert b"callboard" not in answer.data  # not the board's page under another name


@pytest.mark.parametrize("name", ["a.b", "x" * 41, "../etc"])
def test_a_session_name_that_cannot_be_a_session_is_said_as_an_unknown_one(client, name):
    # Issue #30 §6: ?session=a.b showed live figures with no replay banner.
    import json

    answer = client.get("/board/frame", query_string={"session": name, "lang": "en"})
    assert answer.status_code == 200
    frame = json.loads(answer.data)
    banner = json.dumps(frame, ensure_ascii=False)
    assert f"no replay session {name[:40]}" in banner and "banner replay" in banner
    assert '"GEN-waiting"' not in banner  # no live tile under a replay's address
