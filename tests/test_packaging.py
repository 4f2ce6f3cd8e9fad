"""Packaging, Docker files and the environment: what a user's first commands rely on."""

import os
import re
import site
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from hydra_plugins.cli import build_parser
from hydra_plugins.cli import main as hydra_main
from hydra_plugins.core.config import HydraConfig
from hydra_plugins.core.env import load_dotenv_file

ROOT = Path(__file__).resolve().parents[1]


def env_example_keys() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def test_compose_file_parses_and_names_only_existing_paths():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["hydra"]
    assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    assert service["env_file"] == ".env" and (ROOT / ".env.example").is_file()
    for volume in service["volumes"]:
        host, container = volume.split(":", 1)
        assert (ROOT / host).is_dir(), host
        assert container.startswith("/freqtrade/")
    command = service["command"].split()
    assert command[0] == "trade" and "--strategy" in command and command[command.index("--strategy") + 1] == "Hydra"
    config = command[command.index("--config") + 1]
    assert (ROOT / config.removeprefix("/freqtrade/")).is_file()
    assert service["ports"] == ["127.0.0.1:8080:8080"]
    for name in service.get("environment", {}):
        assert name in env_example_keys(), name


def test_compose_collector_runs_a_valid_hydra_command():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    collector = compose["services"]["hydra-collector"]
    assert collector["entrypoint"] == ["hydra"] and collector["stop_signal"] == "SIGTERM"
    args = build_parser().parse_args(collector["command"])
    assert args.func.__name__ == "cmd_intel_collect"
    assert args.store == "/freqtrade/user_data/hydra/intel.sqlite"
    bot = compose["services"]["hydra"]
    # The bot reads the same file: Freqtrade's user_data_dir (/freqtrade/user_data) + hydra.intel.store_path.
    assert "./user_data:/freqtrade/user_data" in bot["volumes"] and collector["volumes"] == [
        "./user_data:/freqtrade/user_data"
    ]
    assert HydraConfig().intel.store_path == "hydra/intel.sqlite"


def test_compose_dashboard_reads_the_bots_journal_and_api():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    dashboard, bot = compose["services"]["hydra-dashboard"], compose["services"]["hydra"]
    args = build_parser().parse_args(dashboard["command"])
    assert args.func.__name__ == "cmd_dashboard" and args.host == "0.0.0.0"
    # The journal: the bot's user_data_dir + hydra.decisions_path; its API: the bot's service name and port.
    assert args.userdir == "/freqtrade/user_data" and "./user_data:/freqtrade/user_data" in bot["volumes"]
    assert HydraConfig().decisions_path == "hydra/decisions.sqlite"
    assert args.api_url == "http://hydra:8080" and bot["ports"] == ["127.0.0.1:8080:8080"]
    assert dashboard["ports"] == [f"127.0.0.1:{args.port}:{args.port}"] and dashboard["depends_on"] == ["hydra"]
    assert (ROOT / args.config[0].removeprefix("/freqtrade/")).is_file()


def test_dockerfile_extends_the_pinned_freqtrade_image():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pin = next(d for d in pyproject["project"]["dependencies"] if re.match(r"freqtrade(\[[a-z,]+\])?==", d))
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"FROM freqtradeorg/freqtrade:{pin.split('==')[1]}" in dockerfile
    for src in re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)\s+\S+$", dockerfile, flags=re.M):
        for path in src.split():
            assert (ROOT / path).exists(), path


def test_env_example_lists_every_variable():
    keys = env_example_keys()
    for name in (
        "FREQTRADE__EXCHANGE__KEY", "FREQTRADE__EXCHANGE__SECRET", "ANTHROPIC_API_KEY", "LLM_MODEL",
        "CRYPTOCOMPARE_API_KEY", "FREQTRADE__DRY_RUN", "FREQTRADE__HYDRA__RISK__MAX_LEVERAGE",
        "FREQTRADE__HYDRA__RISK__RISK_PER_TRADE", "FREQTRADE__API_SERVER__JWT_SECRET_KEY", "HYDRA_DATA_DIR",
    ):  # fmt: skip
        assert name in keys, name
    for line in (ROOT / ".env.example").read_text().splitlines():
        if re.match(r"^\w*(KEY|SECRET|TOKEN|PASSWORD)=", line):
            assert line.endswith("="), f"secret with a value in .env.example: {line.split('=')[0]}"


