"""The board's Flask application answers probes as a web server should (no services:
the application is built but nothing is served or read)."""

from __future__ import annotations

import logging

from base.config import Settings
from wallboard.server import build


def test_an_unknown_script_path_is_a_404_not_a_500_with_a_traceback(caplog):
    client = build(Settings()).server.test_client()
    with caplog.at_level(logging.ERROR):
        for path in ("/_dash-component-suites/dash/nosuch.js",
                     "/supervisor/_dash-component-suites/dash/x.js",
                     "/_dash-component-suites/nosuchpackage/x.js"):
            answer = client.get(path)
            assert answer.status_code == 404 and answer.data == b"not found", path
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
