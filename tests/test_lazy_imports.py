"""Start-up stays light: the CLI's --help and the runtime import none of the heavy libraries.

Each check runs in a fresh interpreter, since this test process has long since imported torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

HEAVY = ("torch", "onnx", "onnxruntime", "tensorrt", "sklearn", "cv2", "matplotlib")


def _heavy_after(code: str) -> dict[str, Any]:
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        heavy = {HEAVY!r}
        print(json.dumps({{"heavy": sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy)), **report}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_cli_is_light() -> None:
    result = _heavy_after("import cnn2gnn.cli\nreport = {}\n")
    assert result["heavy"] == []


def test_help_of_every_command_is_light() -> None:
    result = _heavy_after("""
        import typer
        from typer.testing import CliRunner
        from cnn2gnn.cli import app

        runner = CliRunner()
        commands = sorted(typer.main.get_command(app).commands)
        report = {"exit_codes": {" ".join(args): runner.invoke(app, args).exit_code
                                 for args in [["--help"], ["distill", "--help"]] + [[c, "--help"] for c in commands]}}
    """)
    assert set(result["exit_codes"].values()) == {0}, result["exit_codes"]
    assert {"--help", "distill --help", "train-teacher --help", "evaluate --help"} <= set(result["exit_codes"])
    assert result["heavy"] == []


def test_console_help_runs_without_heavy_imports() -> None:
    result = _heavy_after("""
        import sys
        from cnn2gnn.cli import main
        sys.argv = ["cnn2gnn", "--help"]
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        report = {"code": code}
    """)
    assert result == {"heavy": [], "code": 0}


def test_runtime_import_does_not_need_torch() -> None:
    assert "torch" not in _heavy_after("import cnn2gnn.runtime\nreport = {}\n")["heavy"]


def test_distill_usage_error_comes_before_torch_is_loaded() -> None:
    result = _heavy_after("""
        import sys
        from cnn2gnn.cli import main
        sys.argv = ["cnn2gnn", "distill"]
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        report = {"code": code}
    """)
    assert result == {"heavy": [], "code": 1}
