"""Broker security for a local or self-hosted cluster: TLS, SASL/SCRAM and ACLs.

``trm kafka up --secure`` calls :func:`provision_secure`; the SDK, gateway, hub
worker and auditor call :func:`client_config` (or :func:`default_client_config`)
to get the matching aiokafka settings.

What it sets up (files under ``<state>/kafka/security/``, directory 0700)::

    ca.pem  ca.key                 a local certificate authority (key 0600)
    broker.p12                     the brokers' key and certificate (PKCS#12, 0600)
    secrets.json                   keystore password and every SCRAM password (0600)
    credentials/<principal>.json   one principal's own client settings (0600),
                                   the file an operator hands to that country

Listeners, in secure mode:

* ``SECURE`` (SASL_SSL, SCRAM-SHA-512): every client and broker-to-broker
  traffic. There is no PLAINTEXT listener.
* ``CONTROLLER`` (SSL with client certificates required, bound to loopback):
  the KRaft quorum. Only holders of a CA-signed certificate (the brokers) get
  in, as principal ``broker``; clients never connect here. No ANONYMOUS
  super user is needed.

Principals (SCRAM user names, set at format time with ``--add-scram``): one per
country (its code, e.g. ``KH``), ``hub``, ``auditor``, ``admin`` (operator,
super user) and ``broker`` (inter-broker, super user).

ACLs (:func:`acl_bindings`) follow the writers and readers of the topic plan
(``hub.topics.Topics.plan``, docs/protocol.md section 8) with the
StandardAuthorizer, deny by default: a country writes only its outbox and
reads its inbox, its rejections, the audit topics and the registry; the hub
reads the outboxes and writes inboxes, rejections, quarantine and the audit
topics; the auditor only reads. Consumer groups are scoped by prefix (see
:func:`group_prefix`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.app.kafka import (
    SCRAM_MECHANISM,
    client_config_from_file,
    credentials_file,
    ssl_context,
)
from hub.errors import OperationalError, Reason, RequestError
from hub.home import StateDir
from hub.ops.broker import LocalCluster, create_topics
from hub.topics import (
    ADMIN,
    AUDITOR,
    BROKER,
    COMMIT_COUNTRIES,
    HUB,
    MIN_INSYNC_REPLICAS,
    REPLICAS,
    Topics,
    check_country,
    principal_of,
    principals,
)

__all__ = [
    "CLIENT_LISTENER",
    "CONTROLLER_LISTENER",
    "AclBinding",
    "Operation",
    "PatternType",
    "ResourceType",
    "SecureSetup",
    "SecurityMaterial",
    "acl_bindings",
    "apply_acls",
    "broker_properties",
    "client_config",
    "create_material",
    "describe_acls",
    "ensure_topics",
    "group_prefix",
    "load_material",
    "provision_secure",
    "scram_format_args",
    "security_dir",
    "start_secure_cluster",
    "wait_for_acls",
]

CLIENT_LISTENER: Final = "SECURE"
CONTROLLER_LISTENER: Final = "CONTROLLER"
_SUPER_USERS: Final = (ADMIN, BROKER)
_CERT_DAYS: Final = 825
_BROKER_HOSTS: Final = ("localhost", "127.0.0.1")
_KEYSTORE_ALIAS: Final = b"broker"


# --- ACL vocabulary (Kafka's wire codes) -----------------------------------


class ResourceType(IntEnum):
    """Kafka ``ResourceType`` codes."""

    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class PatternType(IntEnum):
    """Kafka ``PatternType`` codes."""

    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    """Kafka ``AclOperation`` codes. READ/WRITE imply DESCRIBE on the broker."""

    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


_ALLOW: Final = 3  # AclPermissionType.ALLOW; we never write DENY rules: deny is the default.


@dataclass(frozen=True, slots=True, order=True)
class AclBinding:
    """One ALLOW rule: ``principal`` may do ``operation`` on a resource (any host)."""

    principal: str
    resource_type: ResourceType
    resource_name: str
    pattern: PatternType
    operation: Operation

    @property
    def kafka_principal(self) -> str:
        return f"User:{self.principal}"

    def describe(self) -> str:
        """``User:KH WRITE TOPIC trm.KH.outbox (LITERAL)`` for logs and docs."""
        return (
            f"{self.kafka_principal} {self.operation.name} {self.resource_type.name} "
            f"{self.resource_name} ({self.pattern.name})"
        )


def group_prefix(
    principal: str, topics: Topics | None = None, hub_app_id: str | None = None
) -> str:
    """The consumer-group id prefix a principal may use.

    A country ``KH`` uses groups starting ``trm.KH.`` (e.g. ``trm.KH.inbox``),
    the auditor ``trm.auditor.``, the hub its Faust app id (default
    ``trm-hub-<namespace>``, as ``hub.app.main`` names it), which also prefixes
    Faust's internal topics.
    """
    t = topics or Topics()
    if principal == HUB:
        return hub_app_id or f"trm-hub-{t.namespace}"
    if principal == AUDITOR:
        return f"{t.namespace}.auditor."
    return f"{t.namespace}.{check_country(principal.upper())}."


def acl_bindings(
    topics: Topics | None = None,
    countries: Sequence[str] = COMMIT_COUNTRIES,
    *,
    hub_app_id: str | None = None,
) -> tuple[AclBinding, ...]:
    """The ALLOW rules of the topic plan (``Topics.plan``); everything else is denied.

    Args:
        topics: the namespace (``trm`` in production).
        countries: member countries; each gets its own three topics.
        hub_app_id: the Faust app id of the hub worker (its group id and the
            prefix of its internal changelog/repartition topics).

    Returns:
        The bindings, sorted, without duplicates.
    """
    t = topics or Topics()
    countries = tuple(check_country(c) for c in countries)
    lit, pre = PatternType.LITERAL, PatternType.PREFIXED
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    read = Operation.READ
    rules: set[AclBinding] = set()

    def allow(who: str, rtype: ResourceType, name: str, pat: PatternType, op: Operation) -> None:
        if who not in _SUPER_USERS:  # they need no rule (and get none)
            rules.add(AclBinding(who, rtype, name, pat, op))

    # Topics: exactly the writers and readers of the plan.
    for spec in t.plan(countries):
        for who in spec.writers:
            allow(who, topic, spec.name, lit, Operation.WRITE)
        for who in spec.readers:
            allow(who, topic, spec.name, lit, read)

    # Consumer groups, and the hub's Faust-internal changelog/repartition topics.
    for cc in countries:
        allow(principal_of(cc), group, group_prefix(cc, t), pre, read)
    app = group_prefix(HUB, t, hub_app_id)
    allow(HUB, group, app, pre, read)
    for op in (Operation.CREATE, read, Operation.WRITE, Operation.DESCRIBE_CONFIGS):
        allow(HUB, topic, app, pre, op)
    # The audit sequencer writes its leaves in transactions (hub.topics.leaf_writer).
    allow(HUB, ResourceType.TRANSACTIONAL_ID, app, pre, Operation.WRITE)
    allow(AUDITOR, group, group_prefix(AUDITOR, t), pre, read)
    return tuple(sorted(rules))


# --- certificates and secrets -------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecurityMaterial:
    """The CA, broker keystore and SCRAM passwords of one deployment, on disk."""

    directory: Path
    keystore_password: str = field(repr=False)
    passwords: Mapping[str, str] = field(repr=False)

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def keystore(self) -> Path:
        return self.directory / "broker.p12"

    @property
    def secrets_file(self) -> Path:
        return self.directory / "secrets.json"

    def credentials_file(self, principal: str) -> Path:
        return self.directory / "credentials" / f"{principal_of(principal)}.json"

    def password(self, principal: str) -> str:
        try:
            return self.passwords[principal_of(principal)]
        except KeyError:
            raise RequestError(
                Reason.UNAUTHENTICATED,
                f"expected one of the provisioned principals {sorted(self.passwords)}, "
                f"got {principal!r}",
            ) from None


def security_dir(state: StateDir) -> Path:
    """Where :func:`provision_secure` keeps its files for a state directory."""
    return state.security


def _write_secret(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (created 0600, never wider)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "trm-hub"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(hosts: Iterable[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _issue_ca(now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("trm-hub local CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=_CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _issue_broker(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: Iterable[str],
    now: dt.datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        # CN "broker": ssl.principal.mapping.rules turn it into User:broker on the
        # controller listener, where brokers authenticate with this certificate.
        .subject_name(_name(BROKER))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=_CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_san(hosts), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def create_material(
    directory: Path,
    *,
    countries: Sequence[str] = COMMIT_COUNTRIES,
    broker_hosts: Sequence[str] = _BROKER_HOSTS,
    now: dt.datetime | None = None,
) -> SecurityMaterial:
    """Create (or load, if present) the CA, broker keystore and SCRAM passwords.

    Idempotent: an existing directory is loaded, and a country missing from it
    gets a new password (the operator then adds its SCRAM user, see
    docs/operations.md). Secrets are random (256 bits), files are 0600.

    Args:
        directory: where to keep the files (created 0700).
        countries: member countries to create users for.
        broker_hosts: DNS names and IPs in the broker certificate.
        now: issuing time (default: the current UTC time).
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    wanted = principals(countries)
    if (directory / "secrets.json").exists():
        material = load_material(directory)
        missing = [p for p in wanted if p not in material.passwords]
        if not missing:
            return material
        passwords = dict(material.passwords)
        passwords.update({p: secrets.token_urlsafe(32) for p in missing})
        material = SecurityMaterial(directory, material.keystore_password, passwords)
        _write_secrets(material)
        return material

    issued_at = now or dt.datetime.now(dt.UTC)
    ca_key, ca_cert = _issue_ca(issued_at)
    broker_key, broker_cert = _issue_broker(ca_key, ca_cert, broker_hosts, issued_at)
    material = SecurityMaterial(
        directory,
        keystore_password=secrets.token_urlsafe(24),
        passwords={p: secrets.token_urlsafe(32) for p in wanted},
    )
    _write_secret(
        material.ca_key,
        ca_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    material.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_secret(
        material.keystore,
        pkcs12.serialize_key_and_certificates(
            _KEYSTORE_ALIAS,
            broker_key,
            broker_cert,
            [ca_cert],
            serialization.BestAvailableEncryption(material.keystore_password.encode()),
        ),
    )
    _write_secrets(material)
    return material


def _write_secrets(material: SecurityMaterial) -> None:
    doc = {"keystore_password": material.keystore_password, "users": dict(material.passwords)}
    _write_secret(material.secrets_file, json.dumps(doc, indent=2, sort_keys=True).encode())
    for principal, password in material.passwords.items():
        creds = {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": SCRAM_MECHANISM,
            "username": principal,
            "password": password,
            # The CA travels inside the file, so one file is all a country needs.
            "ca_pem": material.ca_cert.read_text(encoding="ascii"),
        }
        _write_secret(
            material.credentials_file(principal),
            json.dumps(creds, indent=2, sort_keys=True).encode(),
        )


def load_material(directory: Path) -> SecurityMaterial:
    """Load what :func:`create_material` wrote.

    Raises:
        OperationalError: CONFIG_INVALID when files are missing or malformed;
            KEY_FILE_INSECURE when a secret file is readable by others.
    """
    path = directory / "secrets.json"
    try:
        mode = path.stat().st_mode & 0o777
        doc = json.loads(path.read_text(encoding="utf-8"))
        keystore_password = doc["keystore_password"]
        users = doc["users"]
    except FileNotFoundError as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected broker security material in {directory} "
            "(run 'trm kafka up --secure'); found none",
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected {path} to hold keystore_password and users; it is malformed",
        ) from exc
    if mode & 0o077:
        raise OperationalError(
            Reason.KEY_FILE_INSECURE,
            f"expected {path} to be readable by its owner only (0600), found {mode:04o}",
        )
    if not isinstance(keystore_password, str) or not isinstance(users, dict):
        raise OperationalError(Reason.CONFIG_INVALID, f"expected strings in {path}")
    return SecurityMaterial(
        directory, keystore_password, {str(k): str(v) for k, v in users.items()}
    )


