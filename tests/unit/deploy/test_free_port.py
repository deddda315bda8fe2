"""free_port: a port no outgoing connection can take before the server binds it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hub.ops import broker
from hub.ops.broker import free_port


def _ephemeral() -> tuple[int, int]:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


def test_ports_are_below_the_ephemeral_range_and_never_repeat() -> None:
    low, _high = _ephemeral()
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= p < low for p in ports), [p for p in ports if p >= low][:5]


def test_an_outgoing_connection_never_lands_on_a_given_port() -> None:
    # Outgoing connections draw their local port from the ephemeral range; a
    # port handed out is outside it, so a burst of connections cannot take it.
    given = {free_port() for _ in range(50)}
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(128)
        target = server.getsockname()
        clients = [socket.create_connection(target) for _ in range(100)]
        try:
            local = {c.getsockname()[1] for c in clients}
        finally:
            for c in clients:
                c.close()
    assert not local & given


def test_a_taken_port_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        offered: list[int] = []
        real_choice = broker._PORT_RANDOM.choice

        def choice(pool: range) -> int:
            offered.append(busy if len(offered) < 2 else real_choice(pool))
            return offered[-1]

        monkeypatch.setattr(broker._PORT_RANDOM, "choice", choice)
        port = free_port()
    assert offered[:2] == [busy, busy]
    assert port != busy


def test_without_a_readable_range_the_kernel_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker, "_ephemeral_low", lambda: 0)
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # free, as promised
