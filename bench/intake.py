"""Intake throughput: `POST /api/v1/reports` on PostgreSQL with 2 workers, next to a bare FastAPI
endpoint measured the same way in the same run.

    .venv/bin/python bench/intake.py [--requests 4000] [--concurrency 16]

Starts both servers itself on loopback, sends a bounded number of requests (and stops after
--max-seconds whatever happens), and prints reports/s, p50 and p99 latency, and the ratios.
Needs PostgreSQL (default postgresql+psycopg://postgres@127.0.0.1:5432/, database gongsu_bench,
dropped and created afresh; override with GONGSU_BENCH_DATABASE_URL).
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gongsu_bench"

# Check digit computed by hand: this is a made-up but well-formed resident ID number.
NARRATIVES = [
    "逾期两个月后多次申请停息挂账，客服一直拒绝协商，还威胁联系我的家人和单位。"
    "催收员电话138 0013 8000。",
    "借款一万元实际到账九千，会员费和担保费从放款里直接扣掉了，年化利率远超24%，要求退还。",
    "催收人员冒充法院工作人员，说要上门起诉，还把我的身份证号11010519491231002X发到了群里。",
    "They called my employer and my mother every day about the loan, and charged fees they never "
    "disclosed. My phone is (555) 123-4567 and they kept calling after I asked them to stop.",
]


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    # CPU seconds the server's processes and the PostgreSQL server spent during the load (Linux
    # /proc; None elsewhere): what each request costs, which the machine's load cannot inflate
    # the way it inflates latency.
    server_cpu_s: float | None = None
    postgres_cpu_s: float | None = None

    def cpu_ms_per_request(self, seconds: float | None) -> str:
        return "n/a" if seconds is None else f"{seconds / max(self.requests, 1) * 1000:.2f}"

    @property
    def per_second(self) -> float:
        return (self.requests - self.errors) / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fresh_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def wait_until_up(base_url: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("server did not come up")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def body(number: int) -> dict[str, object]:
    return {
        "lender": ["同程借钱", "借呗", "安逸花", "闪电借款王"][number % 4],
        "categories": [["refuses_negotiation"], ["bundled_fees", "excessive_cost"]][number % 2],
        "title": f"第{number}号投诉：拒绝协商",
        "narrative": NARRATIVES[number % len(NARRATIVES)],
        "province": "广东",
        "first_incident_month": "2024-03",
        "loan": {
            "contract_principal": "10000",
            "net_received": "9000",
            "received_on": "2024-01-15",
            "schedule": {"installments": 12, "amount": f"{950 + number % 50}.00"},
        },
    }


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, payload: bytes
) -> int:
    writer.write(
        b"POST /api/v1/reports HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(payload)).encode()
        + b"\r\n\r\n"
        + payload
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status_code = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status_code


async def load(name: str, port: int, requests: int, concurrency: int, max_seconds: float) -> Result:
    """Keep-alive HTTP/1.1 over raw asyncio streams.

    A full client library (httpx) spent more CPU per request than the bare server, on the same
    two cores, and so measured itself; this loop costs a few microseconds per request.
    """
    payloads = [json.dumps(body(number)).encode("utf-8") for number in range(requests)]
    latencies: list[float] = []
    errors = 0
    counter = iter(payloads)
    deadline = time.monotonic() + max_seconds
    host = f"127.0.0.1:{port}"

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for payload in counter:
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                status_code = await _post(reader, writer, host, payload)
                latencies.append((time.perf_counter() - started) * 1000)
                if status_code != 201:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return Result(name, len(latencies), errors, seconds, latencies)


UNPLACED_REPORTS_SQL = text(
    """
    SELECT count(*) FROM report
    WHERE status = 'active' AND NOT EXISTS (
        SELECT 1 FROM cluster_membership
        WHERE report_id = report.id
          AND run_id = (SELECT max(id) FROM clustering_run WHERE status = 'succeeded')
    )
    """
)


@dataclass
class Placement:
    unplaced_at_end: int
    catch_up_s: float | None


def wait_for_placement(database_url: str, max_seconds: float) -> Placement:
    """Reports are placed in their cluster just after their commit: how many were still waiting
    when the load ended, and how long until none was (None: not within max_seconds)."""
    engine = create_engine(database_url)
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            unplaced_at_end = connection.scalar(UNPLACED_REPORTS_SQL) or 0
            unplaced = unplaced_at_end
            while unplaced and time.perf_counter() - started < max_seconds:
                time.sleep(0.05)
                unplaced = connection.scalar(UNPLACED_REPORTS_SQL) or 0
    finally:
        engine.dispose()
    return Placement(unplaced_at_end, None if unplaced else time.perf_counter() - started)


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command line, CPU seconds so far) for every process we can read."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        cpu_s = (int(fields[11]) + int(fields[12])) / ticks
        found[int(entry.name)] = (int(fields[1]), command, cpu_s)
    return found


def cpu_seconds(root_pid: int) -> tuple[float, float] | None:
    """CPU seconds so far of the process tree under `root_pid`, and of PostgreSQL's processes."""
    if not Path("/proc/self/stat").exists():
        return None
    processes = _processes()
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _, _) in processes.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    server = sum(processes[pid][2] for pid in tree if pid in processes)
    postgres = sum(cpu for _, command, cpu in processes.values() if command.startswith("postgres"))
    return server, postgres


