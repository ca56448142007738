"""The configuration reference names every setting there is."""

from pathlib import Path

from callboard.config import QueueConfig, Settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


def test_every_setting_is_documented():
    missing = [name for name in Settings.model_fields if f"`{name}`" not in DOC]
    assert missing == []


def test_every_queue_key_is_documented():
    missing = [name for name in QueueConfig.model_fields if f"`{name}`" not in DOC]
    assert missing == []
