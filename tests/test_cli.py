"""The command line as a user meets it: one-line errors with exit status 2, `--version`, and every
command's `--help` readable at 80 columns. Errors run the installed entry point in a subprocess:
the one-line rule lives in `tripguard.cli.main`, which typer's test runner does not go through."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

import tripguard
from tripguard.cli import app

DATA = Path(__file__).resolve().parent / "data"
UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: the connection is refused at once


def tripguard_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tripguard", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "80"},
    )


def assert_one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tripguard: "), r.stderr
    for word in words:
        assert word in lines[0]


def test_replay_out_naming_an_existing_file(tmp_path):
    afile = tmp_path / "taken"
    afile.write_text("not a directory\n")
    trips = str(DATA / "porto-trips-200.csv")
    r = tripguard_cli("replay", "--pings", trips, "--trips", trips, "--out", str(afile))
    assert_one_line_error(r, "--out", str(afile))
    assert afile.read_text() == "not a directory\n"


@pytest.mark.parametrize(
    "command",
    [
        ["topics", "create"],
        ["produce", "--pings", str(DATA / "porto-trips-200.csv"), "--trips", str(DATA / "porto-trips-200.csv")],
        ["tail", "--topic", "tripguard.alerts"],
    ],
)
def test_broker_commands_against_an_unreachable_broker(command):
    r = tripguard_cli(*command, "--bootstrap", UNREACHABLE)
    assert_one_line_error(r, UNREACHABLE)  # also: no "Unclosed AIOKafkaConsumer" at exit


def test_serve_on_a_taken_port_is_one_line_and_no_banner(tmp_path):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        r = tripguard_cli("serve", "--db", str(tmp_path / "review.db"), "--port", port)
    assert_one_line_error(r, f"127.0.0.1:{port}")  # stdout empty: no "review service on ..." first


def test_a_path_that_cannot_be_read_is_one_line(tmp_path):
    r = tripguard_cli("evaluate", "--labels", str(tmp_path), "--alerts", str(tmp_path))
    assert_one_line_error(r, str(tmp_path))


@pytest.mark.parametrize(
    "args, words",
    [
        (["replay"], ["Missing option '--pings'", "tripguard replay --help"]),
        (["simulate", "--out", "x", "--trips", "many"], ["'--trips'"]),
        (["no-such-command"], ["No such command"]),
    ],
)
def test_usage_mistakes_are_one_line(args, words):
    assert_one_line_error(tripguard_cli(*args), *words)


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"tripguard {tripguard.__version__}\n"


def commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


ALL_COMMANDS = [()] + list(commands(typer.main.get_command(app)))


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "tripguard")
def test_help_fits_80_columns_with_every_option_whole(path):
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=80, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= 80
    assert "…" not in result.output  # rich's sign of a cut word
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    for param in command.params:
        for opt in param.opts + param.secondary_opts:
            if opt.startswith("-"):
                assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", result.output), f"{opt} cut"
        envvar = re.search(r"env (TRIPGUARD_[A-Z_]+)", param.help or "")
        if envvar:
            assert envvar.group(1) in result.output.replace("\n", "")
