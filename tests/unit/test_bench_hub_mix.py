"""``bench_hub``'s case keys spread the mix's work evenly over the workers that
share its outbox partitions, and ``backlog_shares`` says how it was split."""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

from aiokafka.partitioner import DefaultPartitioner

from hub.topics import OUTBOX_PARTITIONS, Topics
from tests.bench.bench_hub import MIX, Event, backlog_shares, case_key

EVENTS = 60_000  # bench_hub's default backlog
TOPICS = Topics("ns")
PARTITIONS = list(range(OUTBOX_PARTITIONS))


def _backlog(key_of: Callable[[int], str] = case_key) -> list[Event]:
    return [Event(MIX[i % len(MIX)][0], key_of(i).encode(), b"", (), "") for i in range(EVENTS)]


def _held(split: tuple[int, ...]) -> list[tuple[str, ...]]:
    """Two workers, the first holding partitions ``split`` of both outboxes (Faust
    assigns co-subscribed topics of one partition count as co-partitioned)."""
    rest = [p for p in range(OUTBOX_PARTITIONS) if p not in split]
    return [
        tuple(f"{TOPICS.outbox(c)}/{p}" for c in ("TH", "VN") for p in parts)
        for parts in (split, rest)
    ]


def _splits() -> list[tuple[int, ...]]:
    half = OUTBOX_PARTITIONS // 2
    return [s for s in combinations(range(OUTBOX_PARTITIONS), half) if 0 in s]


def test_every_split_of_the_partitions_gives_each_of_two_workers_half_the_work() -> None:
    backlog = _backlog()
    for split in _splits():
        shares = backlog_shares(backlog, _held(split), TOPICS)
        assert abs(sum(shares) - 1) < 1e-9
        assert max(shares) < 0.51, (split, shares)


def test_the_keys_before_left_one_worker_up_to_64_per_cent() -> None:
    """What the change mended: 64 keys for the whole mix, each always with one row."""
    backlog = _backlog(lambda i: f"case-{i % 64}")
    worst = max(max(backlog_shares(backlog, _held(s), TOPICS)) for s in _splits())
    assert worst > 0.6


def test_a_share_counts_each_event_once_and_each_of_its_copies() -> None:
    """A TH referral (one copy) weighs 2, a VN alert (four copies) 5; a partition
    nobody holds counts for nobody."""
    th, vn = b"th-key", b"vn-key"
    p_th = DefaultPartitioner()(th, PARTITIONS, PARTITIONS)
    p_vn = DefaultPartitioner()(vn, PARTITIONS, PARTITIONS)
    backlog = [Event("TH", th, b"", (), ""), Event("VN", vn, b"", (), "")]
    held = [(f"{TOPICS.outbox('TH')}/{p_th}",), (f"{TOPICS.outbox('VN')}/{p_vn}",)]
    assert backlog_shares(backlog, held, TOPICS) == [2 / 7, 5 / 7]
    assert backlog_shares(backlog, [held[0], ()], TOPICS) == [2 / 7, 0.0]