# --- broker side ----------------------------------------------------------------


def _jaas(principal: str, password: str) -> str:
    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{principal}" password="{password}";'
    )


def broker_properties(material: SecurityMaterial, *, mount: Path | None = None) -> dict[str, str]:
    """Security properties for every broker of the cluster (combined mode).

    The launcher supplies ``listeners``/``advertised.listeners`` with the
    listener names :data:`CLIENT_LISTENER` (client port) and
    :data:`CONTROLLER_LISTENER` (controller port) on 127.0.0.1; these
    properties map them to SASL_SSL and SSL and make ``SECURE`` the
    inter-broker listener. No PLAINTEXT listener remains.

    Args:
        material: the CA, keystore and passwords.
        mount: where the brokers see ``material.directory`` (a container path),
            if not where it is here.
    """
    base = mount or material.directory
    secure = CLIENT_LISTENER.lower()
    controller = CONTROLLER_LISTENER.lower()
    return {
        "listener.security.protocol.map": f"{CLIENT_LISTENER}:SASL_SSL,{CONTROLLER_LISTENER}:SSL",
        "inter.broker.listener.name": CLIENT_LISTENER,
        "controller.listener.names": CONTROLLER_LISTENER,
        "sasl.enabled.mechanisms": SCRAM_MECHANISM,
        "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
        f"listener.name.{secure}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": _jaas(
            BROKER, material.password(BROKER)
        ),
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(base / material.keystore.name),
        "ssl.keystore.password": material.keystore_password,
        "ssl.key.password": material.keystore_password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(base / material.ca_cert.name),
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
        # The quorum listener demands a CA-signed client certificate; its
        # CN=broker becomes User:broker (a super user). Clients use SCRAM.
        f"listener.name.{controller}.ssl.client.auth": "required",
        f"listener.name.{secure}.ssl.client.auth": "none",
        "ssl.principal.mapping.rules": "RULE:^CN=([a-z]+),O=trm-hub$/$1/,DEFAULT",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": ";".join(f"User:{p}" for p in _SUPER_USERS),
    }


