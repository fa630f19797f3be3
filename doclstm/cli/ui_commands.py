"""`doclstm ui`: open each UI on what this workspace holds, with nothing to look up.

`ui mlflow` starts MLflow's UI on the workspace's store (its SQLite file and artifact
folder) and prints the link to the latest registered run in the model-training view;
with a tracking server configured there is nothing to start, and it prints the link.
`ui prefect` starts a Prefect server on the database the flows wrote their runs to
(`PREFECT_HOME`). `ui docs` prints the pages that open from disk: the evaluation
report and the Data Docs. The servers replace this process (exec), so Ctrl-C stops
them as it would when started by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import typer

from doclstm.cli.common import HELP, ParamsFileOption, SetOption, console, params_file_or_shipped
from doclstm.config.params import Params, load_params
from doclstm.config.tracking import TRAINING_VIEW, run_page, tracking_uri
from doclstm.config.workspace import workspace
from doclstm.errors import DoclstmError

ui_app = typer.Typer(
    rich_markup_mode="markdown",  # docstring lines joined, `code` shown as code
    no_args_is_help=True,
    context_settings=HELP,
    help="Open the MLflow or Prefect UI, or find the HTML reports, for this workspace.",
)
HostOption = typer.Option("127.0.0.1", help="the address to listen on")
PrintOption = typer.Option(False, "--print", help="print the command instead of running it")


@ui_app.command("mlflow")
def mlflow_ui(
    port: int = typer.Option(5000, help="the port to listen on"),
    host: str = HostOption,
    print_only: bool = PrintOption,
    params_file: Path | None = ParamsFileOption,
    overrides: list[str] = SetOption,
) -> None:
    """MLflow's UI on this workspace's store, opened on the latest registered run."""
    params = load_params(params_file_or_shipped(params_file), overrides)
    configured = params.register_.tracking_uri
    if configured.startswith(("http://", "https://")):
        where = f"MLflow runs on a server: open {_page(params, configured)}"
        console.print(where, highlight=False, soft_wrap=True)
        return
    mlflow_dir = workspace(params).mlflow
    store = tracking_uri(configured, mlflow_dir)
    command = mlflow_ui_command(_tool("mlflow"), store, mlflow_dir, host, port)
    _run(command, f"open {_page(params, f'http://{host}:{port}')}", print_only)


@ui_app.command("prefect")
def prefect_ui(
    port: int = typer.Option(4200, help="the port to listen on"),
    host: str = HostOption,
    print_only: bool = PrintOption,
) -> None:
    """A Prefect server on the database the flow runs went to (`PREFECT_HOME`)."""
    home = prefect_home()
    command = prefect_ui_command(_tool("prefect"), host, port)
    where = f"open http://{host}:{port}/runs (flow runs of PREFECT_HOME={home})"
    _run(command, where, print_only, {"PREFECT_HOME": home})


@ui_app.command("docs")
def docs_ui(params_file: Path | None = ParamsFileOption, overrides: list[str] = SetOption) -> None:
    """The HTML pages that open from disk: the evaluation report and the Data Docs."""
    params = load_params(params_file_or_shipped(params_file), overrides)
    ws = workspace(params)
    pages = {"evaluation report": ws.evaluation_report, "Data Docs": ws.data_docs / "index.html"}
    for name, page in pages.items():
        found = page.resolve().as_uri() if page.is_file() else "not written yet: `doclstm run`"
        console.print(f"{name:<18} {found}", highlight=False, soft_wrap=True)


def mlflow_ui_command(
    program: str, store: str, mlflow_dir: Path, host: str = "127.0.0.1", port: int = 5000
) -> list[str]:
    """MLflow's UI on `store`, with the workspace's artifact folder under `mlflow_dir`."""
    artifacts = (mlflow_dir / "artifacts").resolve().as_uri()
    return [program, "ui", "--backend-store-uri", store, "--default-artifact-root", artifacts,
            "--host", host, "--port", str(port)]  # fmt: skip


def prefect_ui_command(program: str, host: str = "127.0.0.1", port: int = 4200) -> list[str]:
    return [program, "server", "start", "--host", host, "--port", str(port)]


def prefect_home() -> str:
    """Where flows started here keep their runs: PREFECT_HOME, else Prefect's default."""
    return os.environ.get("PREFECT_HOME", str(Path.home() / ".prefect"))


def _tool(name: str) -> str:
    """The `name` command installed beside this Python (the .venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        raise DoclstmError(f"{name}: not installed beside {sys.executable} nor on PATH")
    return found


def _page(params: Params, ui: str) -> str:
    """The latest registered run's page (register's record), else the experiments."""
    record = workspace(params).registration
    if record.is_file():
        registered = json.loads(record.read_text(encoding="utf-8"))
        if registered.get("experiment_id") and registered.get("run_id"):
            return run_page(ui, registered["experiment_id"], registered["run_id"])
    return f"{ui.rstrip('/')}/#/experiments?{TRAINING_VIEW}"


def _run(
    command: list[str], where: str, print_only: bool, env: dict[str, str] | None = None
) -> None:
    """Print the command and where to look, then become it (unless only printing)."""
    settings = [f"{k}={v}" for k, v in (env or {}).items()]
    console.print(" ".join([*settings, *command]), highlight=False, soft_wrap=True)
    console.print(f"then {where}", highlight=False, soft_wrap=True)
    if print_only:
        return
    sys.stdout.flush()
    os.execve(command[0], command, {**os.environ, **(env or {})})
