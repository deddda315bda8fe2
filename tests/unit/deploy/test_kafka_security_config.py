"""Broker security configuration without a broker: ACL plan, properties, files."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from hub.app.kafka import (
    client_config_from_file,
    client_env,
    default_client_config,
    faust_credentials,
)
from hub.errors import OperationalError, Reason
from hub.ops import security as ks
from hub.topics import AUDITOR, COMMIT_COUNTRIES, HUB, Topics, principal_of, principals


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> ks.SecurityMaterial:
    return ks.create_material(tmp_path_factory.mktemp("sec") / "security")


def _allowed(bindings: tuple[ks.AclBinding, ...], who: str, op: ks.Operation, topic: str) -> bool:
    """Would the StandardAuthorizer allow it? (literal or prefix match, deny by default)."""
    who = principal_of(who)
    for b in bindings:
        if b.principal != who or b.resource_type is not ks.ResourceType.TOPIC:
            continue
        if b.operation not in (op, ks.Operation.ALL):
            continue
        if b.pattern is ks.PatternType.LITERAL and b.resource_name == topic:
            return True
        if b.pattern is ks.PatternType.PREFIXED and topic.startswith(b.resource_name):
            return True
    return False


def test_acl_plan_matches_design_topic_table() -> None:
    t = Topics()
    bindings = ks.acl_bindings(t)
    read, write = ks.Operation.READ, ks.Operation.WRITE
    for cc in COMMIT_COUNTRIES:
        assert _allowed(bindings, cc, write, t.outbox(cc))
        assert _allowed(bindings, cc, read, t.inbox(cc))
        assert _allowed(bindings, cc, read, t.rejections(cc))
        for shared in (t.audit_leaves, t.audit_checkpoints, t.registry_trust):
            assert _allowed(bindings, cc, read, shared)
        for shared in (t.audit_leaves, t.registry_trust):
            assert not _allowed(bindings, cc, write, shared)
        # A country may witness the log: it publishes cosigned checkpoints (docs/protocol.md §8).
        assert _allowed(bindings, cc, write, t.audit_checkpoints)
        assert not _allowed(bindings, cc, read, t.outbox(cc))  # only the hub reads outboxes
        assert not _allowed(bindings, cc, read, t.quarantine)
        assert not _allowed(bindings, cc, read, t.decisions)
        for other in COMMIT_COUNTRIES:
            if other == cc:
                continue
            assert not _allowed(bindings, cc, write, t.outbox(other))
            assert not _allowed(bindings, cc, read, t.inbox(other))
            assert not _allowed(bindings, cc, read, t.rejections(other))
            assert not _allowed(bindings, cc, write, t.inbox(other))
        assert _allowed(bindings, HUB, read, t.outbox(cc))
        assert not _allowed(bindings, HUB, write, t.outbox(cc))
        assert _allowed(bindings, HUB, write, t.inbox(cc))
        assert _allowed(bindings, HUB, write, t.rejections(cc))
    for name in (t.quarantine, t.audit_leaves, t.audit_checkpoints, t.decisions):
        assert _allowed(bindings, HUB, write, name)
    assert not _allowed(bindings, HUB, write, t.registry_trust)


def test_auditor_reads_everything_and_writes_nothing() -> None:
    t = Topics()
    bindings = ks.acl_bindings(t)
    for name in t.all():
        assert _allowed(bindings, AUDITOR, ks.Operation.READ, name), name
    assert all(b.operation is ks.Operation.READ for b in bindings if b.principal == AUDITOR)


def test_no_binding_is_a_wildcard_or_reaches_another_namespace() -> None:
    t = Topics("ns1")
    for b in ks.acl_bindings(t, hub_app_id="ns1-hub"):
        assert b.resource_name not in ("", "*")
        assert b.resource_name.startswith("ns1")
        if b.pattern is ks.PatternType.PREFIXED:
            # Prefixes are only for groups and the hub's own Faust topics.
            assert b.resource_type is ks.ResourceType.GROUP or b.principal == HUB
            assert b.resource_name.startswith(("ns1-hub", "ns1."))


def test_group_prefixes_keep_countries_apart() -> None:
    prefixes = {ks.group_prefix(cc) for cc in COMMIT_COUNTRIES}
    assert len(prefixes) == len(COMMIT_COUNTRIES)
    for a in prefixes:
        for b in prefixes - {a}:
            assert not a.startswith(b)


def test_a_new_country_gets_its_own_lane() -> None:
    t = Topics()
    bindings = ks.acl_bindings(t, (*COMMIT_COUNTRIES, "PH"))
    assert _allowed(bindings, "PH", ks.Operation.WRITE, t.outbox("PH"))
    assert _allowed(bindings, HUB, ks.Operation.READ, t.outbox("PH"))
    assert not _allowed(bindings, "PH", ks.Operation.READ, t.inbox("TH"))


def test_broker_properties_have_no_plaintext_and_deny_by_default(
    material: ks.SecurityMaterial,
) -> None:
    props = ks.broker_properties(material)
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    assert protocols == {ks.CLIENT_LISTENER: "SASL_SSL", ks.CONTROLLER_LISTENER: "SSL"}
    assert "PLAINTEXT" not in props["listener.security.protocol.map"]
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert "User:ANONYMOUS" not in props["super.users"]
    assert set(props["super.users"].split(";")) == {"User:admin", "User:broker"}
    assert Path(props["ssl.keystore.location"]).exists()


def test_material_files_are_private_and_valid(material: ks.SecurityMaterial) -> None:
    for path in (material.ca_key, material.keystore, material.secrets_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(material.directory.stat().st_mode) == 0o700
    for who in principals():
        assert stat.S_IMODE(material.credentials_file(who).stat().st_mode) == 0o600
    key, cert, cas = pkcs12.load_key_and_certificates(
        material.keystore.read_bytes(), material.keystore_password.encode()
    )
    assert key is not None
    assert cert is not None
    ca = x509.load_pem_x509_certificate(material.ca_cert.read_bytes())
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    assert [c.subject for c in cas] == [ca.subject]
    # Passwords are distinct and long.
    passwords = list(material.passwords.values())
    assert len(set(passwords)) == len(passwords) == len(principals())
    assert min(len(p) for p in passwords) >= 40


def test_material_is_loaded_again_not_regenerated(material: ks.SecurityMaterial) -> None:
    again = ks.create_material(material.directory)
    assert again.passwords == material.passwords
    assert again.keystore_password == material.keystore_password


def test_a_world_readable_secret_is_refused(tmp_path: Path) -> None:
    m = ks.create_material(tmp_path / "s")
    m.secrets_file.chmod(0o644)
    with pytest.raises(OperationalError) as err:
        ks.load_material(m.directory)
    assert err.value.reason is Reason.KEY_FILE_INSECURE
    m.credentials_file("KH").chmod(0o640)
    with pytest.raises(OperationalError) as err2:
        client_config_from_file(m.credentials_file("KH"))
    assert err2.value.reason is Reason.KEY_FILE_INSECURE


def test_client_config_for_a_principal(material: ks.SecurityMaterial) -> None:
    cfg = client_config_from_file(material.credentials_file("KH"))
    assert cfg["security_protocol"] == "SASL_SSL"
    assert cfg["sasl_mechanism"] == "SCRAM-SHA-512"
    assert cfg["sasl_plain_username"] == "kh"
    assert cfg["sasl_plain_password"] == material.passwords["kh"]
    assert cfg["ssl_context"].check_hostname
    doc = json.loads(material.credentials_file("KH").read_text())
    others = [pw for who, pw in material.passwords.items() if who != "kh"]
    assert not any(pw in json.dumps(doc) for pw in others)  # only its own secret
    assert doc["ca_pem"].startswith("-----BEGIN CERTIFICATE-----")


def test_scram_format_args_name_every_user(material: ks.SecurityMaterial) -> None:
    args = ks.scram_format_args(material)
    users = [a for a in args if a != "--add-scram"]
    assert args.count("--add-scram") == len(users) == len(principals())
    assert all(u.startswith("SCRAM-SHA-512=[name=") for u in users)


def test_default_client_config_is_plaintext_without_secure_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.home import StateDir

    monkeypatch.delenv("TRM_KAFKA_CLIENT_CONFIG", raising=False)
    assert default_client_config("KH", StateDir(tmp_path)) == {}
    setup = ks.provision_secure(StateDir(tmp_path))
    cfg = default_client_config("KH", StateDir(tmp_path))
    assert cfg["sasl_plain_password"] == setup.material.password("KH")
    monkeypatch.setenv("TRM_KAFKA_CLIENT_CONFIG", str(setup.material.credentials_file("TH")))
    assert default_client_config("KH", StateDir(tmp_path))["sasl_plain_username"] == "th"


def test_all_is_complete() -> None:
    public = {
        n
        for n in dir(ks)
        if not n.startswith("_") and getattr(getattr(ks, n), "__module__", None) == ks.__name__
    }
    assert public <= set(ks.__all__)
    assert all(hasattr(ks, n) for n in ks.__all__)


def test_hub_group_prefix_matches_the_hub_app_id() -> None:
    # hub.app.main names its Faust app (group id, internal topic prefix) trm-hub-<namespace>.
    assert ks.group_prefix(HUB, Topics("t1")) == "trm-hub-t1"
    bindings = ks.acl_bindings(Topics("t1"))
    hub_groups = [b for b in bindings if b.principal == HUB and b.resource_type.name == "GROUP"]
    assert [b.resource_name for b in hub_groups] == ["trm-hub-t1"]


def test_client_env_points_a_subprocess_at_its_own_file(tmp_path: Path) -> None:
    from hub.home import StateDir

    state = StateDir(tmp_path)
    assert client_env("hub", state) == {}
    ks.provision_secure(state)
    env = client_env("hub", state)
    cfg = client_config_from_file(Path(env["TRM_KAFKA_CLIENT_CONFIG"]))
    assert cfg["sasl_plain_username"] == "hub"
    creds = faust_credentials(cfg)
    assert creds.username == "hub"
    assert creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.protocol.value == "SASL_SSL"
    assert faust_credentials({}) is None
