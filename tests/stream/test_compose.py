"""docker-compose.yml: no Docker engine runs here, so the file is parsed and its wiring checked:
Apache Kafka in KRaft mode, a one-shot topic creation, two worker replicas, the review service,
healthchecks and depends_on conditions, and commands and settings that tripguard really has."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml

from tripguard.cli import app
from tripguard.config.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _env(service: dict) -> dict:
    env = service.get("environment", {})
    return dict(env) if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def _cli_command(args: list[str]):
    """The click command a service's `command` runs (the image's entrypoint is `tripguard`)."""
    command = typer.main.get_command(app)
    rest = list(args)
    while hasattr(command, "commands"):  # a group (typer may bring its own click)
        command = command.commands[rest.pop(0)]
    options = {opt for p in command.params for opt in p.opts + p.secondary_opts}
    for arg in rest:
        if arg.startswith("--"):
            assert arg in options, f"{' '.join(args)}: tripguard has no option {arg}"
    return command


def test_services(compose):
    assert set(compose["services"]) == {"kafka", "topics", "worker", "review"}


def test_kafka_is_apache_kafka_in_kraft_mode(compose):
    kafka = compose["services"]["kafka"]
    assert kafka["image"].split(":")[0] == "apache/kafka"
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}  # KRaft, combined node
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@")
    assert not any("ZOOKEEPER" in k for k in env) and "zookeeper" not in compose["services"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # co-partitioning: topics come from `topics`
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])


def test_tripguard_services_reach_the_advertised_listener(compose):
    advertised = _env(compose["services"]["kafka"])["KAFKA_ADVERTISED_LISTENERS"]
    listener = advertised.split("://", 1)[1]
    for name in ("topics", "worker", "review"):
        env = _env(compose["services"][name])
        assert env["TRIPGUARD_BOOTSTRAP"] == listener, name
        for key in env:  # a misspelt setting would be silently ignored by the container
            assert key.startswith("TRIPGUARD_") and key[len("TRIPGUARD_") :].lower() in Settings.model_fields, key


def test_topic_creation_is_a_one_shot_after_kafka_is_healthy(compose):
    topics = compose["services"]["topics"]
    assert topics["command"][:2] == ["topics", "create"]
    _cli_command(topics["command"])
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert topics["restart"] == "no"
    assert topics.get("build") == "." and (REPO / "Dockerfile").is_file()


def test_two_worker_replicas_after_the_topics_exist(compose):
    worker = compose["services"]["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert worker["command"][0] == "run"
    _cli_command(worker["command"])
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    port = worker["command"][worker["command"].index("--metrics-port") + 1]
    assert f"localhost:{port}/healthz" in " ".join(worker["healthcheck"]["test"])
    env = _env(worker)
    # state follows a partition through the changelog topic: nothing is shared between replicas
    assert not worker.get("volumes") and env["TRIPGUARD_STATE_DIR"]
    assert "ports" not in worker  # two replicas cannot publish the same host port
    assert env["TRIPGUARD_METRICS_HOST"] == "0.0.0.0"  # a scraper on the network reaches /metrics
    assert worker["stop_signal"] == "SIGTERM"


def test_review_service(compose):
    review = compose["services"]["review"]
    assert review["command"][0] == "serve"
    _cli_command(review["command"])
    port = review["command"][review["command"].index("--port") + 1]
    assert f"localhost:{port}/healthz" in " ".join(review["healthcheck"]["test"])
    assert any(p.endswith(f":{port}") for p in review["ports"])
    assert review["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_readme_docker_commands_use_real_services_and_options(compose):
    # the README's Docker section: `docker compose exec|run ... SERVICE [tripguard] ARGS`
    lines = [
        line.split("#")[0].split()
        for line in (REPO / "README.md").read_text().splitlines()
        if line.startswith("docker compose ")
    ]
    assert any(line[2] == "up" for line in lines)
    commands = [line for line in lines if line[2] in ("exec", "run")]
    assert any(c[3:7] == ["review", "tripguard", "token", "create"] for c in commands)  # a reviewer's token
    for line in commands:
        words = line[3:]
        while words[0].startswith("-"):  # docker's own options; -v takes a value
            words = words[2:] if words[0] == "-v" else words[1:]
        service, args = words[0], words[1:]
        assert service in compose["services"], line
        _cli_command(args[1:] if args[0] == "tripguard" else args)


def test_named_volumes_are_declared(compose):
    used = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])}
    assert used <= set(compose["volumes"])
