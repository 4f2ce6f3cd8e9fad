"""Real `freqtrade trade --dry-run` processes for the tests: started, watched through their log, stopped."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

FREQTRADE = str(Path(sys.executable).with_name("freqtrade"))
HYDRA = str(Path(sys.executable).with_name("hydra"))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DryRunBot:
    """One `freqtrade trade --dry-run` process (optionally behind a launcher such as `hydra replay --attach --`)."""

    def __init__(
        self,
        configs: list[Path],
        userdir: Path,
        tmp_path: Path,
        name: str,
        overlay: dict,
        env: dict[str, str] | None = None,
        launcher: list[str] | None = None,
    ) -> None:
        path = tmp_path / f"{name}-dry.json"
        path.write_text(
            json.dumps(
                {"dry_run": True, "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
                 "internals": {"process_throttle_secs": 1}, **overlay}
            )
        )  # fmt: skip
        self.log = tmp_path / f"{name}.log"
        cmd = [
            *(launcher or []), FREQTRADE, "trade", "--strategy", "Hydra", "-c", str(ROOT / "config" / "config.json"),
            *[arg for config in configs for arg in ("-c", str(config))], "-c", str(path),
            "--userdir", str(userdir), "--strategy-path", str(ROOT / "user_data" / "strategies"),
        ]  # fmt: skip
        environ = {k: v for k, v in os.environ.items() if not k.startswith("FREQTRADE__")}
        environ |= {"HYDRA_DOTENV": "0", "COLUMNS": "1000", **(env or {})}  # one log record per line
        with self.log.open("w") as out:  # the child keeps its own handle
            self.process = subprocess.Popen(
                cmd, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def wait_for(self, pattern: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if re.search(pattern, text):
                return text
            assert self.process.poll() is None, f"the bot stopped:\n{text[-4000:]}"
            time.sleep(0.5)
        raise AssertionError(f"no {pattern!r} in the bot's log within {timeout} s:\n{text[-4000:]}")

    def stop(self) -> None:
        """Ctrl-C, as an operator stops it (a launcher passes it on)."""
        self._signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL to the bot and everything it started (a launcher's child too): a crash, nothing cleans up."""
        import psutil

        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
        self._signal(signal.SIGKILL)
        self.process.wait()

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum) if signum == signal.SIGKILL else self.process.send_signal(signum)
