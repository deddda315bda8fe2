"""Reading the auditor's HTML page back (tests): its numbers with their report paths,
its ids and links, its external sources, and its embedded inclusion proofs."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

__all__ = ["Page", "resolve"]


class Page(HTMLParser):
    """Collects what the tests read: numbers with their paths, ids, links, proofs."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers: list[tuple[str, int, str]] = []  # (path, value, shown text)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.sources: list[str] = []
        self.proofs: list[dict[str, str]] = []
        self._open: list[tuple[str, str, int]] = []  # (tag, path, value) awaiting text
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        for key in ("src", "href"):
            if key in a and not a[key].startswith("#"):
                self.sources.append(a[key])
        if tag == "link":
            self.sources.append(a.get("href", ""))
        if tag == "details" and "proof" in a.get("class", ""):
            self.proofs.append(a)
        if "data-path" in a:
            self._open.append((tag, a["data-path"], int(a["data-value"])))
            self._text = []

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _, path, value = self._open.pop()
            self.numbers.append((path, value, "".join(self._text).strip()))


def resolve(doc: Any, path: str) -> Any:
    for part in path.split("/"):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc
