"""The auditor's HTML page (hub.audit.report): every number is the report's, every link
lands, every proof verifies, nothing is fetched from elsewhere, everything is escaped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hub.audit.merkle import leaf_hash, verify_inclusion
from hub.audit.replay import FAILING, FINDING_MEANINGS, WARNING, LeafFilter
from hub.audit.report import leaves_command, reason_meanings, replay_html
from tests.support.audit import T, World, child_notice
from tests.support.audit_page import Page, resolve
from tests.unit.audit.test_audit_flows import DAY, Traffic, run, traffic

PROTOCOL = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    report = run(traffic())
    assert report.ok
    return report.to_json() | {"namespace": "t", "seconds": 0.5, "generated_at_ms": 0}


@pytest.fixture(scope="module")
def page(doc: dict[str, Any]) -> Page:
    p = Page()
    p.feed(replay_html(doc, reasons=reason_meanings(PROTOCOL.read_text(encoding="utf-8"))))
    return p


def test_every_number_on_the_page_is_the_reports(doc: dict[str, Any], page: Page) -> None:
    assert len(page.numbers) > 40
    for path, value, shown in page.numbers:
        assert resolve(doc, path) == value, path
        if not path.endswith("_ms"):
            assert shown.lstrip("×") == str(value), (path, shown)
    paths = {p for p, _, _ in page.numbers}
    for i in range(len(doc["flows"]["counts"])):
        assert {f"flows/counts/{i}/delivered", f"flows/counts/{i}/refused"} <= paths
    for i, share in enumerate(doc["sharing"]):
        assert f"sharing/{i}/delivered" in paths
        assert {f"sharing/{i}/fields/{f}" for f in share["fields"]} <= paths
        assert {f"sharing/{i}/withheld/{f}" for f in share["withheld"]} <= paths
    assert {f"refusals/{i}/refused" for i in range(len(doc["refusals"]))} <= paths
    for i in range(len(doc["ack_summary"])):
        assert {f"ack_summary/{i}/{k}" for k in ("n", "median_ms", "p90_ms", "max_ms")} <= paths
    assert "handover_summary/0/median_ms" in paths
    assert "checkpoint_log/distinct" in paths


def test_every_leaf_link_lands_on_its_entry(doc: dict[str, Any], page: Page) -> None:
    targets = [h[1:] for h in page.links if h.startswith("#leaf-")]
    assert targets
    assert set(targets) <= page.ids
    assert {f"leaf-{leaf['index']}" for leaf in doc["linked_leaves"]} <= page.ids


def test_the_proofs_on_the_page_verify_against_the_checkpoint(
    doc: dict[str, Any], page: Page
) -> None:
    assert len(page.proofs) == len(doc["linked_leaves"])
    for p in page.proofs:
        assert p["data-root"] == doc["root"]
        leaf = leaf_hash(bytes.fromhex(p["data-leaf"]))
        assert leaf.hex() == p["data-hash"]
        verify_inclusion(
            int(p["data-index"]),
            int(p["data-size"]),
            leaf,
            [bytes.fromhex(h) for h in p["data-proof"].split()],
            bytes.fromhex(p["data-root"]),
        )


def test_nothing_is_fetched_from_elsewhere(doc: dict[str, Any], page: Page) -> None:
    assert page.sources == []
    text = replay_html(doc)
    assert "@import" not in text
    assert not re.search(r"url\((?!#)", text)
    assert not re.search(r"<(script|img|link|iframe)[^>]*\ssrc=", text)


def test_refusals_are_explained_by_their_reason(doc: dict[str, Any]) -> None:
    meanings = reason_meanings(PROTOCOL.read_text(encoding="utf-8"))
    reason = doc["refusals"][0]["reason"]
    assert meanings[reason]
    assert meanings["NO_AGREEMENT"] == "no agreement between producer and recipient"
    assert not [code for code, m in meanings.items() if not m or "|" in m]
    text = replay_html(doc, reasons=meanings)
    assert meanings[reason].split(" ")[0] in text


def test_every_finding_kind_is_explained() -> None:
    assert set(FAILING) | set(WARNING) == set(FINDING_MEANINGS)


def test_every_value_is_escaped(doc: dict[str, Any]) -> None:
    bad = dict(doc)
    bad["ok"] = False
    bad["findings"] = [
        {
            "kind": "INJECTION",
            "topic": "t.KH.inbox",
            "partition": 0,
            "offset": 3,
            "event_id": "<img src=x>",
            "detail": "<script>alert(1)</script>",
        }
    ]
    bad["discrepancies"] = {"INJECTION": 1}
    text = replay_html(bad)
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Discrepancies found." in text


def test_each_count_names_the_command_that_lists_its_leaves(doc: dict[str, Any]) -> None:
    share = doc["sharing"][0]
    command = leaves_command(share["select"], "t")
    assert command.startswith("trm audit leaves --namespace t --outcome delivered")
    assert command in replay_html(doc).replace("&gt;", ">")
    # The flags are the filter's fields: what the command lists is what was counted.
    flags = dict(re.findall(r"--([a-z-]+) (\S+)", command))
    flags.pop("namespace")
    assert LeafFilter.of({k.replace("-", "_"): v for k, v in flags.items()}) == LeafFilter.of(
        share["select"]
    )


def test_the_page_prints_without_script(doc: dict[str, Any]) -> None:
    text = replay_html(doc)
    assert "@media print" in text
    # The proof buttons appear only when the script runs; the proof itself is plain HTML.
    assert "data-verify hidden" in text
    assert '<details class="proof"' in text


def test_unacknowledged_handovers_are_on_the_page() -> None:
    w = World()
    handover = w.submit(
        "TH",
        "handover_notice",
        ["KH"],
        "repatriation",
        "H2",
        child_notice(),
        created_at_ms=T - 2 * DAY,
    )
    w.sequence_all()
    report = run(Traffic(w, handover, handover), now_ms=T)
    doc = report.to_json() | {"namespace": "t", "seconds": 0.1}
    page = Page()
    page.feed(replay_html(doc))
    assert ("unacknowledged/0/count", 1, "1") in page.numbers
    (row,) = doc["unacknowledged"]
    assert f'href="#leaf-{row["leaves"][0]}"' in replay_html(doc)


def test_referral_to_handover_has_no_overdue_column(doc: dict[str, Any]) -> None:
    """A handover takes days: the one-day acknowledgement deadline does not apply to it."""
    assert doc["handover_summary"]
    assert all("overdue" not in row for row in doc["handover_summary"])
    assert all("overdue" in row for row in doc["ack_summary"])
    text = replay_html(doc)
    acks, handovers = text.split("From referral to the acknowledgement of its handover")
    handovers = handovers.split("</section>")[0]
    assert "later than" in acks
    assert "later than" not in handovers
    assert "handover_summary/0/overdue" not in text
    assert "handover_summary/0/median_ms" in handovers
