"""Browser-test fixtures: the real app served by uvicorn on a fresh SQLite database, and
headless Chromium driven by Playwright."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.config import PROJECT_DIR

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_SECONDS = 60


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"no answer from /healthz in {SERVER_START_SECONDS}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def live_server_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`GONGSU_DATA_DIR` of this module's live server: tests reach its SQLite database here."""
    return tmp_path_factory.mktemp("live-server")


@pytest.fixture(scope="module")
def live_server(live_server_data_dir: Path) -> Iterator[str]:
    """Base URL of `python -m api serve`, set up from scratch like a first install."""
    data_dir = live_server_data_dir
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GONGSU_") or key == "GONGSU_TEST_DATABASE_URL"
    }
    env.update(
        GONGSU_DATA_DIR=str(data_dir),
        GONGSU_DEMO="0",
        GONGSU_HOST="127.0.0.1",
        GONGSU_PORT=str(port),
    )
    setup = subprocess.run(
        [sys.executable, "-m", "api", "setup"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if setup.returncode != 0:
        pytest.fail(f"`python -m api setup` failed:\n{setup.stdout}\n{setup.stderr}")
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "api", "serve"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_until_healthy(base_url, process, log_path)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
        # CI installs Chromium, so there a missing browser is a failure, not a skip.
        if os.environ.get("GONGSU_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
