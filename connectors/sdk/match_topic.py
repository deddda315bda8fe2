"""One country's match topic, read as verified match messages (the Kafka edge of matching).

The hub writes to ``<ns>.<CC>.match`` what is for that country: EVALUATE
requests for its evaluator, and the EVALUATION, REFUSED, ANSWER and
REGISTERED replies to what it asked. A :class:`MatchTopic` reads it from a
cursor or from its end as of opening (a requester wants only the replies to
what it sends next), verifies each record (``hub.matching.messages.open_message``)
and hands it out one at a time with a timeout. A record that does not verify
is data, not a crash: it is logged by reason code only and skipped (``next``),
or handed out as the error it is (``next_record``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from hub.app.kafka import Follower, require_topic
from hub.errors import OperationalError, Reason, TrmError
from hub.matching.messages import MatchMessage

__all__ = ["MatchRecord", "MatchTopic"]

log = logging.getLogger("trm.match")

_POLL_MS = 200


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """One record of the topic: where it was, and its message or why it was refused."""

    partition: int
    offset: int
    message: MatchMessage | TrmError


class MatchTopic:
    """Verified messages of one match topic, in order per partition.

    Args:
        bootstrap: Kafka bootstrap servers.
        topic: the topic (``Topics.match(country)``).
        opener: verifies and decodes one record's bytes (raises TrmError).
        client: aiokafka settings (credentials).
        start: the next offset per partition to read from; None: the end of
            each partition when :meth:`open` is called.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        opener: Callable[[bytes], MatchMessage],
        *,
        client: Mapping[str, Any] | None = None,
        start: Mapping[int, int] | None = None,
    ) -> None:
        self.bootstrap, self.topic, self._opener = bootstrap, topic, opener
        self._client = dict(client or {})
        self._start = None if start is None else dict(start)
        self._follower: Follower | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None

    async def open(self) -> MatchTopic:
        """Position the reader (at the cursor, or at the end now) and start reading.

        Raises:
            OperationalError: KAFKA_UNAVAILABLE, or the topic does not exist.
        """
        start = self._start
        if start is None:
            probe = Follower(self.bootstrap, [self.topic], **self._client)
            try:
                ends = await probe.ends()
                require_topic(probe, self.topic)
            finally:
                await probe.close()
            start = {tp.partition: offset for tp, offset in ends.items()}
        cursor = {TopicPartition(self.topic, p): o for p, o in start.items()}
        follower = Follower(self.bootstrap, [self.topic], start=cursor, **self._client)
        self._follower = follower
        await follower.ends()  # connects, finds the partitions and seeks
        require_topic(follower, self.topic)
        self._pump = asyncio.create_task(self._read(follower), name=f"read {self.topic}")
        return self

    async def _read(self, follower: Follower) -> None:
        try:
            async for batch in follower.records(follow=True, timeout_ms=_POLL_MS):
                for record in batch:
                    self._queue.put_nowait(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._queue.put_nowait(exc)

    async def next_record(self, timeout_s: float) -> MatchRecord | None:
        """The next record, verified or refused; None when ``timeout_s`` passes first.

        Raises:
            OperationalError: KAFKA_UNAVAILABLE when reading failed.
        """
        if self._pump is None:
            raise OperationalError(Reason.INTERNAL_ERROR, f"{self.topic} is read before open()")
        try:
            got = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            if timeout_s <= 0:
                return None
            try:
                got = await asyncio.wait_for(self._queue.get(), timeout=timeout_s)
            except TimeoutError:
                return None
        if isinstance(got, TrmError):
            raise got
        if isinstance(got, Exception):
            raise OperationalError(
                Reason.KAFKA_UNAVAILABLE, f"reading {self.topic} failed: {type(got).__name__}"
            ) from got
        try:
            message: MatchMessage | TrmError = self._opener(got.value or b"")
        except TrmError as error:
            message = error
        return MatchRecord(got.partition, got.offset, message)

    async def next(self, timeout_s: float) -> MatchMessage | None:
        """The next verified message; None when ``timeout_s`` passes first.

        A record that does not verify is logged (its place and reason code) and skipped.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            record = await self.next_record(deadline - loop.time())
            if record is None:
                return None
            if isinstance(record.message, MatchMessage):
                return record.message
            log.warning(
                "%s record %d:%d refused: %s",
                self.topic,
                record.partition,
                record.offset,
                record.message.reason,
            )

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump
            self._pump = None
        if self._follower is not None:
            await self._follower.close()
            self._follower = None

    async def __aenter__(self) -> MatchTopic:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
