"""The auditor's page in a real headless Chromium (Debian's package), driven by Playwright:
it renders from a file with nothing fetched, its proof button recomputes the checkpoint
root with the browser's SHA-256 (and says so when a path hash is altered), and it prints.

Screenshots and the printed PDF go to ``artifacts/browser/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.async_api import async_playwright

from hub.audit.report import replay_html
from tests.unit.audit.test_audit_flows import run, traffic

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:  # a missing peer fails the test: it never skips
        raise AssertionError(
            "Chromium not found; install Debian's 'chromium' (deploy/scripts/system-deps.sh)"
        )
    return path


async def test_the_audit_page_recomputes_a_proof_and_prints(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = run(traffic())
    doc = report.to_json() | {"namespace": "t", "seconds": 0.5, "generated_at_ms": 0}
    page_file = tmp_path / "audit.html"
    page_file.write_text(replay_html(doc), encoding="utf-8")
    requests: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=_chromium(), headless=True, args=["--no-sandbox"]
        )
        try:
            page = await browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            await page.goto(page_file.as_uri())
            assert await page.locator("svg.chart, figure.chart svg").count() >= 3
            first = page.locator("details.proof").first
            await first.locator("summary").click()
            button = first.locator("button[data-verify]")
            assert await button.is_visible()
            await button.click()
            await page.wait_for_function(
                "document.querySelector('details.proof output').textContent.length > 0"
            )
            assert "root equals the checkpoint root" in await first.locator("output").inner_text()
            await page.screenshot(path=str(ARTIFACTS / "audit-page.png"), full_page=True)

            # An altered path hash: the same button says the path leads elsewhere.
            await page.evaluate(
                "(() => { const d = document.querySelector('details.proof');"
                " const p = d.dataset.proof.split(' ');"
                " p[0] = (p[0][0] === '0' ? '1' : '0') + p[0].slice(1);"
                " d.dataset.proof = p.join(' '); })()"
            )
            await button.click()
            await page.wait_for_function(
                "document.querySelector('details.proof output').textContent.startsWith('✗')"
            )
            assert "another root" in await first.locator("output").inner_text()

            await page.emulate_media(media="print")
            assert not await button.is_visible()
            pdf = await page.pdf(format="A4")
            (ARTIFACTS / "audit-page.pdf").write_bytes(pdf)
            assert pdf.startswith(b"%PDF")
        finally:
            await browser.close()
    assert all(url.startswith("file://") for url in requests), requests
