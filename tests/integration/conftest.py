"""A real Tansu broker and a real redis-server for the session, on free ports.

Each test gets its own topics, consumer group (app id) and Redis prefix, so
tests never see each other's data while sharing the two servers.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from callboard import services
from tests.integration.helpers import Stack


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("service-logs")


@pytest.fixture(scope="session")
def broker_url(logs_dir) -> Iterator[str]:
    port = services.free_port()
    proc = services.start_broker(port, logs_dir / "broker.log")
    yield f"kafka://127.0.0.1:{port}"
    services.stop(proc)


@pytest.fixture(scope="session")
def redis_url(logs_dir) -> Iterator[str]:
    port = services.free_port()
    proc = services.start_redis(port, logs_dir / "redis", logs_dir / "redis.log")
    yield f"redis://127.0.0.1:{port}/0"
    services.stop(proc)


@pytest.fixture
def stack(broker_url, redis_url, logs_dir) -> Iterator[Stack]:
    s = Stack(broker_url, redis_url, logs_dir)
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium (Debian's chromium + chromedriver), one per test module."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1600,900",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    yield driver
    driver.quit()
