"""The project's own tooling, as a newcomer and a production-like server meet it.

* The README's first code block is exactly ``make demo`` and ``make test``, and every make target
  runs the setup step first; ``.ci/run`` runs ``make lint`` and ``make test`` without ``make setup``.
* In a fresh copy of the repository (no ``.venv``, no ``odoo.conf``), the setup step of
  ``make test`` creates both, and the Odoo launcher ``.venv/bin/odoo``. To stay cheap, the new venv
  reuses this one's installed packages (``AP_SYNC_BASE_VENV``, documented in the README): every step
  of the setup still runs (venv, pip, Odoo path, launcher, PostgreSQL role, odoo.conf), pip only
  finds nothing to download.
* A prefork server started the project's way (tools/odoo_server.py, 2 workers, through
  ``.venv/bin/odoo``) spawns its websocket (gevent) process cleanly: no traceback, ERROR or
  CRITICAL in its output during its first 30 s, the gevent port answers and upgrades a websocket.
"""

import base64
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from odoo.tools import config

ROOT = Path(__file__).resolve().parents[1]
TOOLS_DIR = ROOT / "tools"
if str(TOOLS_DIR) not in sys.path:
    sys.path.insert(0, str(TOOLS_DIR))

from odoo_server import free_port, odoo_server  # noqa: E402


