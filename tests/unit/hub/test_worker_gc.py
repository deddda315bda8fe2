"""The running worker's garbage collector: what the start loaded frozen, the rest
collected at the worker's thresholds (hub.app.main.GC_THRESHOLDS); and what the
worker does per record before the core (its headers)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import faust
import pytest

from hub.app import main


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []

    def collect(*_: object) -> int:
        calls.append("collect")
        return 0

    monkeypatch.setattr(gc, "collect", collect)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "set_threshold", lambda *t: calls.append(("set_threshold", t)))
    return calls


def test_the_start_collects_then_freezes_then_sets_the_worker_thresholds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _recording(monkeypatch)
    main._freeze_what_start_loaded()
    expected: list[object] = ["collect", "freeze"]
    if main.GC_GENERATIONAL:
        expected.append(("set_threshold", main.GC_THRESHOLDS))
    assert calls == expected


def test_the_worker_freezes_only_once_the_hub_and_its_writer_are_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HubApp.on_start: Faust's start, the hub's (registry, recovered state), the
    writer connected and knowing its outputs' partitions, the freeze."""
    order: list[str] = []
    prepared: list[list[str]] = []

    async def faust_start(self: Any) -> None:
        order.append("faust")

    class Hub:
        async def ready(self) -> None:
            order.append("ready")

    async def prepare(topics: list[str]) -> None:
        order.append("writer")
        prepared.append(list(topics))

    monkeypatch.setattr(faust.App, "on_start", faust_start)
    monkeypatch.setattr(main, "_drop_spinner_logging", lambda: None)
    monkeypatch.setattr(main, "_the_hub", Hub)
    monkeypatch.setattr(main.WRITER, "prepare", prepare)
    monkeypatch.setattr(main, "_freeze_what_start_loaded", lambda: order.append("freeze"))
    asyncio.run(main.app.on_start())
    assert order == ["faust", "ready", "writer", "freeze"]
    (topics,) = prepared
    assert main.TOPICS.hub_state in topics
    assert main.TOPICS.decisions in topics
    assert {main.TOPICS.inbox(cc) for cc in main.COUNTRIES} <= set(topics)


def test_a_records_headers_go_to_the_core_as_aiokafka_made_them() -> None:
    """aiokafka's fetcher gives each record a tuple of (str, bytes) pairs, which
    Faust's message keeps: passed on as it is, not copied per record."""
    pairs = (("ce_id", b"1"), ("trm-x", None))
    assert main._headers(pairs) is pairs
    as_list = list(pairs)
    assert main._headers(as_list) is as_list
    assert list(main._headers({"ce_id": b"1"})) == [("ce_id", b"1")]
    assert list(main._headers(None)) == []
    assert list(main._headers(iter(pairs))) == list(pairs)