def scram_format_args(material: SecurityMaterial) -> list[str]:
    """``kafka-storage format`` arguments that put every SCRAM user in the log.

    The passwords appear on the StorageTool's command line for the moment it
    runs (a local, single-user machine); a production cluster uses its
    operator's secret store instead (docs/operations.md).
    """
    args: list[str] = []
    for principal in sorted(material.passwords):
        args += [
            "--add-scram",
            f"{SCRAM_MECHANISM}=[name={principal},password={material.passwords[principal]}]",
        ]
    return args


# --- client side -----------------------------------------------------------------


def client_config(
    principal: str,
    *,
    state: StateDir | None = None,
    material: SecurityMaterial | None = None,
) -> dict[str, Any]:
    """aiokafka keyword arguments for ``principal`` on the secure listener.

    Pass either the state directory (reads that principal's credentials file)
    or loaded :class:`SecurityMaterial`.

    Raises:
        OperationalError: CONFIG_INVALID when no credentials exist for it.
    """
    if material is not None:
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": SCRAM_MECHANISM,
            "sasl_plain_username": principal_of(principal),
            "sasl_plain_password": material.password(principal),
            "ssl_context": ssl_context(material.ca_cert),
        }
    if state is None:
        raise RequestError(Reason.BAD_REQUEST, "expected a state directory or security material")
    return client_config_from_file(credentials_file(principal, state))


