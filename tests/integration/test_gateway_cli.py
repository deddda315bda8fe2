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
    finally:
        proc.send_signal(signal.SIGINT)
        _, err_bytes = await asyncio.wait_for(proc.communicate(), 20)
    logs = err_bytes.decode()
    assert "a good long passphrase" not in logs
    assert token not in logs
    assert json.dumps(doc)  # the document is JSON-serialisable


async def test_gateway_serve_refuses_missing_trust(tmp_path: Path) -> None:
    env = {**os.environ, "TRM_HOME": str(tmp_path / "empty"), "TRM_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    code, _, err = await _trm(env, "gateway", "serve", "--country", "KH")
    assert code == 1
    assert "rejected: CONFIG_INVALID" in err
