"""Start a real Odoo server (prefork, N workers) on loopback, for end-to-end tests and benchmarks.

Development tooling: never imported by the module itself.
"""

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def odoo_bin():
    """The ``odoo`` launcher that ``make setup`` writes into the virtual environment.

    Odoo is always started through it, never with ``python -m odoo``: a prefork server spawns its
    websocket (gevent) process by running ``sys.argv[0] gevent``, and ``odoo/__main__.py`` cannot be
    run as a script (relative import).
    """
    launcher = ROOT / ".venv" / "bin" / "odoo"
    if not os.access(launcher, os.X_OK):
        raise RuntimeError(f"{launcher} is missing: run 'make setup' (it writes the Odoo launcher).")
    return str(launcher)


class ServerURL(str):
    """The server's URL; ``process`` is its master process (the leader of its own process group, so that
    ``os.killpg(url.process.pid, signal.SIGKILL)`` kills the master and every worker at once) and
    ``log_path`` its log file."""

    process = None
    log_path = None


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
    gevent_port=None,
    log_path=None,
):
    """Run Odoo (``.venv/bin/odoo``) with ``workers`` workers on a loopback port; yields its URL.

    The HTTP and websocket (gevent) ports are free ones unless given. Odoo's output (stdout and
    stderr, so also what a child process prints before Odoo's logging is set up) goes to
    ``log_path``, by default a new temporary file.
    """
    port, gevent_port = port or free_port(), gevent_port or free_port()
    if log_path:
        log = open(log_path, "w+b")  # closed in the finally clause below
    else:
        log = tempfile.NamedTemporaryFile(prefix="odoo-e2e-", suffix=".log", delete=False)
    command = [
        odoo_bin(),
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
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = ServerURL(f"http://127.0.0.1:{port}")
    url.process, url.log_path = process, log.name
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