# --- applying ACLs through Kafka's Admin API (CreateAcls / DescribeAcls) ----------


def _create_acls_request(bindings: Sequence[AclBinding]) -> Any:
    """A CreateAcls request carrying every binding in one round trip.

    aiokafka 0.14 ships the protocol structs but no ``create_acls`` method, so
    we build the request ourselves and send it through its client.
    """
    from aiokafka.protocol.admin import CreateAclsRequest  # noqa: PLC0415

    class _BatchCreateAcls(CreateAclsRequest):  # type: ignore[misc]
        def __init__(self, rows: Sequence[AclBinding]) -> None:
            self._rows = rows

        def build(self, request_struct_class: Any) -> Any:
            if request_struct_class.API_VERSION < 1:
                return request_struct_class(
                    [
                        (
                            b.resource_type,
                            b.resource_name,
                            b.kafka_principal,
                            "*",
                            b.operation,
                            _ALLOW,
                        )
                        for b in self._rows
                        if b.pattern is PatternType.LITERAL
                    ]
                )
            return request_struct_class(
                [
                    (
                        b.resource_type,
                        b.resource_name,
                        b.pattern,
                        b.kafka_principal,
                        "*",
                        b.operation,
                        _ALLOW,
                    )
                    for b in self._rows
                ]
            )

    return _BatchCreateAcls(bindings)


