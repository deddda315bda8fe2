"""free_port: a port no outgoing connection can take before the server binds it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hub.errors import OperationalError, Reason
from hub.ops import broker
from hub.ops.broker import free_port, port_pool


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
    monkeypatch.delenv("TRM_FREE_PORTS", raising=False)  # set for each make test worker
    monkeypatch.setattr(broker, "_ephemeral_low", lambda: 0)
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # free, as promised


def test_a_pool_of_its_own_is_kept_to(monkeypatch: pytest.MonkeyPatch) -> None:
    # What each of make test's processes sets (tests/conftest.py), so that two of them
    # never pick the same port for servers that are not listening yet.
    monkeypatch.delenv("TRM_FREE_PORTS", raising=False)
    default = port_pool()
    low, _high = _ephemeral()
    assert default == range(max(1024, low - 12_000), low)
    monkeypatch.setenv("TRM_FREE_PORTS", "")  # an empty setting is no setting
    assert port_pool() == default
    start = default.start + len(default) // 2
    monkeypatch.setenv("TRM_FREE_PORTS", f"{start}-{start + 40}")
    assert port_pool() == range(start, start + 40)
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    assert all(start <= p < start + 40 for p in ports), ports


@pytest.mark.parametrize("given", ["8000", "8000-", "9000-8000", "80-9000", "a-b", "8000-70000"])
def test_a_pool_that_is_not_one_is_refused(monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    monkeypatch.setenv("TRM_FREE_PORTS", given)
    with pytest.raises(OperationalError) as refused:
        port_pool()
    assert refused.value.reason is Reason.CONFIG_INVALID
    assert f"found {given!r}" in str(refused.value)


def test_each_make_test_worker_draws_from_a_part_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.conftest import own_ports

    monkeypatch.delenv("TRM_FREE_PORTS", raising=False)
    whole = port_pool()
    parts = []
    for worker in ("gw0", "gw1", "gw2"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
        monkeypatch.delenv("TRM_FREE_PORTS", raising=False)
        own_ports()
        parts.append(port_pool())
    assert all(len(p) == len(whole) // 3 for p in parts)
    assert all(p.start >= whole.start and p.stop <= whole.stop for p in parts)
    assert parts[0].stop <= parts[1].start  # the parts do not overlap
    assert parts[1].stop <= parts[2].start
    monkeypatch.setenv("TRM_FREE_PORTS", "20000-20010")
    own_ports()  # one set by hand is kept
    assert port_pool() == range(20000, 20010)
