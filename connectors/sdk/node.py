"""``CountryNode``: one country's connection to the hub over Kafka.

Publishing: validate, seal with the country's key, measure the envelope
against the hub's one size limit (``hub.wire.DEFAULT_MAX_SIZE``: OVERSIZED,
nothing sent), reserve the sequence number on disk, send to
``<ns>.<CC>.outbox`` keyed by case key with CloudEvents headers, with an
idempotent ``acks=all`` producer. Numbers continue after a restart; a refused
event uses none (a record the broker still refuses as too large is OVERSIZED
and gives its number back). What was sent is kept in the node's vault as what
it receives is (``direction: sent``; the longest retention the agreements held
give its flows), so the store holds this country's whole side of every case;
carrying out an erasure request erases this node's own copies of the case too.

Sealing is the default (protocol v2, ``docs/protocol.md`` 2.9): every field
but the policy attributes is encrypted to each recipient's seal key valid at
the event's creation time. The seal keys come from the registry topic
``<ns>.registry.seal-keys`` (read at start, and again when a recipient has no
key valid then: it rotated) or from a :class:`hub.sealkeys.SealKeyDirectory`
passed in. A recipient without one refuses the event (SEAL_KEY_MISSING)
before anything is sent or a sequence number used: never a fallback to v1.
An unsealed v1 event, readable by the hub, is sent only when asked for
(``unsealed=True``, for interop).

Receiving: read ``<ns>.<CC>.inbox``, and for each record run every recipient
check (:func:`hub.wire.open_envelope` with the CloudEvents headers and a
required hub attestation), check the copy was attested for this country, then
open a sealed event with this country's epoch keys (its :class:`Keyring`).
A record that fails is kept as an :class:`InboxRefusal` value (``node.refused``)
and logged by reason code only. When the signature and the attestation hold
but the opening finds the producer at fault (SEAL_MISMATCH, or
FIELD_TYPE_MISMATCH in a sealed value), the node also answers the producer,
once per event id (journaled), with a signed acknowledgement: status REJECTED,
reason ``"<CODE>: <detail>"``. A destroyed epoch key (KEY_DESTROYED) or a key
this node never held (SEAL_KEY_MISSING) is a refusal only: not the producer's
fault. Event ids already yielded are skipped, across restarts (``NodeStore``).
A trust list past its expiry is refused (TRUST_EXPIRED) when the node is made
and before it verifies what it reads.

Matching (:mod:`connectors.sdk.matching`, :mod:`connectors.sdk.evaluator`):
the node signs match messages with the same key and writes them to the hub's
match request topic (:meth:`CountryNode.send_match`), and reads its own match
topic as verified messages (:meth:`CountryNode.match_topic`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.app.kafka import Follower, require_topic
from hub.app.seal_registry import publish_seal_keys, read_seal_keys
from hub.audit.replay import ERASURE_DUE_MS
from hub.errors import (
    OperationalError,
    Reason,
    RequestError,
    SealError,
    TrmError,
    WireError,
)
from hub.home import StateDir, state_dir
from hub.keys import KeyDirectory, KeyRole, key_id_of, load_private_key, raw_public
from hub.matching.ceremony import MatchPublic, load_public
from hub.matching.messages import MatchMessage, open_message, seal_message
from hub.ops.provision import signed_seal_key_set
from hub.policy.agreement import Agreement, load_agreement_file
from hub.sealkeys import DAY_MS, Keyring, SealKey, SealKeyDirectory, SealKeySet
from hub.topics import Topics, check_country
from hub.trust import TrustList, load_trust_file
from hub.wire import (
    DEFAULT_MAX_SIZE,
    DeliveredEvent,
    Envelope,
    EventType,
    Header,
    cloudevents_headers,
    open_envelope,
    payload_from_json,
    payload_to_json,
    seal,
    unseal,
)

from .match_topic import MatchTopic
from .records import InboxPass, InboxRecord, InboxRefusal, Rejection
from .store import NodeStore
from .submission import Submission

__all__ = ["CountryNode"]

log = logging.getLogger("trm.node")


# Opening failures that only the producer can cause (the signature commits to
# every ciphertext and plaintext): the node answers them with a REJECTED
# acknowledgement. Anything else is refused without an answer.
PRODUCER_FAULTS = frozenset({Reason.SEAL_MISMATCH, Reason.FIELD_TYPE_MISMATCH})
# What the client or the broker says of a record too large to write: nothing was written.
TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _NotOpened(TrmError):
    """A verified, attested event whose sealed parts did not open, with what an answer needs."""

    def __init__(self, error: TrmError, delivered: DeliveredEvent) -> None:
        super().__init__(error.reason, error.detail)
        self.delivered = delivered

    @property
    def producer_at_fault(self) -> bool:
        return self.reason in PRODUCER_FAULTS


class CountryNode:
    """An async client of the hub for one country.

    Args:
        country: this node's country code.
        key: the country's private key, or the path of its 0600 key file.
        trust: the trust list (a :class:`hub.keys.KeyDirectory`) or its path.
        bootstrap: Kafka bootstrap servers.
        topics: topic names (a test namespace, or ``trm``).
        state: the state directory (``nodes/<CC>/`` holds this node's files).
        client_config: extra aiokafka settings (TLS/SASL from kafka_security).
        clock: milliseconds since the epoch; tests pass a fixed one.
        seal_keys: the recipients' seal keys to seal to; None (the default):
            read from the registry topic, and again after a rotation.
        keyring: this country's private epoch keys, to open what is sealed to
            it; None (the default): ``nodes/<CC>/seal-keys`` in ``state``.
    """

    def __init__(
        self,
        country: str,
        key: Ed25519PrivateKey | Path,
        trust: KeyDirectory | Path,
        bootstrap: str,
        *,
        topics: Topics | None = None,
        state: StateDir | Path | None = None,
        client_config: Mapping[str, Any] | None = None,
        clock: Callable[[], int] = _now_ms,
        seal_keys: SealKeyDirectory | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self.country = check_country(country)
        self._key = key if isinstance(key, Ed25519PrivateKey) else load_private_key(Path(key))
        if isinstance(trust, Path):
            trust = load_trust_file(trust)
        if isinstance(trust, TrustList):
            trust.check_fresh(clock())  # an expired list is refused at the door
        self.trust: KeyDirectory = trust
        own = key_id_of(raw_public(self._key.public_key()))
        if own not in {k.key_id for k in trust.keys_for(self.country, KeyRole.PRODUCER, clock())}:
            # Fail at the door: the hub would refuse every event signed with it.
            raise OperationalError(
                Reason.KEY_ROLE_NOT_ALLOWED,
                f"key {own[:16]}... is not a producer key of {self.country} valid now "
                "in the trust list (wrong country's key, revoked, or not yet listed)",
            )
        self.bootstrap = bootstrap
        self.topics = topics or Topics()
        sd = state if isinstance(state, StateDir) else state_dir(state)
        self._state = sd
        self._retention: dict[str, Agreement] | None = None  # by id@version, loaded once
        self._match_public: MatchPublic | None = None  # the ceremony's, loaded once
        self.store = NodeStore(sd.node(self.country))
        self.keyring = keyring if keyring is not None else Keyring.of(sd, self.country)
        self._seal_keys = seal_keys
        self._seal_keys_given = seal_keys is not None
        self._client = dict(client_config or {})
        self._clock = clock
        self._producer: AIOKafkaProducer | None = None
        self.refused: list[InboxRefusal] = []
        # Events this node has answered (acknowledged, or refused with a REJECTED one).
        self._answered = {str(e["event_id"]) for e in self.store.journal("ack")}
        # Erasure requests this node has carried out and confirmed.
        self._erased = {str(e["request_event_id"]) for e in self.store.journal("erasure")}

    def __repr__(self) -> str:  # never shows the key
        return f"CountryNode({self.country!r}, topics={self.topics.namespace!r})"

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            **self._client,
        )
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise OperationalError(
                Reason.KAFKA_UNAVAILABLE, f"cannot reach Kafka at {self.bootstrap}: {exc}"
            ) from exc
        self._producer = producer
        if self._seal_keys is None:
            try:
                await self.refresh_seal_keys()
            except BaseException:
                await self.stop()
                raise

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def __aenter__(self) -> CountryNode:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- seal keys ---------------------------------------------------------------

    @property
    def seal_keys(self) -> SealKeyDirectory | None:
        """The recipients' seal keys held now (None until first read from the registry)."""
        return self._seal_keys

    async def refresh_seal_keys(self) -> SealKeyDirectory:
        """Read the registry topic's seal-key sets again (a directory passed in is kept).

        Raises:
            TrustError: TRUST_EXPIRED (sets are verified against the trust list).
            OperationalError: KAFKA_UNAVAILABLE.
        """
        if self._seal_keys_given and self._seal_keys is not None:
            return self._seal_keys
        self._check_trust_fresh()
        directory = await read_seal_keys(self.bootstrap, self.topics, self.trust, self._client)
        self._seal_keys = directory
        return directory

    async def announce_seal_keys(self) -> SealKeySet | None:
        """Publish this country's last signed seal-key set (its keyring's) to the registry.

        What ``trm keys epoch rotate`` signed; publishing a version again is
        harmless (readers keep the newest). Returns None when the keyring holds
        no signed set yet (``trm keys epoch rotate --country CC``).

        Raises:
            TrustError: the set no longer verifies against the trust list.
            OperationalError: KAFKA_UNAVAILABLE.
        """
        signed = signed_seal_key_set(self.keyring, self.trust)
        if signed is None:
            return None
        try:
            await publish_seal_keys(self.bootstrap, self.topics, signed, self._client)
        except KafkaError as exc:
            raise OperationalError(
                Reason.KAFKA_UNAVAILABLE,
                f"{self.country}'s seal-key set was not confirmed by the broker: "
                f"{type(exc).__name__}",
            ) from exc
        return signed

    async def seal_keys_for(self, recipients: Sequence[str], at_ms: int) -> dict[str, SealKey]:
        """Each recipient's seal key valid at ``at_ms``.

        A recipient with none in the sets held means a rotation since they were
        read (or a first read): the registry is read once more.

        Raises:
            SealError: SEAL_KEY_MISSING naming the recipient.
            OperationalError: KAFKA_UNAVAILABLE (reading the registry).
        """
        directory = self._seal_keys or await self.refresh_seal_keys()
        try:
            return {r: directory.key_for(r, at_ms) for r in recipients}
        except SealError as exc:
            if exc.reason is not Reason.SEAL_KEY_MISSING or self._seal_keys_given:
                raise
        directory = await self.refresh_seal_keys()
        return {r: directory.key_for(r, at_ms) for r in recipients}

    # --- hit/no-hit matching ------------------------------------------------------

    @property
    def state(self) -> StateDir:
        """The state directory this node keeps its files in."""
        return self._state

    def now_ms(self) -> int:
        """This node's clock (milliseconds since the epoch)."""
        return self._clock()

    @property
    def client_config(self) -> dict[str, Any]:
        """The aiokafka settings this node connects with (TLS/SASL), for its own readers."""
        return dict(self._client)

    def match_public(self) -> MatchPublic:
        """The match key ceremony's public part in the state directory (read once).

        Raises:
            OperationalError: CONFIG_INVALID when there is none ('trm match ceremony').
        """
        if self._match_public is None:
            self._match_public = load_public(self._state.match_public)
        return self._match_public

    def open_match(self, data: bytes) -> MatchMessage:
        """Verify one match message against the trust list now, then decode it.

        Raises:
            TrmError: the refusal (see ``hub.matching.messages.open_message``).
        """
        self._check_trust_fresh()
        return open_message(data, self.trust, now_ms=self._clock())

    async def send_match(self, message: MatchMessage) -> None:
        """Sign ``message`` with this country's key and write it to the hub's match requests.

        Raises:
            RequestError: BAD_REQUEST when this country is not its sender.
            OperationalError: KAFKA_UNAVAILABLE when the broker did not confirm it.
        """
        if message.sender != self.country:
            raise RequestError(
                Reason.BAD_REQUEST,
                f"expected a match message from {self.country}, got one from {message.sender}",
            )
        raw = seal_message(message, self._key)
        await self.start()
        producer = self._producer
        if producer is None:  # start() either sets it or raises
            raise OperationalError(Reason.KAFKA_UNAVAILABLE, "producer did not start")
        try:
            await producer.send_and_wait(
                self.topics.match_requests, value=raw, key=message.message_id.encode()
            )
        except KafkaError as exc:
            raise OperationalError(
                Reason.KAFKA_UNAVAILABLE,
                f"a {message.kind} was not confirmed by the broker: {type(exc).__name__}",
            ) from exc

    def match_topic(self, start: Mapping[int, int] | None = None) -> MatchTopic:
        """This country's match topic as verified messages (``async with``).

        Args:
            start: the next offset per partition; None: from the end as of
                opening (the replies to what is sent after).
        """
        return MatchTopic(
            self.bootstrap,
            self.topics.match(self.country),
            self.open_match,
            client=self._client,
            start=start,
        )

    def match_replies(self) -> MatchTopic:
        """The replies to the match messages sent next (:mod:`connectors.sdk.matching`)."""
        return self.match_topic()

    # --- publish ---------------------------------------------------------------

    async def _prepare(
        self,
        submission: Submission,
        *,
        created_at_ms: int | None,
        event_id: str | None,
        unsealed: bool,
    ) -> tuple[dict[str, Any], int, dict[str, SealKey] | None]:
        """The Avro-form payload, the creation time and the seal keys (None: v1)."""
        if self.country in submission.recipients:
            raise RequestError(
                Reason.BAD_REQUEST, f"expected recipients other than {self.country} itself"
            )
        now = created_at_ms if created_at_ms is not None else self._clock()
        payload = payload_from_json(submission.event_type.value, submission.payload)
        # A throw-away v1 seal checks the payload and every header field before
        # the seal keys are looked up (which may read the registry topic).
        self._seal(submission, payload, now, None, sequence=1, event_id=event_id)
        seal_to = None if unsealed else await self.seal_keys_for(submission.recipients, now)
        return payload, now, seal_to

    def _seal(
        self,
        submission: Submission,
        payload: dict[str, Any],
        now: int,
        seal_to: dict[str, SealKey] | None,
        *,
        sequence: int,
        event_id: str | None,
    ) -> Envelope:
        return seal(
            submission.event_type,
            payload,
            producer=self.country,
            key=self._key,
            recipients=submission.recipients,
            purpose=submission.purpose,
            handling=submission.handling,
            case_key=submission.case_key,
            sequence=sequence,
            created_at_ms=now,
            event_id=event_id or submission.event_id,
            correlation_id=submission.correlation_id,
            seal_to=seal_to,
        )

    @staticmethod
    def _check_size(envelope: Envelope) -> bytes:
        """The envelope's bytes, refused OVERSIZED past the hub's one limit.

        The hub refuses a larger envelope (hub.wire.DEFAULT_MAX_SIZE, what
        ``Envelope.from_bytes`` allows); measured before a sequence number is
        taken or anything is sent.
        """
        raw = envelope.to_bytes()
        if len(raw) > DEFAULT_MAX_SIZE:
            h = envelope.header
            raise WireError(
                Reason.OVERSIZED,
                f"expected a {h.event_type} envelope of at most {DEFAULT_MAX_SIZE} bytes (the "
                f"hub's limit), got {len(raw)} once {'sealed' if envelope.is_sealed else 'signed'}"
                "; nothing was sent",
            )
        return raw

    async def check(
        self,
        submission: Submission,
        *,
        created_at_ms: int | None = None,
        event_id: str | None = None,
        unsealed: bool = False,
    ) -> dict[str, Any]:
        """Validate a submission fully as :meth:`publish` would; return the Avro-form payload.

        Sealed (the default): every recipient must have a seal key valid at the
        creation time. The envelope is sealed and measured as it would be sent.

        Raises:
            RequestError: BAD_REQUEST when addressed to this country itself.
            WireError: INVALID_PAYLOAD naming the field, INVALID_HEADER,
                OVERSIZED when the envelope would exceed the hub's size limit.
            SealError: SEAL_KEY_MISSING naming the recipient without a seal key.
            OperationalError: KAFKA_UNAVAILABLE (reading the registry's seal keys).
        """
        payload, now, seal_to = await self._prepare(
            submission, created_at_ms=created_at_ms, event_id=event_id, unsealed=unsealed
        )
        sequence = self.store.last_sequence() + 1
        self._check_size(
            self._seal(submission, payload, now, seal_to, sequence=sequence, event_id=event_id)
        )
        return payload

    async def publish(
        self,
        submission: Submission,
        *,
        event_id: str | None = None,
        created_at_ms: int | None = None,
        unsealed: bool = False,
    ) -> str:
        """Seal and send one event; return its event id once the broker has it.

        Sealed to the recipients' seal keys (protocol v2) unless ``unsealed``:
        a v1 event whose values the hub and the broker can read, for interop only.

        Raises:
            RequestError / WireError: the submission or payload is invalid;
                WireError OVERSIZED when the envelope exceeds the hub's size
                limit (hub.wire.DEFAULT_MAX_SIZE), or the broker refused the
                record as too large.
            SealError: SEAL_KEY_MISSING, a recipient has no seal key valid now.
            OperationalError: KAFKA_UNAVAILABLE when the send failed.
            (A refused submission sends nothing and uses no sequence number.)
        """
        payload, now, seal_to = await self._prepare(
            submission, created_at_ms=created_at_ms, event_id=event_id, unsealed=unsealed
        )
        await self.start()  # an unreachable broker costs no sequence number
        # Sealed and measured with the number it will carry, before that number is taken.
        sequence = self.store.last_sequence() + 1
        envelope = self._seal(
            submission, payload, now, seal_to, sequence=sequence, event_id=event_id
        )
        raw = self._check_size(envelope)
        reserved = self.store.reserve_sequence()
        if reserved != sequence:  # pragma: no cover - one writer per store (NodeStore)
            self.store.release_sequence(reserved)
            raise OperationalError(
                Reason.CONFIG_INVALID,
                f"sequence file of {self.country} changed while sealing: another process "
                "uses this node's state directory",
            )
        try:
            await self._send(envelope.header, raw)
        except WireError:  # the broker refused the record whole: nothing carries the number
            self.store.release_sequence(sequence)
            raise
        due_field = submission.event_type.spec.due_field
        planned = submission.payload.get(due_field) if due_field else None
        self.store.record(
            {
                "kind": "sent",
                "event_id": envelope.header.event_id,
                "type": submission.event_type.value,
                "to": list(submission.recipients),
                "case_key": submission.case_key,
                "created_at_ms": now,
                "sequence": sequence,
                "correlation_id": submission.correlation_id,
                "sealed": seal_to is not None,
                # A follow-up needs the registered due time (a handover's planned
                # time); it is not personal data.
                "planned_at_ms": planned if isinstance(planned, int) else None,
            }
        )
        try:
            self._keep_sent(envelope, payload)
        except (OSError, TrmError) as exc:  # sent already: a failed copy must not look unsent
            log.warning(
                "event %s was sent but not kept in the vault: %s",
                envelope.header.event_id,
                getattr(exc, "reason", type(exc).__name__),
            )
        return envelope.header.event_id

    def _keep_sent(self, envelope: Envelope, payload: Mapping[str, Any]) -> None:
        """Keep the plaintext this node sent in its vault, as the recipients' copies are kept.

        The node's store so holds its whole side of every case (what it sent and
        what it received), for its case book, its statistics and its desk. It is
        kept as long as the longest retention the agreements held give the
        flows it went along (None: until erased), and erased with the case.
        """
        h = envelope.header
        record = {
            "event_id": h.event_id,
            "type": h.event_type.value,
            "from": self.country,
            "to": list(h.recipients),
            "created_at_ms": h.created_at_ms,
            "case_key": h.case_key,
            "purpose": h.purpose,
            "handling": h.handling,
            "correlation_id": h.correlation_id,
            "sequence": h.sequence,
            "fields": {k: v for k, v in payload_to_json(payload).items() if v is not None},
            "withheld": [],
            "event_digest": envelope.event_digest.hex(),
            "agreement": None,
            "attested_at_ms": None,
            "direction": "sent",
        }
        days = [
            self._longest_retention(self.country, recipient, h.event_type.value)
            for recipient in h.recipients
        ]
        kept = [d for d in days if d is not None]
        until = h.created_at_ms + max(kept) * DAY_MS if kept and len(kept) == len(days) else None
        self.store.keep(h.event_id, h.case_key, self.country, h.created_at_ms, until, record)

    async def _send(self, header: Header, value: bytes) -> None:
        if self._producer is None:
            await self.start()
        producer = self._producer
        if producer is None:  # start() either sets it or raises
            raise OperationalError(Reason.KAFKA_UNAVAILABLE, "producer did not start")
        try:
            await producer.send_and_wait(
                self.topics.outbox(self.country),
                value=value,
                key=header.case_key.encode(),
                headers=cloudevents_headers(header),
            )
        except TOO_LARGE as exc:  # the client's or a topic's limit below the hub's: not Kafka down
            raise WireError(
                Reason.OVERSIZED,
                f"event {header.event_id} of {len(value)} bytes was refused as too large "
                f"({type(exc).__name__}): the outbox topic's max.message.bytes must allow "
                f"the hub's limit of {DEFAULT_MAX_SIZE} bytes; nothing was sent",
            ) from exc
        except KafkaError as exc:
            raise OperationalError(
                Reason.KAFKA_UNAVAILABLE,
                f"event {header.event_id} was not confirmed by the broker: {type(exc).__name__}",
            ) from exc

    async def acknowledge(
        self,
        record: InboxRecord,
        *,
        status: str = "RECEIVED",
        reason: str | None = None,
        organisation: Mapping[str, str] | None = None,
        text: Sequence[Mapping[str, str]] | None = None,
        unsealed: bool = False,
    ) -> str:
        """Send an acknowledgement of ``record`` back to its producer; return its id.

        Sealed like any event, unless ``unsealed``.
        """
        return await self._acknowledge(
            event_id=record.event_id,
            event_digest=record.event_digest,
            producer=record.producer,
            purpose=record.purpose,
            handling=record.handling,
            case_key=record.case_key,
            status=status,
            reason=reason,
            organisation=organisation,
            text=text,
            unsealed=unsealed,
        )

    async def _acknowledge(
        self,
        *,
        event_id: str,
        event_digest: str,
        producer: str,
        purpose: str,
        handling: str,
        case_key: str,
        status: str,
        reason: str | None,
        organisation: Mapping[str, str] | None = None,
        text: Sequence[Mapping[str, str]] | None = None,
        unsealed: bool = False,
    ) -> str:
        now = self._clock()
        payload: dict[str, Any] = {
            "acknowledged_event_id": event_id,
            "acknowledged_event_digest": event_digest,
            "status": status,
            "reason": reason,
            "acknowledged_at": now,
            "acknowledging_organisation": dict(organisation) if organisation else None,
            "text": [dict(t) for t in text] if text else None,
        }
        submission = Submission(
            event_type=EventType.ACKNOWLEDGEMENT,
            recipients=(producer,),
            purpose=purpose,
            handling=handling,
            case_key=case_key,
            payload=payload,
            correlation_id=event_id,
        )
        ack_id = await self.publish(submission, created_at_ms=now, unsealed=unsealed)
        entry: dict[str, Any] = {
            "kind": "ack",
            "event_id": event_id,
            "ack_event_id": ack_id,
            "status": status,
            "at_ms": now,
        }
        if status == "REJECTED" and reason is not None:
            entry["reason"] = reason.split(":", 1)[0]  # the code only: the journal holds no detail
        self.store.record(entry)
        self._answered.add(event_id)
        return ack_id

    async def _answer_producer_fault(self, fault: _NotOpened) -> str | None:
        """Tell the producer once that its event did not open: a REJECTED acknowledgement.

        Returns the acknowledgement's id, or None when this event was answered
        before (the journal says so, across restarts).

        Raises:
            OperationalError: KAFKA_UNAVAILABLE (the record is read again later).
        """
        header = fault.delivered.event.header
        if header.event_id in self._answered:
            return None
        return await self._acknowledge(
            event_id=header.event_id,
            event_digest=fault.delivered.event.envelope.event_digest.hex(),
            producer=header.producer,
            purpose=header.purpose,
            handling=header.handling,
            case_key=header.case_key,
            status="REJECTED",
            reason=f"{fault.reason}: {fault.detail}",
        )

    # --- reading -----------------------------------------------------------------

    async def _records(
        self,
        topic: str,
        *,
        follow: bool,
        start: Mapping[int, int] | None = None,
        poll_ms: int = 500,
    ) -> AsyncIterator[Any]:
        # resume where this node stopped reading (a cursor, not a filter)
        cursor = {TopicPartition(topic, p): o for p, o in (start or {}).items()}
        follower = Follower(self.bootstrap, [topic], start=cursor, group_id=None, **self._client)
        try:
            until = await follower.ends()
            require_topic(follower, topic)
            async for batch in follower.records(until=until, follow=follow, timeout_ms=poll_ms):
                for msg in batch:
                    yield msg
        finally:
            await follower.close()

    def _check_trust_fresh(self) -> None:
        if isinstance(self.trust, TrustList):
            self.trust.check_fresh(self._clock())

    def _open(self, msg: Any) -> InboxRecord:
        delivered = open_envelope(
            msg.value or b"",
            self.trust,
            kafka_headers=list(msg.headers or ()),
            require_attestation=True,
            recipient=self.country,
        )
        # Verified and attested: what fails from here on is in the sealed parts
        # (open_envelope's last step, apart so that a producer's fault is known).
        try:
            event = unseal(
                delivered.event, recipient=self.country, private_key=self.keyring.private
            )
        except TrmError as exc:
            raise _NotOpened(exc, delivered) from None
        return InboxRecord.from_delivered(
            DeliveredEvent(event, delivered.attestation), msg.partition, msg.offset
        )

    async def _pass(
        self, *, follow: bool, include_seen: bool
    ) -> AsyncGenerator[tuple[Any, InboxRecord | None], None]:
        """Each inbox record read, with the event to show from it (None: refused or not new).

        Opens, refuses (answering a producer at fault), keeps in the vault and
        carries out erasure requests; marks nothing and moves no cursor.
        """
        self._check_trust_fresh()
        started_here = self._producer is None  # an answer to a producer may start it
        this_pass: set[str] = set()
        cursor = None if include_seen else self.store.cursor()
        dropped = self.store.drop_expired(self._clock())
        if dropped:
            log.info("dropped %d opened events past their retention", len(dropped))
        try:
            inbox = self.topics.inbox(self.country)
            async for msg in self._records(inbox, follow=follow, start=cursor):
                self._check_trust_fresh()  # a list may expire while following
                try:
                    record = self._open(msg)
                except TrmError as exc:
                    self.refused.append(await self._refuse(msg, exc))
                    record = None
                if record is not None:
                    record = await self._keep(record)
                fresh = (
                    record is not None
                    and record.event_id not in this_pass
                    and (include_seen or not self.store.seen(record.event_id))
                )
                if record is not None:
                    this_pass.add(record.event_id)
                yield msg, record if fresh else None
        finally:
            if started_here and self._producer is not None:
                await self.stop()

    async def inbox(
        self, *, follow: bool = False, include_seen: bool = False, mark_seen: bool = True
    ) -> AsyncGenerator[InboxRecord, None]:
        """Verified events delivered to this country, oldest first.

        Skips event ids yielded before (across restarts) unless
        ``include_seen``; a duplicate delivery within one pass is always
        skipped. Without ``include_seen`` reading resumes from the node's
        saved cursor (next offset per partition). Without ``follow`` it stops
        at the end of the topic. A record is marked seen (and the cursor moved
        past it) only when the caller comes back for the next one: handle (show)
        each record before asking for the next. To show a whole pass at once,
        use :meth:`read_inbox` and :meth:`mark_shown`.

        Raises:
            TrustError: TRUST_EXPIRED when the trust list is past its expiry,
                before reading or at the next record. Nothing is verified
                against a stale list, and the cursor stays before the first
                record not read, so a renewed list reads on from there.
        """
        save = mark_seen and not include_seen
        try:
            async with contextlib.aclosing(
                self._pass(follow=follow, include_seen=include_seen)
            ) as records:
                async for msg, record in records:
                    if record is not None:
                        yield record
                        # Marked only when the caller comes back for the next one: a
                        # crash while handling a record shows it again after restart.
                        if mark_seen:
                            self.store.mark_seen(record.event_id)
                    if save:
                        self.store.advance(msg.partition, msg.offset + 1)
        finally:
            if save:
                self.store.flush_cursor()

    async def read_inbox(self, *, include_seen: bool = False) -> InboxPass:
        """Read the inbox to its end, marking nothing: show the pass, then :meth:`mark_shown`.

        As :meth:`inbox` without ``follow``; the events come back together, so
        a table of them can be written before any counts as seen.

        Raises:
            TrustError: TRUST_EXPIRED, as :meth:`inbox` (nothing is marked).
            OperationalError: KAFKA_UNAVAILABLE.
        """
        refused_before = len(self.refused)
        records: list[InboxRecord] = []
        ends: dict[int, int] = {}
        async with contextlib.aclosing(
            self._pass(follow=False, include_seen=include_seen)
        ) as stream:
            async for msg, record in stream:
                if record is not None:
                    records.append(record)
                ends[msg.partition] = max(ends.get(msg.partition, 0), msg.offset + 1)
        return InboxPass(tuple(records), tuple(self.refused[refused_before:]), ends)

    def mark_shown(self, shown: InboxPass) -> None:
        """Mark a pass's events seen and move the cursor past all it read (once shown)."""
        for record in shown.records:
            self.store.mark_seen(record.event_id)
        for partition, next_offset in shown.next_offsets.items():
            self.store.advance(partition, next_offset)
        self.store.flush_cursor()

    async def _keep(self, record: InboxRecord) -> InboxRecord | None:
        """Keep an opened record in the vault, carry out an erasure request; None: erased.

        A record of a case this node erased for its producer is neither kept
        nor shown (a late copy); an erasure request is carried out and
        confirmed once, then shown like any event.
        """
        if record.event_type == EventType.ERASURE_REQUEST.value:
            if record.event_id not in self._erased:
                await self._carry_out_erasure(record)
            return record
        if self.store.is_erased(record.case_key, record.producer):
            return None
        if self.store.vault_entry(record.event_id) is None:
            days = self._retention_days(record)
            until = None if days is None else record.created_at_ms + days * DAY_MS
            self.store.keep(
                record.event_id,
                record.case_key,
                record.producer,
                record.created_at_ms,
                until,
                record.to_json(),
            )
        return record

    def agreements(self) -> dict[str, Agreement]:
        """The agreements in the state directory (``agreements/*.yaml``) by ``id@version``.

        Read once; one that does not load is logged by reason code and left out.
        """
        if self._retention is None:
            self._retention = {}
            for path in sorted(self._state.agreements.glob("*.yaml")):
                try:
                    loaded = load_agreement_file(path).agreement
                except TrmError as error:
                    log.warning("agreement %s not read: %s", path.name, error.reason)
                    continue
                self._retention[loaded.ref] = loaded
        return self._retention

    def _retention_days(self, record: InboxRecord) -> int | None:
        """How long the agreement that delivered ``record`` lets this node keep it.

        The retention of the flow it went under (``Agreement.flow_for``, the
        policy engine's choice), from the agreements in the state directory, by
        the attestation's ``id@version``; None (kept until erased) when the node
        does not hold that agreement.
        """
        agreement = self.agreements().get(record.agreement)
        if agreement is None:
            return None
        flow = agreement.flow_for(record.producer, self.country, record.event_type)
        return flow.retention_days if flow is not None else None

    def _longest_retention(self, sender: str, recipient: str, event_type: str) -> int | None:
        """The longest retention any agreement held gives a flow; None: none held names it."""
        return max(
            (
                f.retention_days
                for a in self.agreements().values()
                for f in a.flows_for(sender, recipient, event_type)
            ),
            default=None,
        )

    async def _carry_out_erasure(self, request: InboxRecord) -> None:
        """Erase what this node holds of the request's case and confirm it, once.

        Raises:
            OperationalError: KAFKA_UNAVAILABLE (the inbox stops before the
                request, so a later read confirms it; the erasure itself is done).
        """
        now = self._clock()
        erased = self.store.erase_case(request.case_key, request.producer, now)
        # What this node sent of the case goes with it (its own copies, never listed).
        own = self.store.erase_case(request.case_key, self.country, now)
        if own:
            log.info("erased %d events this node sent of the case", len(own))
        payload: dict[str, Any] = {
            "request_event_id": request.event_id,
            "request_event_digest": request.event_digest,
            "status": "ERASED" if erased else "NOTHING_HELD",
            "erased_event_ids": erased,
            "erased_at": now,
        }
        confirmation = Submission(
            event_type=EventType.ERASURE_CONFIRMATION,
            recipients=(request.producer,),
            purpose=request.purpose,
            handling=request.handling,
            case_key=request.case_key,
            payload=payload,
            correlation_id=request.event_id,
        )
        try:
            sent = await self.publish(confirmation, created_at_ms=now)
        except OperationalError:
            raise
        except TrmError as error:  # e.g. the requester has no seal key: logged, retried next read
            log.warning("could not confirm erasure %s: %s", request.event_id, error.reason)
            return
        self.store.record(
            {
                "kind": "erasure",
                "request_event_id": request.event_id,
                "confirmation_event_id": sent,
                "case_key": request.case_key,
                "producer": request.producer,
                "erased": len(erased),
                "at_ms": now,
            }
        )
        self._erased.add(request.event_id)
        log.info("erasure %s carried out (%d events), confirmed", request.event_id, len(erased))

    async def request_erasure(
        self, case_key: str, *, reason: str = "DATA_SUBJECT_REQUEST", unsealed: bool = False
    ) -> str:
        """Ask every country this node sent the case to to erase it; return the request's id.

        The recipients and event ids come from this node's journal. Each
        recipient erases what it holds of the case and answers with an
        erasure confirmation; ``trm audit replay`` shows which have.

        Raises:
            RequestError: NOT_FOUND when this node sent nothing of the case.
        """
        sent = [
            e
            for e in self.store.journal("sent")
            if e.get("case_key") == case_key
            and e.get("type") not in (EventType.ERASURE_REQUEST.value, "acknowledgement")
        ]
        recipients = sorted({str(r) for e in sent for r in e.get("to", [])})
        if not recipients:
            raise RequestError(
                Reason.NOT_FOUND,
                f"expected events of the case this node sent; {self.country} sent none",
            )
        now = self._clock()
        request = Submission(
            event_type=EventType.ERASURE_REQUEST,
            recipients=tuple(recipients),
            purpose=EventType.ERASURE_REQUEST.spec.default_purpose,
            handling="H2",
            case_key=case_key,
            payload={
                "event_ids": [str(e["event_id"]) for e in sent],
                "reason": reason,
                "requested_at": now,
                "due_at": now + ERASURE_DUE_MS,
            },
        )
        return await self.publish(request, created_at_ms=now, unsealed=unsealed)

    async def _refuse(self, msg: Any, exc: TrmError) -> InboxRefusal:
        """The refusal of one inbox record; a producer at fault is answered (once)."""
        log.warning("inbox record %d:%d refused: %s", msg.partition, msg.offset, exc.reason)
        if not isinstance(exc, _NotOpened):
            return InboxRefusal(msg.partition, msg.offset, exc.reason, exc.detail)
        event_id = exc.delivered.event.header.event_id
        answer: str | None = None
        if not exc.producer_at_fault:
            return InboxRefusal(msg.partition, msg.offset, exc.reason, exc.detail, event_id)
        try:
            answer = await self._answer_producer_fault(exc)
        except OperationalError:
            raise  # the broker: stop before this record, so a later read answers it
        except TrmError as error:  # e.g. the producer has no seal key: logged, not retried
            log.warning("could not answer event %s: %s", event_id, error.reason)
        if answer is not None:
            log.info("answered event %s with REJECTED acknowledgement %s", event_id, answer)
        return InboxRefusal(
            msg.partition, msg.offset, exc.reason, exc.detail, event_id=event_id, answer=answer
        )

    async def rejections(self, *, follow: bool = False) -> AsyncIterator[Rejection]:
        """The hub's refusals of this node's events, oldest first."""
        async for msg in self._records(self.topics.rejections(self.country), follow=follow):
            try:
                yield Rejection.from_bytes(msg.value or b"")
            except RequestError as exc:
                log.warning(
                    "rejection record %d:%d unreadable: %s", msg.partition, msg.offset, exc.reason
                )
