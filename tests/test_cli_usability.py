"""The offline CLI for people and scripts: errors as JSON, pipes, help, progress, exit codes."""

from __future__ import annotations

import argparse
import json
import os
import pty
import subprocess
import sys

from infra.offline import cli
from infra.offline.runtime import PROJECT_ROOT
from tests.conftest import StackWriter, base_config, base_service
from tests.test_cli import run_cli

ENV = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}


def test_check_json_reports_an_invalid_config_as_a_json_error(write_stack: StackWriter) -> None:
    stack = write_stack(base_config(services=[base_service(port=0)]), name="broken")
    result = run_cli("check", "--config", str(stack), "--json")

    assert result.returncode == 2
    error = json.loads(result.stdout)
    assert error["error"] == "invalid-config"
    [problem] = error["problems"]
    assert problem.startswith(f"{stack}: ai-platform:services[0].port: ")
    assert problem in result.stderr  # people still read stderr


def test_closing_the_pipe_early_is_not_a_traceback() -> None:
    """`python -m infra.offline cost --stack prod | head -1`: the reader goes away before the output is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.offline", "cost", "--stack", "prod"],
        cwd=PROJECT_ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == cli.EXIT_BROKEN_PIPE
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr


def test_an_unknown_stack_lists_the_stacks_that_exist() -> None:
    result = run_cli("render", "--stack", "prdo", "--out", "/nonexistent")
    assert result.returncode == 2
    assert "stacks/Pulumi.prdo.yaml: no such stack file (the stacks are: dev, prod, staging)" in result.stderr


def test_cost_text_has_column_headers() -> None:
    result = run_cli("cost", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[1].split()
    assert header == ["kind", "item", "min", "USD/month", "max", "USD/month"]


def test_every_command_and_option_has_help() -> None:
    parser = cli._parser()
    [commands] = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    assert {choice.dest for choice in commands._choices_actions} == set(commands.choices)
    assert all(choice.help for choice in commands._choices_actions)
    for name, command in commands.choices.items():
        for action in command._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"{name} {action.option_strings} has no help"


def test_a_check_on_a_terminal_shows_progress_and_a_pipe_gets_none() -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.offline", "check", "--stack", "dev"],
        cwd=PROJECT_ROOT,
        env={**ENV, "TERM": "xterm", "COLUMNS": "120"},
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    assert process.wait(timeout=120) == 0
    text = seen.decode(errors="replace")
    assert "declaring resources" in text
    assert "validating manifests" in text

    piped = run_cli("check", "--stack", "dev")
    assert piped.returncode == 0
    assert "declaring resources" not in piped.stderr + piped.stdout
