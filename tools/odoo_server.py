"""Start a real Odoo server (prefork, N workers) on loopback, for end-to-end tests and benchmarks.

Development tooling: never imported by the module itself.
"""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time

import requests


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def odoo_server(
    config_file,
    database,
    workers=2,
    log_level="warn",
    startup_timeout=180,
    extra_args=(),
    port=None,
    cron_threads=0,
):
    """Run ``python -m odoo`` with ``workers`` workers on a loopback port (free one by default); yields its URL."""
    port, gevent_port = port or free_port(), free_port()
    log = tempfile.NamedTemporaryFile(prefix="odoo-e2e-", suffix=".log", delete=False)
    command = [
        sys.executable,
        "-m",
        "odoo",
        "-c",
        config_file,
        "-d",
        database,
        f"--db-filter=^{database}$",
        f"--workers={workers}",
        f"--max-cron-threads={cron_threads}",
        "--http-interface=127.0.0.1",
        f"--http-port={port}",
        f"--gevent-port={gevent_port}",
        f"--log-level={log_level}",
        "--limit-time-real=600",
        "--limit-time-cpu=600",
        *extra_args,
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"Odoo exited with {process.returncode}; log: {log.name}")
            try:
                if requests.get(f"{url}/web/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Odoo did not answer /web/health within {startup_timeout} s; log: {log.name}"
                )
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