async def _with_admin_client(bootstrap: str, config: Mapping[str, Any], fn: Any) -> Any:
    from aiokafka.client import AIOKafkaClient  # noqa: PLC0415
    from aiokafka.errors import KafkaError  # noqa: PLC0415

    client = AIOKafkaClient(bootstrap_servers=bootstrap, client_id="trm-security", **config)
    try:
        await client.bootstrap()
        node = client.get_random_node()
        return await fn(client, node)
    except KafkaError as exc:
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE, f"expected the broker at {bootstrap} to answer: {exc!r}"
        ) from exc
    finally:
        await client.close()


async def apply_acls(
    bootstrap: str,
    admin_config: Mapping[str, Any],
    bindings: Sequence[AclBinding],
    *,
    timeout_s: float = 30.0,
) -> None:
    """Create ``bindings`` on the cluster (idempotent: Kafka ignores repeats).

    Raises:
        OperationalError: KAFKA_UNAVAILABLE, or CONFIG_INVALID naming the first
            binding the broker refused.
    """

    async def send(client: Any, node: int) -> Any:
        return await client.send(node, _create_acls_request(bindings))

    response = await _with_admin_client(bootstrap, admin_config, send)
    for binding, (code, message) in zip(bindings, response.creation_responses, strict=True):
        if code != 0:
            raise OperationalError(
                Reason.CONFIG_INVALID,
                f"expected the broker to accept ACL {binding.describe()}; "
                f"it answered error {code}: {message}",
            )
    await wait_for_acls(bootstrap, admin_config, bindings, timeout_s=timeout_s)


async def wait_for_acls(
    bootstrap: str,
    admin_config: Mapping[str, Any],
    bindings: Sequence[AclBinding],
    *,
    timeout_s: float = 30.0,
) -> None:
    """Wait until every broker's authorizer holds ``bindings``.

    The controller commits ACLs to the metadata log; each broker applies them a
    moment later. A client that connects in between is refused, so callers
    wait here before handing out credentials.

    Raises:
        OperationalError: KAFKA_UNAVAILABLE when a broker still lacks some
            bindings after ``timeout_s``.
    """
    wanted = set(bindings)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    missing: set[AclBinding] = wanted
    while True:
        seen = await describe_acls(bootstrap, admin_config, every_broker=True)
        missing = wanted - seen
        if not missing:
            return
        if loop.time() > deadline:
            sample = sorted(missing)[0].describe()
            raise OperationalError(
                Reason.KAFKA_UNAVAILABLE,
                f"expected every broker to apply {len(wanted)} ACLs within {timeout_s}s; "
                f"{len(missing)} still missing (e.g. {sample})",
            )
        await asyncio.sleep(0.2)


async def describe_acls(
    bootstrap: str, admin_config: Mapping[str, Any], *, every_broker: bool = False
) -> set[AclBinding]:
    """Every ALLOW binding on the cluster (DescribeAcls with a match-any filter).

    With ``every_broker``, ask each broker and return only the bindings that
    all of them hold (each answers from its own authorizer).
    """
    from aiokafka.protocol.admin import DescribeAclsRequest  # noqa: PLC0415

    any_ = 1

    async def send(client: Any, node: int) -> Any:
        request = DescribeAclsRequest(any_, None, any_, None, None, any_, any_)
        nodes = [b.nodeId for b in client.cluster.brokers()] if every_broker else [node]
        return [await client.send(n, request) for n in nodes]

    responses = await _with_admin_client(bootstrap, admin_config, send)
    per_broker = [_allow_bindings(r) for r in responses]
    return set.intersection(*per_broker) if per_broker else set()


def _allow_bindings(response: Any) -> set[AclBinding]:
    if response.error_code != 0:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected DescribeAcls to succeed; the broker answered error "
            f"{response.error_code}: {response.error_message}",
        )
    found: set[AclBinding] = set()
    for rtype, rname, pattern, acls in response.resources:
        for principal, _host, op, permission in acls:
            if permission == _ALLOW and principal.startswith("User:"):
                found.add(
                    AclBinding(
                        principal.removeprefix("User:"),
                        ResourceType(rtype),
                        rname,
                        PatternType(pattern),
                        Operation(op),
                    )
                )
    return found


