"""The configuration reference names every setting there is."""

from pathlib import Path

from base.config import QueueConfig, Settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


def test_every_setting_is_documented():
    missing = [name for name in Settings.model_fields if f"`{name}`" not in DOC]
    assert missing == []


def test_every_queue_key_is_documented():
    missing = [name for name in QueueConfig.model_fields if f"`{name}`" not in DOC]
    assert missing == []


KPIS = (Path(__file__).resolve().parents[2] / "docs" / "kpis.md").read_text()


def test_every_kpi_and_report_key_is_documented():
    from core.catalog import CATALOG
    from core.report import ROW_KEYS

    assert [k.key for k in CATALOG if f"`{k.key}`" not in KPIS] == []
    assert [k for k in ROW_KEYS if f"`{k}`" not in KPIS] == []
    assert [k.code for k in CATALOG if f"line {k.line}" not in KPIS] == []


ARCHITECTURE = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
_PRODUCTION = ("core", "base", "streams", "wallboard", "producers", "alerts", "review",
               "callboard")


def test_the_map_names_every_production_module():
    import re

    root = Path(__file__).resolve().parents[2]
    modules = sorted(path.relative_to(root) for folder in _PRODUCTION
                     for path in (root / folder).rglob("*.py") if path.stem != "__init__")
    assert len(modules) > 50  # the folders were found
    missing = [str(m) for m in modules
               if not re.search(rf"(?<![\w/]){re.escape(m.stem)}(?![\w])", ARCHITECTURE)]
    assert missing == []


def test_the_broker_doc_names_only_settings_that_exist():
    import re

    broker = (Path(__file__).resolve().parents[2] / "docs" / "broker.md").read_text()
    named = set(re.findall(r"`((?:local|broker|checkpoint|archive)_[a-z0-9_]+)`", broker))
    assert named  # the doc does name settings
    assert sorted(n for n in named if n not in Settings.model_fields) == []
