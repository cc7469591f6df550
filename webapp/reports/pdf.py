"""The team report as PDF: the report's HTML through WeasyPrint, with no network at all.

WeasyPrint fetches the page's stylesheets through StaticFetcher, which reads them from the
app's static folder and refuses every other URL, so rendering never makes a request (not even
to this app) and a stray URL in a report cannot reach anything.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse
from werkzeug.security import safe_join

# The base URL the report's relative links resolve against; it names no real host.
BASE_URL = "https://team-pulse.invalid/"


class StaticFetcher(URLFetcher):  # type: ignore[misc]
    """Serves `/static/…` from the static folder; anything else is refused."""

    def __init__(self, static_folder: str, static_url_path: str = "/static") -> None:
        super().__init__(allowed_protocols=("https",), allow_redirects=False)
        self.folder = static_folder
        self.prefix = static_url_path.rstrip("/") + "/"

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        base = urlsplit(BASE_URL)
        path = unquote(parts.path)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or not path.startswith(
            self.prefix
        ):
            raise ValueError(f"the report may only use the app's static files, not {url}")
        found = safe_join(self.folder, path[len(self.prefix) :])
        if found is None or not Path(found).is_file():
            raise ValueError(f"no static file {path}")
        mime = mimetypes.guess_type(found)[0] or "application/octet-stream"
        return URLFetcherResponse(url, Path(found).read_bytes(), {"Content-Type": mime})


def render_pdf(html: str, *, static_folder: str) -> bytes:
    """The PDF of a report page's HTML, its stylesheets read from `static_folder`."""
    document = HTML(string=html, base_url=BASE_URL, url_fetcher=StaticFetcher(static_folder))
    pdf: bytes = document.write_pdf()
    return pdf