async def ensure_topics(
    bootstrap: str,
    admin_config: Mapping[str, Any],
    topics: Topics,
    countries: Sequence[str] = COMMIT_COUNTRIES,
    replication_factor: int = REPLICAS,
) -> None:
    """Create the plan's topics if missing (for Compose; Kubernetes uses KafkaTopics).

    The same plan and code as the local broker (``Topics.plan()``,
    ``hub.ops.broker.create_topics``); only replication and the in-sync minimum
    are the cluster's own.
    """
    await create_topics(
        bootstrap,
        topics.plan(countries),
        replication_factor=replication_factor,
        min_insync_replicas=min(MIN_INSYNC_REPLICAS, replication_factor),
        client_config=admin_config,
    )


# --- the whole thing, for `trm kafka up --secure` -------------------------------


@dataclass(frozen=True, slots=True)
class SecureSetup:
    """What a launcher needs to start a secure cluster, and what to do after.

    ``broker_properties`` go to every broker; ``format_args`` to the StorageTool
    of every node; once brokers answer, call :meth:`finish` with the bootstrap
    servers to create the ACLs.
    """

    material: SecurityMaterial
    broker_properties: Mapping[str, str]
    format_args: tuple[str, ...] = field(repr=False)
    bindings: tuple[AclBinding, ...]

    @property
    def admin_config(self) -> dict[str, Any]:
        return client_config(ADMIN, material=self.material)

    def client_config(self, principal: str) -> dict[str, Any]:
        return client_config(principal, material=self.material)

    async def finish(self, bootstrap: str) -> None:
        """Create the ACLs (call after the brokers are up)."""
        await apply_acls(bootstrap, self.admin_config, self.bindings)

    def finish_sync(self, bootstrap: str) -> None:
        asyncio.run(self.finish(bootstrap))


def provision_secure(
    state: StateDir,
    *,
    countries: Sequence[str] = COMMIT_COUNTRIES,
    topics: Topics | None = None,
    hub_app_id: str | None = None,
    broker_hosts: Sequence[str] = _BROKER_HOSTS,
) -> SecureSetup:
    """Create or load the security material under ``state`` and plan the ACLs.

    Nothing touches a broker here: the launcher starts the cluster with
    ``setup.broker_properties`` and ``setup.format_args``, then calls
    ``setup.finish(bootstrap)`` (or ``finish_sync``).
    """
    material = create_material(security_dir(state), countries=countries, broker_hosts=broker_hosts)
    return SecureSetup(
        material=material,
        broker_properties=broker_properties(material),
        format_args=tuple(scram_format_args(material)),
        bindings=acl_bindings(topics, countries, hub_app_id=hub_app_id),
    )


def start_secure_cluster(
    state: StateDir,
    *,
    topics: Topics | None = None,
    nodes: int = 1,
    data_dir: Path | None = None,
    heap: str = "512m",
) -> LocalCluster:
    """Provision and start a secure local cluster, as ``trm kafka up --secure`` does.

    Material and SCRAM users first (users exist before any client connects),
    then the brokers, the topics of the plan (as the admin principal) and the
    ACLs. A cluster that fails half-way is stopped again.
    """
    t = topics or Topics()
    setup = provision_secure(state, topics=t)
    cluster = LocalCluster(
        data_dir or state.kafka,
        nodes=nodes,
        extra_properties=setup.broker_properties,
        format_args=setup.format_args,
        client_listener=CLIENT_LISTENER,
        client_config=setup.admin_config,
        heap=heap,
    )
    cluster.start()
    try:
        asyncio.run(
            create_topics(
                cluster.bootstrap,
                t.plan(),
                replication_factor=min(3, nodes),
                min_insync_replicas=2 if nodes >= 3 else 1,
                client_config=setup.admin_config,
            )
        )
        setup.finish_sync(cluster.bootstrap)
    except BaseException:
        cluster.stop()
        raise
    return cluster
