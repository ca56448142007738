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
