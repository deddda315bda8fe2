"""Each fetched record handed to its stream inline (hub.app.kafka.faust_inline_delivery).

Faust's consumer delivers a record with ``wait_first(callback(record),
suspend_flow.wait())``. The wrap must give every caller what ``mode``'s
``wait_first`` gives, and differ only in how: a callback that finishes at its
first step runs at once, without tasks or a turn of the event loop. These run
the wrapped method on a plain ``mode`` service, the class Faust's consumer
inherits it from.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from faust.transport.consumer import Consumer
from mode import Service

from hub.app import kafka


@pytest.fixture
def wrapped() -> Iterator[Any]:
    """``wait_first`` wrapped afresh around ``mode``'s own; the class restored after.

    (Whatever wrapped it before, in this process, is put back afterwards.)
    """
    before, kept = Consumer.__dict__.get("wait_first"), dict(kafka._FAUST_CREATE)
    if "wait_first" in Consumer.__dict__:
        del Consumer.wait_first  # back to mode's Service.wait_first
    kafka._FAUST_CREATE.pop("wait_first", None)
    kafka.faust_inline_delivery()
    yield Consumer.wait_first
    if before is None:
        del Consumer.wait_first
    else:
        Consumer.wait_first = before  # type: ignore[method-assign]
    kafka._FAUST_CREATE.clear()
    kafka._FAUST_CREATE.update(kept)


def test_faust_delivers_each_record_through_wait_first() -> None:
    """The call the wrap is for (a Faust upgrade that changes it fails here)."""
    source = inspect.getsource(Consumer._drain_messages)
    assert "await self.wait_first(\n" in source
    assert "callback(message), self.suspend_flow.wait()" in source


def test_wrapping_twice_wraps_once(wrapped: Any) -> None:
    kafka.faust_inline_delivery()
    assert Consumer.wait_first is wrapped
    assert getattr(wrapped, "__wrapped__", None) is Service.wait_first


async def test_a_callback_that_does_not_wait_runs_at_once(wrapped: Any) -> None:
    order: list[str] = []
    flow = asyncio.Event()

    async def callback() -> str:
        order.append("callback")
        return "put"

    suspend = flow.wait()
    asyncio.get_running_loop().call_soon(order.append, "loop turned")
    result = await wrapped(Service(), callback(), suspend)
    assert order == ["callback"]  # before anything else the loop had ready
    assert len(result.done) == 1
    assert result.results == ["put"]
    assert not result.stopped
    assert inspect.getcoroutinestate(suspend) == inspect.CORO_CLOSED  # never started
    await asyncio.sleep(0)
    assert order == ["callback", "loop turned"]


async def test_a_callback_that_waits_goes_on_as_before(wrapped: Any) -> None:
    loop = asyncio.get_running_loop()
    room: asyncio.Future[str] = loop.create_future()
    seen: list[str] = []

    async def callback() -> str:
        seen.append("first step")
        got = await room  # a full queue, until the stream takes a record
        seen.append(got)
        await asyncio.sleep(0)  # a bare yield is passed on too
        return "put after " + got

    loop.call_later(0.01, room.set_result, "room")
    result = await wrapped(Service(), callback(), asyncio.Event().wait())
    assert result.results == ["put after room"]
    assert not result.stopped
    assert seen == ["first step", "room"]


async def test_a_suspended_flow_abandons_a_waiting_callback(wrapped: Any) -> None:
    """As in Faust: the flow stops (a rebalance) first, the callback is cancelled."""
    loop = asyncio.get_running_loop()
    never: asyncio.Future[None] = loop.create_future()
    flow = asyncio.Event()
    ended: list[str] = []

    async def callback() -> None:
        try:
            await never
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise

    loop.call_later(0.01, flow.set)
    result = await wrapped(Service(), callback(), flow.wait())
    assert result.results == [True]  # the suspension's wait won
    await asyncio.sleep(0)
    assert ended == ["cancelled"]
    assert never.cancelled()


async def test_errors_in_the_callback_reach_the_caller(wrapped: Any) -> None:
    async def at_once() -> None:
        raise ValueError("undecodable")

    suspend = asyncio.Event().wait()
    with pytest.raises(ValueError, match="undecodable"):
        await wrapped(Service(), at_once(), suspend)
    assert inspect.getcoroutinestate(suspend) == inspect.CORO_CLOSED

    async def later() -> None:
        await asyncio.sleep(0)
        raise KeyError("later")

    with pytest.raises(KeyError, match="later"):
        await wrapped(Service(), later(), asyncio.Event().wait())


async def test_a_stopped_service_reports_stopped(wrapped: Any) -> None:
    async def callback() -> str:
        return "put"

    service = Service()
    service._stopped.set()
    result = await wrapped(service, callback(), asyncio.Event().wait())
    assert result.stopped
    assert result.done == []
    assert result.results == []


async def test_other_calls_are_mode_s_own(wrapped: Any) -> None:
    """One awaitable, or a timeout: ``wait_first`` unchanged (``Service.wait`` calls it so)."""
    flow = asyncio.Event()
    result = await wrapped(Service(), flow, timeout=0.01)
    own: Any = Service.wait_first
    assert result == await own(Service(), flow, timeout=0.01)  # timed out
    assert result.done == []
    assert result.stopped

    order: list[str] = []

    async def callback() -> str:
        order.append("callback")
        return "put"

    asyncio.get_running_loop().call_soon(order.append, "loop turned")
    result = await wrapped(Service(), callback(), flow.wait(), timeout=1.0)
    assert result.results == ["put"]
    assert order == ["loop turned", "callback"]  # in a task of mode's, not at once