def _dry_run(target, cwd=ROOT):
    """The commands ``make <target>`` would run, in order (make -n runs none of them)."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [line for line in result.stdout.splitlines() if line.strip()]


def test_readme_first_code_block_is_make_demo_and_make_test():
    text = (ROOT / "README.rst").read_text()
    match = re.search(r"^\.\. code-block:: *\w*\n\n((?:(?:   .*)?\n)+)", text, re.M)
    assert match, "README.rst has no code block"
    lines = [line.strip() for line in match.group(1).splitlines() if line.strip()]
    commands = [line for line in lines if not line.startswith("#")]
    assert commands == ["make demo", "make test"], lines
    # Each command comes with one line of explanation, right above it.
    assert len(lines) == 4 and lines[0].startswith("#") and lines[2].startswith("#"), lines
    assert "127.0.0.1:8069" in lines[0] and "DEMO_ARGS=--exit" in lines[0], lines[0]


def test_every_target_runs_the_setup_step_first():
    setup = f"bash {ROOT}/tools/setup.sh"
    assert _dry_run("setup") == [setup]
    for target, then in (
        ("demo", "tools/demo.py"),
        ("test", "tools/test.sh"),
        ("run", "tools/run.sh"),
        ("lint", "tools/lint.sh"),
        ("test-odoo", "tools/test_odoo.sh"),
        ("pot", "tools/pot.sh"),
    ):
        commands = _dry_run(target)
        assert commands[0] == setup, (target, commands)
        assert then in commands[1], (target, commands)
    ci = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip().startswith("make")
    ]
    assert ci == ["make lint", "make test-odoo", "make test"], ci


def _fresh_copy(destination):
    """The files a clone of this checkout would hold (tracked or new, not ignored): no .venv, no odoo.conf."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file() and not source.is_symlink():
            target = destination / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def test_fresh_clone_gets_venv_and_odoo_conf_from_the_setup_step_of_make_test():
    work = Path(tempfile.mkdtemp(prefix="ap-sync-clone-"))
    try:
        clone = work / "account_ap_sync"
        _fresh_copy(clone)
        assert (clone / "Makefile").is_file() and (clone / "tools" / "setup.sh").is_file()
        assert not (clone / ".venv").exists() and not (clone / "odoo.conf").exists()

        # What `make test` runs before the suite, as make itself prints it for the copy.
        commands = _dry_run("test", cwd=clone)
        suite = next(i for i, command in enumerate(commands) if "tools/test.sh" in command)
        setup_step = commands[:suite]
        assert setup_step == [f"bash {clone}/tools/setup.sh"], commands

        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AP_SYNC_", "ODOO", "VIRTUAL_ENV", "PYTHONPATH"))
        }
        env.update(PYTHON=sys._base_executable, AP_SYNC_BASE_VENV=sys.prefix)

        def run_setup_step():
            started = time.monotonic()
            for command in setup_step:
                result = subprocess.run(
                    ["bash", "-c", command],
                    cwd=clone,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                assert result.returncode == 0, result.stdout + result.stderr
            return time.monotonic() - started, result.stdout

        _first, output = run_setup_step()
        assert f"Creating {clone}/.venv" in output, output
        assert "Installing Odoo's Python requirements" in output, output

        venv_python = clone / ".venv" / "bin" / "python"
        probe = subprocess.run(
            [str(venv_python), "-c", "import sys, odoo.release; print(sys.prefix, odoo.release.serie)"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert probe.stdout.split() == [str(clone / ".venv"), "18.0"], probe.stdout

        launcher = clone / ".venv" / "bin" / "odoo"
        assert launcher.read_text().splitlines()[0] == f"#!{venv_python}"
        version = subprocess.run(
            [str(launcher), "--version"], capture_output=True, text=True, check=True, timeout=120
        )
        assert version.stdout.startswith("Odoo Server 18.0"), version.stdout

        conf = clone / "odoo.conf"
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        text = conf.read_text()
        assert re.search(rf"^addons_path = .*,{re.escape(str(clone))}/\.addons$", text, re.M), text
        assert re.search(r"^http_port = 8069$", text, re.M), text
        key = re.search(r"^ap_sync_encryption_key = (\S+)$", text, re.M).group(1)
        assert len(base64.urlsafe_b64decode(key)) == 32, "a Fernet key"
        assert (clone / ".addons" / "account_ap_sync").resolve() == clone.resolve()

        # Run again (as the next `make test` does): quick, and odoo.conf and its key are kept.
        again, output = run_setup_step()
        assert "Python packages already installed" in output, output
        assert conf.read_text() == text
        assert again < 60, f"the setup step took {again:.1f} s when nothing changed"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _websocket_handshake(port):
    """Open a websocket on the gevent port, close it cleanly; return the status line of the upgrade."""
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            (
                f"GET /websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: http://127.0.0.1:{port}\r\n\r\n"
            ).encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        status = answer.split(b"\r\n", 1)[0].decode()
        if " 101 " in status:
            mask = os.urandom(4)
            payload = (1000).to_bytes(2, "big")
            sock.sendall(
                bytes([0x88, 0x80 | len(payload)])
                + mask
                + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            )
            time.sleep(0.5)
    return status


def _bad_lines(log):
    return [
        line
        for line in log.splitlines()
        if "Traceback" in line or re.match(r"^\S+ \S+ \d+ (ERROR|CRITICAL) ", line)
    ]


def test_prefork_server_starts_without_traceback():
    database = config["db_name"].split(",")[0]
    gevent_port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="odoo-prefork-", suffix=".log")[1])
    started = time.monotonic()
    health, handshake, passed = None, None, False
    try:
        with odoo_server(
            config.rcfile, database, workers=2, log_level="info", gevent_port=gevent_port, log_path=log_path
        ) as url:
            assert requests.get(f"{url}/web/health", timeout=10).status_code == 200
            # The websocket process answers on its own port once it has started (it imports Odoo
            # again: on a busy machine that can take longer than 30 s). A traceback ends the wait.
            while time.monotonic() - started < 180 and health != 200:
                if _bad_lines(log_path.read_text(errors="replace")):
                    break
                try:
                    health = requests.get(f"http://127.0.0.1:{gevent_port}/web/health", timeout=5).status_code
                except requests.RequestException:
                    time.sleep(0.5)
            if health == 200:
                handshake = _websocket_handshake(gevent_port)
            # Its first 30 s at least, as a whole.
            time.sleep(max(0.0, 30 - (time.monotonic() - started)))
            log, window = log_path.read_text(errors="replace"), time.monotonic() - started
        bad = _bad_lines(log)
        assert not bad, f"{len(bad)} traceback/ERROR lines in {window:.0f} s, e.g. {bad[:3]}; log: {log_path}"
        assert health == 200, f"the gevent port {gevent_port} did not answer /web/health; log: {log_path}"
        assert (
            " 101 " in handshake
        ), f"no websocket upgrade on the gevent port: {handshake!r}; log: {log_path}"
        assert f"Evented Service (longpolling) running on 127.0.0.1:{gevent_port}" in log, log_path
        assert len(re.findall(r"Worker WorkerHTTP \(\d+\) alive", log)) >= 2, log_path
        passed = True
    finally:
        if passed:
            log_path.unlink(missing_ok=True)


@pytest.mark.parametrize("folder", ["account_ap_sync", "main"])
def test_wheel_builds_with_whool_and_carries_the_python_dependencies(tmp_path, folder):
    """``pip wheel --no-deps .`` in a clone, named after the addon or not: the package is named after
    the addon either way (whool would name it after the folder; tools/packaging/whool_backend.py)."""
    import zipfile

    clone = tmp_path / folder
    _fresh_copy(clone)
    # whool lists the files to pack with git: give the copy a repository of its own.
    for command in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "copy"]):  # fmt: skip
        subprocess.run(command, cwd=clone, check=True, capture_output=True, timeout=60)
    dist = tmp_path / "dist"
    # --no-build-isolation: whool comes from requirements-test.txt instead of a download per run.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            ".",
        ],
        cwd=clone,
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheels = list(dist.glob("*.whl"))
    assert [w.name.startswith("odoo_addon_account_ap_sync-18.0.") for w in wheels] == [True], wheels
    with zipfile.ZipFile(wheels[0]) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = {
        line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")
    }
    assert {
        "requests",
        "jsonschema",
        "cryptography",
        "standardwebhooks",
        "odoo==18.0.*",
    } <= requires, requires
    assert "odoo/addons/account_ap_sync/__manifest__.py" in names
    # Only the tracked files (whool lists them with git): neither the repository nor a local config.
    assert not [n for n in names if "/.git/" in n or n.endswith("/odoo.conf") or "/.venv/" in n], names
    assert "odoo/addons/account_ap_sync/models/ap_platform.py" in names
