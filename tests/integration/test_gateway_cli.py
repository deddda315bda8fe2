"""``trm gateway user add`` and ``trm gateway serve`` as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from hub.ops.broker import free_port
from hub.topics import Topics
from tests.support.nodes import write_state

pytestmark = pytest.mark.kafka


async def _trm(env: dict[str, str], *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from connectors.cli import main; main()",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_gateway_serve_process(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_state(home, ["KH"])
    env = {**os.environ, "TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": kafka_bootstrap}
    code, _, err = await _trm(
        env,
        "gateway",
        "user",
        "add",
        "--country",
        "KH",
        "--name",
        "desk1",
        "--password-stdin",
        stdin=b"short\n",
    )
    assert code == 1
    assert "rejected: BAD_REQUEST" in err
    code, out, _ = await _trm(
        env,
        "gateway",
        "user",
        "add",
        "--country",
        "KH",
        "--name",
        "desk1",
        "--password-stdin",
        stdin=b"a good long passphrase\n",
    )
    assert code == 0, out
    users = home / "nodes" / "KH" / "desk-users.json"
    assert users.stat().st_mode & 0o777 == 0o600
    assert "a good long passphrase" not in users.read_text()

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from connectors.cli import main; main()",
        "gateway",
        "serve",
        "--country",
        "KH",
        "--namespace",
        topics.namespace,
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                try:
                    async with http.get(f"{base}/api/openapi.json") as resp:
                        doc = await resp.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("gateway did not start")
            assert doc["info"]["title"] == "trm-hub gateway of KH"
            async with http.get(f"{base}/") as resp:
                assert resp.status == 200
                assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
                assert "desk.js" in await resp.text()
            async with http.post(
                f"{base}/api/login", json={"user": "desk1", "password": "a good long passphrase"}
            ) as resp:
                token = (await resp.json())["token"]
            async with http.get(
                f"{base}/api/inbox", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert resp.status == 200
                assert (await resp.json())["events"] == []
            # Failure 9: users added or reset while it runs count at once.
            for name, password in (
                ("desk1", "a new long passphrase"),
                ("alice", "alice's passphrase"),
            ):
                code, _, err = await _trm(
                    env,
                    "gateway",
                    "user",
                    "add",
                    "--country",
                    "KH",
                    "--name",
                    name,
                    "--password-stdin",
                    stdin=f"{password}\n".encode(),
                )
                assert code == 0, err
            for name, password, want in (
                ("desk1", "a good long passphrase", 401),
                ("desk1", "a new long passphrase", 200),
                ("alice", "alice's passphrase", 200),
            ):
                async with http.post(
                    f"{base}/api/login", json={"user": name, "password": password}
                ) as resp:
                    assert resp.status == want, (name, password)
            async with http.get(  # a reset ends the sessions opened before it
                f"{base}/api/inbox", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert resp.status == 401
    finally:
        proc.send_signal(signal.SIGINT)
        _, err_bytes = await asyncio.wait_for(proc.communicate(), 20)
    logs = err_bytes.decode()
    assert "a good long passphrase" not in logs
    assert "Traceback" not in logs
    assert token not in logs
    assert json.dumps(doc)  # the document is JSON-serialisable


async def test_gateway_serve_refuses_missing_trust(tmp_path: Path) -> None:
    env = {**os.environ, "TRM_HOME": str(tmp_path / "empty"), "TRM_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    code, _, err = await _trm(env, "gateway", "serve", "--country", "KH")
    assert code == 1
    assert "rejected: CONFIG_INVALID" in err


async def _serve(env: dict[str, str], *args: str, run_s: float) -> tuple[int, str]:
    """``trm gateway serve --country KH ARGS`` for up to ``run_s`` seconds, then SIGINT."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from connectors.cli import main; main()",
        "gateway",
        "serve",
        "--country",
        "KH",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:  # its output is small: the pipes do not fill up meanwhile
        await asyncio.wait_for(proc.wait(), run_s)
    except TimeoutError:
        proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    return proc.returncode or 0, err.decode()


async def test_gateway_serve_refuses_a_busy_or_impossible_port(tmp_path: Path) -> None:
    """Failure 8: a busy port or --port 99999 ended in a traceback."""
    home = tmp_path / "home"
    write_state(home, ["KH"])
    env = {**os.environ, "TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    code, err = await _serve(env, "--port", "99999", run_s=30)
    assert code == 1
    assert err.strip() == "rejected: CONFIG_INVALID: expected a TCP port from 1 to 65535, got 99999"
    busy = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = busy.sockets[0].getsockname()[1]
    try:
        code, err = await _serve(env, "--port", str(port), run_s=30)
    finally:
        busy.close()
    assert code == 1
    assert f"rejected: CONFIG_INVALID: port {port} on 127.0.0.1 is busy" in err
    assert "Traceback" not in err
    assert "Kafka" not in err  # refused before anything else started


async def test_gateway_with_its_broker_away_says_so_once(tmp_path: Path) -> None:
    """Failure 15: two full tracebacks every 2 s while the broker was unreachable."""
    home = tmp_path / "home"
    write_state(home, ["KH"])
    env = {**os.environ, "TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    code, err = await _serve(env, "--port", str(free_port()), run_s=9)
    assert code == 0, err
    assert "Traceback" not in err
    lines = err.splitlines()
    said = [x for x in lines if "trm.gateway Kafka at" in x and "is unreachable" in x]
    assert len(said) == 1, err
    assert len([x for x in lines if "Unable connect" in x]) == 1, err  # the client's, once
