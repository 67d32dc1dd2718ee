"""What ``--help`` shows: flags without a value type, arguments as upper-case names, distill's teacher choice."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from cnn2gnn.cli import app

runner = CliRunner()
COMMANDS = list(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
ARGUMENTS = {"evaluate": ["CHECKPOINT"], "export": ["CHECKPOINT"], "check": ["MODEL"], "enroll": ["MODEL"], "calibrate": ["MODEL"],
             "build": ["MODEL"], "refit": ["ENGINE"], "serve-config": ["MODEL"], "bench": ["MODEL"],
             "compare": ["MODEL_A", "MODEL_B"], "run": ["MODEL", "[SOURCE]..."]}


def _help(args: list[str]) -> str:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_commands_are_listed_in_pipeline_order() -> None:
    assert COMMANDS == ["train-teacher", "distill", "evaluate", "export", "check", "enroll", "calibrate", "build",
                        "refit", "serve-config",
                        "bench", "compare", "run", "doctor", "cache"]


@pytest.mark.parametrize("args", [[]] + [[c] for c in COMMANDS])
def test_flags_show_no_value_type(args: list[str]) -> None:
    text = _help(args)
    assert "<bool>" not in text
    assert re.search(r"--help\s+Show this message", text)


def test_a_flag_and_a_valued_option_side_by_side() -> None:
    text = _help(["check"])
    assert re.search(r"--json\s+Print the report as JSON", text)
    assert re.search(r"--verbose\s+-v\s+Also list", text)
    assert re.search(r"--output\s+-o\s+<path>", _help(["export"]))


@pytest.mark.parametrize(("command", "arguments"), sorted(ARGUMENTS.items()))
def test_arguments_show_as_upper_case_names(command: str, arguments: list[str]) -> None:
    text = _help([command])
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert usage.split()[-len(arguments):] == arguments
    assert "{" not in usage
    for name in arguments:
        if name.startswith("["):  # optional: no required-marker in the Arguments panel
            assert re.search(rf"\n\W*\s+{re.escape(name.strip('[].'))}\s+<", text), name
        else:
            assert re.search(rf"\*\s+{name}\s+<", text), name  # the Arguments panel: required, upper case


def test_a_missing_argument_is_named_in_upper_case() -> None:
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 2 and "Missing argument 'MODEL'" in result.output


def test_distill_help_says_a_teacher_choice_is_required() -> None:
    text = _help(["distill"])
    assert "Teacher (required: --teacher or --no-teacher)" in text
    assert re.search(r"--teacher\s+<path>\s+Teacher checkpoint", text)
    assert "Required unless --no-teacher" in " ".join(text.replace("│", " ").split())
