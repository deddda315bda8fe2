"""The dealer's ceremony: files, modes, checks against the commitments, refresh, and the CLI."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.cli.match_ceremony import ceremony as ceremony_command
from hub.errors import MatchError, OperationalError, Reason
from hub.home import StateDir
from hub.matching import oprf
from hub.matching.ceremony import (
    DEFAULT_MEMBERS,
    Ceremony,
    deal_ceremony,
    load_public,
    load_share,
    parse_public,
    refresh_ceremony,
    write_ceremony,
)
from hub.matching.threshold import combine, partial_evaluate

T0 = 1_767_225_600_000


def _made(tmp_path: Path) -> StateDir:
    state = StateDir(tmp_path / "home")
    write_ceremony(state, deal_ceremony(DEFAULT_MEMBERS, 3, now_ms=T0))
    return state


def test_the_ceremony_writes_a_public_part_and_one_0600_share_per_country(tmp_path: Path) -> None:
    state = _made(tmp_path)
    public = load_public(state.match_public)
    assert public.threshold == 3
    assert sorted(public.members) == sorted(DEFAULT_MEMBERS)
    assert sorted(public.members.values()) == [1, 2, 3, 4, 5, 6]
    assert stat.S_IMODE(state.match_public.stat().st_mode) == 0o644
    shares = {}
    for country in DEFAULT_MEMBERS:
        path = state.match_share(country)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        shares[country] = load_share(path, public)
        assert shares[country].index == public.index_of(country)
    # any three countries evaluate; the result is the one key's evaluation
    factor, blinded = oprf.blind(b"+84912345678")
    results = set()
    for trio in (("KH", "TH", "VN"), ("CN", "LA", "MM"), ("VN", "MM", "KH")):
        partials = [partial_evaluate(shares[c], public.commitments, blinded) for c in trio]
        results.add(
            oprf.finalize(b"+84912345678", factor, combine(public.commitments, blinded, partials))
        )
    assert len(results) == 1


def test_no_file_holds_the_key(tmp_path: Path) -> None:
    state = _made(tmp_path)
    public = load_public(state.match_public)
    files = [p for p in state.root.rglob("*") if p.is_file()]
    assert len(files) == 1 + len(DEFAULT_MEMBERS)
    for path in files:
        share = json.loads(path.read_text()).get("share")
        if share is not None:  # a share is never the key itself
            assert oprf.base_multiply(bytes.fromhex(share)) != public.public_key()


def test_a_readable_share_file_is_refused(tmp_path: Path) -> None:
    state = _made(tmp_path)
    path = state.match_share("TH")
    path.chmod(0o644)
    with pytest.raises(OperationalError) as caught:
        load_share(path)
    assert caught.value.reason is Reason.KEY_FILE_INSECURE


def test_a_share_that_does_not_match_its_commitments_is_refused(tmp_path: Path) -> None:
    state = _made(tmp_path)
    th, vn = state.match_share("TH"), state.match_share("VN")
    doc = json.loads(th.read_text())
    doc["share"] = json.loads(vn.read_text())["share"]
    th.write_text(json.dumps(doc))
    with pytest.raises(MatchError) as caught:
        load_share(th)
    assert caught.value.reason is Reason.MATCH_SHARE_INVALID
    assert doc["share"] not in caught.value.detail


def test_a_share_of_another_ceremony_or_country_is_refused(tmp_path: Path) -> None:
    state = _made(tmp_path)
    other = StateDir(tmp_path / "other")
    write_ceremony(other, deal_ceremony(DEFAULT_MEMBERS, 3, now_ms=T0))
    public = load_public(state.match_public)
    with pytest.raises(MatchError) as foreign:
        load_share(other.match_share("TH"), public)
    assert foreign.value.reason is Reason.MATCH_SHARE_INVALID
    doc = json.loads(state.match_share("TH").read_text())
    doc["country"] = "VN"
    state.match_share("TH").write_text(json.dumps(doc))
    with pytest.raises(MatchError) as swapped:
        load_share(state.match_share("TH"), public)
    assert "expected VN to hold index" in swapped.value.detail


@pytest.mark.parametrize(
    "change",
    [
        {"suite": "P256-SHA256"},
        {"threshold": 4},
        {"members": {"TH": 1, "VN": 1, "KH": 2}},
        {"commitments": ["00" * 32, "11" * 32, "22" * 32]},
        {"extra": 1},
        {"type": "trm.match-public/v2"},
    ],
)
def test_a_public_part_that_does_not_check_is_refused(
    tmp_path: Path, change: dict[str, object]
) -> None:
    state = _made(tmp_path)
    doc = json.loads(state.match_public.read_text())
    doc.update(change)
    with pytest.raises(MatchError) as caught:
        parse_public(json.dumps(doc).encode())
    assert caught.value.reason in {Reason.MATCH_SHARE_INVALID, Reason.MATCH_ELEMENT_INVALID}


def test_refresh_keeps_match_keys_and_retires_old_shares(tmp_path: Path) -> None:
    state = _made(tmp_path)
    public = load_public(state.match_public)
    old = {c: load_share(state.match_share(c), public) for c in public.members}
    _, blinded = oprf.blind(b"name:nguyen van a|1990")
    before = combine(
        public.commitments,
        blinded,
        [partial_evaluate(old[c], public.commitments, blinded) for c in ("KH", "TH", "VN")],
    )
    renewed = refresh_ceremony(Ceremony(public, old), now_ms=T0 + 1)
    write_ceremony(state, renewed)
    new_public = load_public(state.match_public)
    assert new_public.epoch == 1
    assert new_public.public_key() == public.public_key()
    new = {c: load_share(state.match_share(c), new_public) for c in public.members}
    after = combine(
        new_public.commitments,
        blinded,
        [partial_evaluate(new[c], new_public.commitments, blinded) for c in ("CN", "LA", "MM")],
    )
    assert after == before
    with pytest.raises(MatchError):  # a stolen epoch-0 share against the epoch-1 part
        partial_evaluate(old["TH"], new_public.commitments, blinded)


def test_the_plan_is_checked() -> None:
    for countries, t in (
        (("TH", "VN"), 3),
        (("TH", "TH", "VN"), 2),
        (("TH", "vn"), 2),
        (("TH", "VN"), 1),
    ):
        with pytest.raises(MatchError):
            deal_ceremony(countries, t, now_ms=T0)


def test_cli_ceremony_refresh_and_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRM_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    made = runner.invoke(ceremony_command, ["--json"])
    assert made.exit_code == 0, made.output
    public = json.loads(made.stdout)
    assert public["threshold"] == 3
    assert sorted(public["members"]) == sorted(DEFAULT_MEMBERS)
    state = StateDir(tmp_path / "home")
    for country in DEFAULT_MEMBERS:
        assert load_share(state.match_share(country), load_public(state.match_public))
        # no share (or key) is ever printed
        assert json.loads(state.match_share(country).read_text())["share"] not in made.output
    again = runner.invoke(ceremony_command, [])
    assert isinstance(again.exception, OperationalError)
    assert again.exception.reason is Reason.CONFIG_INVALID
    refreshed = runner.invoke(ceremony_command, ["--refresh"])
    assert refreshed.exit_code == 0, refreshed.output
    assert "epoch 1" in refreshed.stdout
    assert public["commitments"][0] in refreshed.stdout
    small = runner.invoke(
        ceremony_command, ["--force", "--members", "TH,VN,KH", "--threshold", "2"]
    )
    assert small.exit_code == 0, small.output
    assert "2 of 3" in small.stdout


def test_cli_takes_the_members_from_the_trust_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.demo.setup import make_identities

    state = StateDir(tmp_path / "home")
    _, trust = make_identities(state, T0)
    monkeypatch.setenv("TRM_HOME", str(state.root))
    made = CliRunner().invoke(ceremony_command, [])
    assert made.exit_code == 0, made.output
    assert f"members from {state.trust}" in made.stdout
    assert set(load_public(state.match_public).members) == set(trust.countries)
    state.trust.write_text("{}")
    redone = CliRunner().invoke(ceremony_command, ["--force"])
    assert redone.exit_code == 0, redone.output
    assert "the default members" in redone.stdout
    assert "TRUST_MALFORMED" in redone.stdout