def test_dotenv_fills_only_unset_variables(tmp_path, monkeypatch):
    env = tmp_path / ".env"
    env.write_text("HYDRA_TEST_A=from-file\nHYDRA_TEST_B=from-file\n")
    monkeypatch.setenv("HYDRA_TEST_B", "from-shell")
    monkeypatch.delenv("HYDRA_TEST_A", raising=False)
    assert load_dotenv_file(env) == ["HYDRA_TEST_A"]
    assert os.environ["HYDRA_TEST_A"] == "from-file" and os.environ["HYDRA_TEST_B"] == "from-shell"
    monkeypatch.delenv("HYDRA_TEST_A")
    monkeypatch.setenv("HYDRA_DOTENV", "0")
    assert load_dotenv_file(env) == [] and "HYDRA_TEST_A" not in os.environ


def test_config_check_applies_environment_overrides(monkeypatch, capsys):
    monkeypatch.setenv("FREQTRADE__HYDRA__RISK__MAX_LEVERAGE", "500")
    assert hydra_main(["config", "check", "-c", str(ROOT / "config" / "config.json")]) == 2
    assert "hydra.risk.max_leverage" in capsys.readouterr().err


def test_config_check_command(tmp_path, capsys):
    assert hydra_main(["config", "check", "-c", str(ROOT / "config" / "config.json")]) == 0
    assert "hydra config OK" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text('{"hydra": {"risk": {"max_leverage": 200}}}')
    code = hydra_main(["config", "check", "-c", str(ROOT / "config" / "config.json"), "-c", str(bad)])
    assert code == 2
    assert "hydra.risk.max_leverage: Input should be less than or equal to 125" in capsys.readouterr().err


def test_dotenv_reaches_a_local_freqtrade_process(tmp_path):
    """`make setup` installs hydra_dotenv.pth: a plain `freqtrade` run in a folder with .env sees it."""
    if not any((Path(p) / "hydra_dotenv.pth").exists() for p in site.getsitepackages()):
        pytest.skip("hydra_dotenv.pth is installed by `make setup`")
    (tmp_path / ".env").write_text("FREQTRADE__HYDRA__RISK__MAX_LEVERAGE=7\n")
    (tmp_path / "user_data").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FREQTRADE__") and k != "HYDRA_DOTENV"}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("freqtrade")), "show-config", "-c", str(ROOT / "config" / "config.json"),
         "--userdir", "user_data"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    risk = result.stdout[result.stdout.index('"risk"') :]
    assert '"max_leverage": 7' in risk.split("}")[0]


def test_compose_trainer_retrains_into_the_models_the_bot_reads():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    trainer, bot = compose["services"]["hydra-trainer"], compose["services"]["hydra"]
    script = trainer["command"][0]
    hydra_call = script.split("&& hydra ", 1)[1].split(";", 1)[0].split()
    args = build_parser().parse_args(hydra_call)
    assert args.func.__name__ == "cmd_train" and args.model == "all" and args.days == 180
    assert args.output_dir == "/freqtrade/models" and "./models:/freqtrade/models" in bot["volumes"]
    assert "./models:/freqtrade/models" in trainer["volumes"]
    # The bot's default model paths are relative to its working directory, /freqtrade.
    assert HydraConfig().alpha.scorer.path == "models/signal_scorer.cbm"
    assert HydraConfig().stats.regime_model.path == "models/regime_classifier.ubj"
    assert "sleep 604800" in script  # weekly