def measure(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    args: argparse.Namespace,
    placement_database_url: str | None = None,
) -> tuple[Result, Placement | None]:
    process = subprocess.Popen(command, cwd=REPO_DIR, env=env, stdout=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url, process)
        asyncio.run(load(name, port, args.warmup, args.concurrency, args.max_seconds))
        before = cpu_seconds(process.pid)
        result = asyncio.run(load(name, port, args.requests, args.concurrency, args.max_seconds))
        after = cpu_seconds(process.pid)
        if before is not None and after is not None:
            result.server_cpu_s = after[0] - before[0]
            result.postgres_cpu_s = after[1] - before[1]
        if placement_database_url is None:
            return result, None
        return result, wait_for_placement(placement_database_url, args.max_seconds)
    finally:
        stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=90)
    args = parser.parse_args()

    database_url = os.environ.get("GONGSU_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    fresh_database(database_url)
    data_dir = REPO_DIR / "bench" / "results" / "intake-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {
        **os.environ,
        "GONGSU_DATABASE_URL": database_url,
        "GONGSU_DATA_DIR": str(data_dir),
        # The demo set and its clustering run, so each submission is also placed in a cluster.
        "GONGSU_DEMO": "1",
        "GONGSU_WORKERS": str(args.workers),
        # The benchmark sends every request from one address.
        "GONGSU_RECEIPT_LOOKUPS_PER_WINDOW": "1000000",
    }
    subprocess.run(
        [PYTHON, "-m", "api", "setup"], cwd=REPO_DIR, env=env, check=True, stdout=subprocess.DEVNULL
    )

    gongsu_port, bare_port = free_port(), free_port()
    gongsu, placement = measure(
        "gongsu POST /api/v1/reports",
        [PYTHON, "-m", "api", "serve"],
        {**env, "GONGSU_PORT": str(gongsu_port)},
        gongsu_port,
        args,
        placement_database_url=database_url,
    )
    bare, _ = measure(
        "bare FastAPI endpoint",
        [
            PYTHON,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--port",
            str(bare_port),
            "--workers",
            str(args.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env,
        bare_port,
        args,
    )

    print(
        f"\nintake benchmark: {args.workers} workers, concurrency {args.concurrency}, "
        f"PostgreSQL, {os.cpu_count()} CPUs (load generator on the same machine)"
    )
    print(
        f"{'endpoint':32} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'mean ms':>8} {'server CPU ms/req':>17} {'PostgreSQL CPU ms/req':>21}"
    )
    for result in (gongsu, bare):
        print(
            f"{result.name:32} {result.requests:8d} {result.errors:6d} "
            f"{result.per_second:8.1f} {result.percentile(0.5):8.1f} "
            f"{result.percentile(0.99):8.1f} {statistics.fmean(result.latencies_ms):8.1f} "
            f"{result.cpu_ms_per_request(result.server_cpu_s):>17} "
            f"{result.cpu_ms_per_request(result.postgres_cpu_s):>21}"
        )
    print(
        f"throughput ratio gongsu/bare: {gongsu.per_second / bare.per_second:.2f}; "
        f"p99 ratio: {gongsu.percentile(0.99) / bare.percentile(0.99):.2f}"
    )
    assert placement is not None
    caught_up = (
        f"all placed {placement.catch_up_s:.1f} s after the last answer"
        if placement.catch_up_s is not None
        else f"NOT all placed within {args.max_seconds:.0f} s"
    )
    print(
        f"cluster placement: {placement.unplaced_at_end} reports waiting when the load ended; "
        f"{caught_up}"
    )
    meets = gongsu.per_second >= 300 and gongsu.percentile(0.99) < 100 and gongsu.errors == 0
    print(f"target (>= 300 reports/s, p99 < 100 ms, no errors): {'met' if meets else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
