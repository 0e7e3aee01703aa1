"""The server's log configuration reaches every worker process."""

import subprocess
import sys


def test_a_worker_process_writes_the_application_s_log_lines() -> None:
    # A fresh interpreter does what uvicorn does in each worker it spawns: apply the
    # configuration it was handed, then run the app, whose loggers are the `gongsu` and `api` ones.
    code = (
        "import logging, logging.config, uvicorn.config\n"
        "from api.cli import server_log_config\n"
        "logging.config.dictConfig(server_log_config(uvicorn.config.LOGGING_CONFIG))\n"
        "logging.getLogger('gongsu.access').info('GET /healthz 200')\n"
        "logging.getLogger('api.clusters.assignment').info('placed 3 reports')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "INFO gongsu.access: GET /healthz 200" in result.stderr
    assert "INFO api.clusters.assignment: placed 3 reports" in result.stderr
