"""The URLs an HTML page makes the browser fetch (scripts, stylesheets, icons): what the pages' tests check."""

from __future__ import annotations

from html.parser import HTMLParser


class PageAssets(HTMLParser):
    """Feed it a page; ``urls`` is every script's ``src`` and every link's ``href``, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        url = found.get("src") if tag == "script" else found.get("href") if tag == "link" else None
        if url:
            self.urls.append(url)
