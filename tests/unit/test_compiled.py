"""The hot modules compiled with mypyc (hub/compiled.py): in use, current, and deciding
exactly as their source does."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hub import compiled
from hub.audit.replay import Record, ReplayInput
from hub.conformance import wire
from hub.decision import SourceRef
from hub.errors import SealError
from hub.pipeline import Outcome, Registry, process
from hub.policy import decide
from hub.state import HubState
from hub.topics import Topics
from hub.wire import cloudevents_headers
from hub.wire.envelope import Envelope, Header
from hub.wire.fields import Fields
from hub.wire.verify import open_envelope
from tests.bench.bench_wire import mix_plan, seal_plan
from tests.support.audit import World, replay_input
from tests.support.examples import AGREEMENTS, TRUST, example_key
from tests.support.hub import HUB_KEY, WIRE_VECTORS, quarantined_original, wire_vector_outcome

REPO = Path(__file__).resolve().parents[2]
TOPICS = Topics("cc")
T0 = 1_772_323_200_000


def test_the_hot_modules_run_compiled() -> None:
    """``make`` builds them and every test run uses them (TRM_COMPILED=0 turns them off)."""
    if os.environ.get("TRM_COMPILED") == "0":
        assert compiled.STATUS == "off"
        return
    assert compiled.STATUS == "in use", compiled.STATUS
    for name in compiled.MODULES:
        module = sys.modules.get(name) or __import__(name, fromlist=["_"])
        # (mypyc names each module's file as if it sat in its package's directory)
        assert isinstance(module.__loader__, importlib.machinery.ExtensionFileLoader), name
        functions = [
            f
            for f in vars(module).values()
            if isinstance(f, types.FunctionType | types.BuiltinFunctionType)
            and f.__module__ == name
        ]
        methods = [  # a native class's (a module of records may have no functions)
            f
            for c in vars(module).values()
            if isinstance(c, type) and c.__module__ == name
            for f in vars(c).values()
            if isinstance(f, types.MethodDescriptorType)
        ]
        assert functions or methods, name
        assert all(isinstance(f, types.BuiltinFunctionType) for f in functions), name


def _outcome(outcome: Outcome) -> dict[str, Any]:
    """Everything an outcome says, as JSON: each effect's bytes, each decision's record."""
    return {
        "status": outcome.status,
        "event_id": outcome.event_id,
        "reason": None if outcome.reason is None else str(outcome.reason),
        "delivered_to": list(outcome.delivered_to),
        "refused": [[r, str(why)] for r, why in outcome.refused],
        "effects": [
            [
                str(e.effect_id),
                e.topic,
                None if e.key is None else e.key.hex(),
                (_quarantined(e.value) if e.topic == TOPICS.quarantine else e.value).hex(),
                [[k, v.hex()] for k, v in e.headers],
                e.digest,
            ]
            for e in outcome.effects
        ],
        "decisions": [d.to_json_bytes().decode() for d in outcome.decisions],
    }


def _quarantined(value: bytes) -> bytes:
    """A quarantine copy is sealed to its producer afresh each time: what it keeps."""
    try:
        return quarantined_original(value)
    except SealError:  # the producer had no seal key: only a digest and length, as written
        return value


def _wire_vectors() -> list[dict[str, Any]]:
    """Every wire vector through ``process`` (as tests/unit/hub/test_hub_wire_vectors.py)."""
    return [
        {"vector": path.name, **_outcome(wire_vector_outcome(path, TOPICS)[3])}
        for path in wire.vector_files(WIRE_VECTORS)
    ]


def mix_records() -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    """The benchmark's mix, each event twice (the second a replay from another
    offset), then each with single bytes changed (sealing draws ids and salts: made
    once, then handed to both sides)."""
    records = []
    for seq, plan in enumerate(mix_plan(T0), 1):
        producer = plan[0]
        env = seal_plan(
            plan, seq, example_key(producer), case_key="case-compiled", created_at_ms=T0
        )
        raw = env.to_bytes()
        headers = cloudevents_headers(env.header)
        records += [(producer, raw, headers)] * 2
        for i in range(1, 24):  # a byte in each part: header, signature, disclosures
            at = (i * 131) % len(raw)
            changed = raw[:at] + bytes([raw[at] ^ (1 << (i % 8))]) + raw[at + 1 :]
            records.append((producer, changed, headers))
    return records


def _mix(records: list[tuple[str, bytes, list[tuple[str, bytes]]]]) -> list[dict[str, Any]]:
    """``records`` under the real agreements, through one state."""
    registry = Registry(keys=TRUST, agreements=AGREEMENTS, decide=decide, version="mix")
    state = HubState()
    out = []
    for offset, (producer, raw, headers) in enumerate(records, 1):
        outcome = process(
            raw,
            headers,
            SourceRef(TOPICS.outbox(producer), 0, offset),
            topics=TOPICS,
            registry=registry,
            state=state,
            hub_key=HUB_KEY,
            now_ms=T0 + 1000,
            appended_at_ms=T0 + 500,
        )
        out.append(_outcome(outcome))
    return out


def outcomes(mix: str) -> str:
    """What ``process`` made of the corpus (the mix's records in the JSON file ``mix``),
    with the build :data:`hub.compiled.STATUS` names."""
    records = [
        (producer, bytes.fromhex(raw), [(k, bytes.fromhex(v)) for k, v in headers])
        for producer, raw, headers in json.loads(Path(mix).read_text(encoding="utf-8"))
    ]
    return json.dumps({"status": compiled.STATUS, "vectors": _wire_vectors(), "mix": _mix(records)})


def _here_and_from_source(function: str, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ``function`` of this module (taking a file, returning JSON) gives here, with
    the compiled modules, and in a child with TRM_COMPILED=0, from their source."""
    here: dict[str, Any] = json.loads(globals()[function](str(path)))
    code = f"from tests.unit.test_compiled import {function}; print({function}({str(path)!r}))"
    child = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "TRM_COMPILED": "0", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    there = json.loads(child.stdout)
    assert there["status"] == "off"
    if os.environ.get("TRM_COMPILED") != "0":
        assert here["status"] == "in use"
    return here, there


def test_compiled_and_source_write_the_same_bytes(tmp_path: Path) -> None:
    """The corpus (every wire vector, the mix, replays and changed bytes) through the
    compiled modules here and through their source in a child with TRM_COMPILED=0."""
    mix = tmp_path / "mix.json"
    mix.write_text(
        json.dumps(
            [
                [producer, raw.hex(), [[k, bytes(v).hex()] for k, v in headers]]
                for producer, raw, headers in mix_records()
            ]
        ),
        encoding="utf-8",
    )
    here, there = _here_and_from_source("outcomes", mix)
    assert len(here["vectors"]) == len(wire.vector_files(WIRE_VECTORS)) > 20
    reasons = {o["reason"] for o in here["mix"]}
    assert {None, "REPLAY", "BAD_SIGNATURE"} <= reasons, reasons  # the corpus reaches them
    assert here["vectors"] == there["vectors"]
    assert here["mix"] == there["mix"]


_STREAMS = ("leaves", "checkpoints", "outboxes", "inboxes", "rejections", "quarantine")


def _audit_log() -> ReplayInput:
    """A log with the tampering the replay finds: a copy delivered twice, a copy
    changed, bytes that are no envelope written into an inbox, a leaf dropped."""
    world = World()
    world.submit("TH", "referral", ["KH"], "repatriation", "H2")
    world.submit("VN", "trafficker_alert", ["KH", "LA", "TH"], "investigation", "H1")
    world.submit("LA", "referral", ["MM"], "repatriation", "H2")  # refused: no flow
    world.sequence_all()
    data = world.input()
    first, second = data.inboxes[0], data.inboxes[1]
    changed = second.value[:-40] + bytes([second.value[-40] ^ 1]) + second.value[-39:]
    data.inboxes += [
        Record(first.topic, first.partition, first.offset + 100, first.value),
        Record(second.topic, second.partition, second.offset + 101, changed),
        Record(second.topic, second.partition, second.offset + 102, b"\xc3\x01 no envelope"),
    ]
    del data.leaves[4]
    return data


def replayed(log: str) -> str:
    """The replay's report of the log in the JSON file ``log``, with the build
    :data:`hub.compiled.STATUS` names."""
    streams = json.loads(Path(log).read_text(encoding="utf-8"))
    data = ReplayInput(
        **{
            name: [
                Record(t, p, o, bytes.fromhex(v), tuple((k, bytes.fromhex(h)) for k, h in hs), ts)
                for t, p, o, v, hs, ts in streams[name]
            ]
            for name in _STREAMS
        }
    )
    return json.dumps({"status": compiled.STATUS, "report": replay_input(data).to_json()})


def test_compiled_and_source_replay_a_log_alike(tmp_path: Path) -> None:
    """The auditor's replay (compiled since 7 December: D25) of a tampered log here and
    from its source in a child with TRM_COMPILED=0: the same report, finding by finding."""
    data = _audit_log()
    log = tmp_path / "log.json"
    log.write_text(
        json.dumps(
            {
                name: [
                    [
                        r.topic,
                        r.partition,
                        r.offset,
                        r.value.hex(),
                        [[k, v.hex()] for k, v in r.headers],
                        r.timestamp_ms,
                    ]
                    for r in getattr(data, name)
                ]
                for name in _STREAMS
            }
        ),
        encoding="utf-8",
    )
    here, there = _here_and_from_source("replayed", log)
    kinds = {f["kind"] for f in here["report"]["findings"]}
    assert {"REDELIVERY", "ALTERATION", "INJECTION"} <= kinds, kinds  # the log reaches them
    assert not here["report"]["ok"]
    assert here["report"] == there["report"]


def test_no_compiled_class_derives_from_an_abstract_base() -> None:
    """A class mypyc compiles shares its abstract base's registry and caches: an
    ``isinstance`` against it would change what ``isinstance(x, Mapping)`` says
    for everyone. Such a class lives in a module that is not compiled
    (hub/wire/fields.py); this finds one that slipped into a compiled module."""
    for name in compiled.MODULES:
        module = __import__(name, fromlist=["_"])
        for value in vars(module).values():
            if not isinstance(value, type) or value.__module__ != name:
                continue
            impl = getattr(value, "_abc_impl", None)
            if impl is None:
                continue
            if getattr(value, "_is_protocol", False):
                # a typing Protocol shares Protocol's state too: harmless while no
                # isinstance check is made against it, so none may be run-time checkable
                assert not getattr(value, "_is_runtime_protocol", False), (name, value)
                continue
            shared = [b for b in value.__mro__[1:] if getattr(b, "_abc_impl", None) is impl]
            assert not shared, f"{name}.{value.__name__} shares the ABC state of {shared}"


def _written_constructors() -> list[tuple[str, type, ast.ClassDef, ast.FunctionDef]]:
    """Each dataclass of a compiled module whose ``__init__`` is written out (D26),
    with its class and that ``__init__`` as the source has them."""
    found = []
    for name in compiled.MODULES:
        module = __import__(name, fromlist=["_"])
        source = REPO / (name.replace(".", "/") + ".py")
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            init = next(
                (f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"),
                None,
            )
            cls = getattr(module, node.name, None)
            if init is not None and dataclasses.is_dataclass(cls):
                assert isinstance(cls, type)
                found.append((name, cls, node, init))
    return found


# Fields a written constructor computes (not parameters, not their defaults).
_COMPUTED = {("EffectId", "_text"), ("_Builder", "source_text")}


def test_a_written_out_constructor_keeps_the_dataclass_signature() -> None:
    """A frozen record's ``__init__`` written out (D26: mypyc compiles its
    ``object.__setattr__`` calls to slot writes; the one ``dataclasses`` generates
    stays Python) takes exactly the dataclass's fields, in order, with their
    annotations and defaults, sets each field once (a parameter as passed, any
    other field to its default or as computed), and leaves no ``__post_init__``
    to skip. Compiled, a parameter's annotation is what is enforced."""
    written = _written_constructors()
    names = {cls.__name__ for _module, cls, _node, _init in written}
    assert {"EffectId", "Effect", "DecisionRecord", "Header", "Envelope"} <= names, names
    for module, cls, node, init in written:
        where = f"{module}.{cls.__name__}"
        assert "__post_init__" not in vars(cls), f"{where}: __post_init__ would not run"
        fields = dataclasses.fields(cls)
        declared = {
            a.target.id: ast.unparse(a.annotation)
            for a in node.body
            if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name)
        }
        args = init.args
        assert not [*args.posonlyargs, *args.kwonlyargs], where
        assert args.vararg is None, where
        assert args.kwarg is None, where
        params = args.args[1:]
        defaults = [None] * (len(params) - len(args.defaults)) + [
            ast.unparse(d) for d in args.defaults
        ]
        assert [
            (p.arg, p.annotation and ast.unparse(p.annotation), d)
            for p, d in zip(params, defaults, strict=True)
        ] == [
            (
                f.name,
                declared[f.name],
                None if f.default is dataclasses.MISSING else repr(f.default),
            )
            for f in fields
            if f.init
        ], where
        assert all(f.default_factory is dataclasses.MISSING for f in fields if f.init), where
        assigned: list[tuple[str, str]] = []  # (field, the expression it is set to)
        for call in ast.walk(init):
            if (  # object.__setattr__(self, "name", value)
                isinstance(call, ast.Call)
                and ast.unparse(call.func) == "object.__setattr__"
                and isinstance(call.args[1], ast.Constant)
            ):
                assigned.append((str(call.args[1].value), ast.unparse(call.args[2])))
            elif isinstance(call, ast.Assign) and isinstance(call.targets[0], ast.Attribute):
                # self.name = value (a record that is not frozen)
                assigned.append((call.targets[0].attr, ast.unparse(call.value)))
        assert sorted(f for f, _value in assigned) == sorted(f.name for f in fields), where
        value = dict(assigned)
        for f in fields:
            if f.init:  # each parameter set as passed
                assert value[f.name] == f.name, (where, f.name, value[f.name])
            elif (cls.__name__, f.name) not in _COMPUTED:  # any other to its default
                factory = f.default_factory
                default = repr(factory()) if factory is not dataclasses.MISSING else repr(f.default)
                assert value[f.name] == default, (where, f.name, value[f.name])


def test_the_parsers_take_any_bytes_like_input_as_their_source_does() -> None:
    """Compiled code checks an argument's annotated type; a parser of outside
    bytes takes a bytearray or memoryview as Python's slicing did."""
    plan = mix_plan(T0)[0]
    envelope = seal_plan(plan, 1, example_key(plan[0]), case_key="case-c", created_at_ms=T0)
    data = envelope.to_bytes()
    for kind in (bytes, bytearray, memoryview):
        assert Envelope.from_bytes(kind(data)) == envelope
        assert Header.from_bytes(kind(envelope.header_bytes)) == envelope.header
        opened = open_envelope(kind(data), TRUST)
        assert opened.event.header == envelope.header


def test_isinstance_of_mapping_is_unchanged_by_the_fields_class() -> None:
    class Plain(dict[str, int]):
        pass

    assert not isinstance(Plain(), Fields)
    assert isinstance(Plain(), Mapping)  # answered afresh, not from a shared negative cache


# --- the build's manifest ---------------------------------------------------------------


def _tree(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    root = tmp_path / "hub"
    (root / "wire").mkdir(parents=True)
    (root / "__init__.py").write_text("x = 1\n")
    (root / "wire" / "seal.py").write_text("y = 2\n")
    (root / "_compiled").mkdir()
    (root / "_compiled" / "stale.py").write_text("not a source\n")  # never counted
    binaries = {name: f"\x7fELF {name}".encode() for name in (*compiled.MODULES, compiled.LIB)}
    return root, compiled.write_build(root / "_compiled", binaries, compiled.describe(root))


def test_a_current_build_may_be_used(tmp_path: Path) -> None:
    root, manifest = _tree(tmp_path)
    assert sorted(manifest["sources"]) == ["__init__.py", "wire/seal.py"]
    assert compiled.check(manifest, root) is None
    os.utime(root / "wire" / "seal.py", ns=(1, 1))  # touched, same bytes (a checkout)
    assert compiled.check(manifest, root) is None


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("edit", "wire/seal.py changed since the build"),
        ("add", "added or removed since the build"),
        ("remove", "added or removed since the build"),
        ("suffix", "this interpreter loads"),
        ("modules", "another list of modules"),
        ("lost", "is missing or not the one built"),
        ("damaged", "is missing or not the one built"),
        ("malformed", "the manifest is malformed (ValueError)"),
        ("not a mapping", "the manifest is malformed (TypeError)"),
    ],
)
def test_a_build_that_is_not_current_is_not_used(tmp_path: Path, change: str, why: str) -> None:
    root, manifest = _tree(tmp_path)
    if change == "edit":
        (root / "wire" / "seal.py").write_text("y = 3\n")  # same size, new bytes
    elif change == "add":
        (root / "wire" / "new.py").write_text("")
    elif change == "remove":
        (root / "wire" / "seal.py").unlink()
    elif change == "suffix":
        manifest["suffix"] = ".cpython-310-x86_64-linux-gnu.so"
    elif change == "modules":
        manifest["modules"] = dict(list(manifest["modules"].items())[1:])
    elif change == "lost":
        (root / "_compiled" / manifest["modules"][compiled.LIB][0]).unlink()
    elif change == "damaged":  # same size, other bytes
        path = root / "_compiled" / manifest["modules"]["hub.pipeline"][0]
        path.write_bytes(path.read_bytes()[::-1])
    elif change == "malformed":
        manifest["sources"]["__init__.py"] = [1]
    else:
        manifest["sources"] = None
    reason = compiled.check(manifest, root)
    assert reason is not None
    assert why in reason, reason


def test_the_manifest_names_every_source_with_its_digest() -> None:
    manifest = json.loads(compiled.MANIFEST.read_text(encoding="utf-8"))
    for name, (size, _mtime, digest) in manifest["sources"].items():
        data = (compiled.ROOT / name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, digest), name
    assert {"pipeline.py", "compiled.py", "wire/verify.py"} <= set(manifest["sources"])


def _pipeline_in_child(where: Path, **env: str) -> str:
    """What a fresh interpreter importing ``hub`` from ``where`` says: the status of
    the compiled modules, and the file ``hub.pipeline`` came from."""
    code = "import hub.pipeline as p; from hub import compiled; print(compiled.STATUS, p.__file__)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=where,
        env={**os.environ, "PYTHONPATH": str(where), **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_turned_off_the_source_runs() -> None:
    out = _pipeline_in_child(REPO, TRM_COMPILED="0").split()
    assert out == ["off", str(REPO / "hub" / "pipeline.py")]


def test_a_library_that_does_not_load_leaves_the_source_in_charge(tmp_path: Path) -> None:
    """A build whose files are the ones built but cannot be loaded here (another C
    library, say): ``import hub`` runs the source and says why, never fails."""
    root = tmp_path / "hub"
    shutil.copytree(compiled.ROOT, root, ignore=shutil.ignore_patterns("_compiled*", "__pycache__"))
    (root / "_compiled").mkdir()
    binaries = dict.fromkeys((*compiled.MODULES, compiled.LIB), b"not an ELF file")
    compiled.write_build(root / "_compiled", binaries, compiled.describe(root))
    out = _pipeline_in_child(tmp_path)
    assert out.startswith("stale: the compiled library does not load"), out
    assert out.split()[-1] == str(root / "pipeline.py")
