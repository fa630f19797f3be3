"""Great Expectations' Data Docs made to render with no network.

GX writes pages that load jQuery, Bootstrap, bootstrap-table, Popper, a date
picker and Font Awesome from CDNs, and its logo from S3: opened offline (the
machines doclstm runs on often have no internet), a page is unstyled and the
index's table of validations stays empty, because bootstrap-table fills it. This
copies the same files (doclstm/sources/data_docs_assets, unchanged npm
distributions) to `static/offline/` beside the pages and points every page at
them; the CDN links it has no copy of (Vega, which these suites never chart, and a
dark theme) are dropped, the logo is GX's own local copy, and links a person
clicks (`<a href>`) stay as they are.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ASSETS = Path(__file__).parent / "data_docs_assets"
OFFLINE = Path("static") / "offline"
LOCAL_LOGO = "static/images/logo-long.png"  # GX writes it with every site
# What each CDN file is called here: by its file name, whatever the version in the URL.
VENDORED = {
    "jquery-3.7.1.min.js": "jquery.min.js",
    "popper.min.js": "popper.min.js",
    "bootstrap.min.css": "bootstrap.min.css",
    "bootstrap.min.js": "bootstrap.min.js",
    "bootstrap-table.min.css": "bootstrap-table.min.css",
    "bootstrap-table.min.js": "bootstrap-table.min.js",
    "bootstrap-table-filter-control.min.js": "bootstrap-table-filter-control.min.js",
    "bootstrap-table-filter-control.min.css": "bootstrap-table-filter-control.min.css",
    "bootstrap-table-filter-control.css": "bootstrap-table-filter-control.min.css",
    "bootstrap-datepicker.min.js": "bootstrap-datepicker.min.js",
    "bootstrap-datepicker.min.css": "bootstrap-datepicker.min.css",
    "all.min.css": "fontawesome/css/all.min.css",
}
_REMOTE = re.compile(r'(?P<attr>src|href)="(?P<url>https?://[^"]+)"')
_SCRIPT = re.compile(r'<script[^>]*\ssrc="https?://[^"]*"[^>]*>\s*</script>\s*')
_STYLESHEET = re.compile(r'<link[^>]*\shref="https?://[^"]*"[^>]*>\s*')
_LOGO = re.compile(r"https://great-expectations-web-assets\.[^\"']*\.png[^\"']*")


def make_offline(docs_dir: Path) -> int:
    """Copy the assets into `docs_dir` and rewrite its pages; the number of pages."""
    shutil.copytree(ASSETS, docs_dir / OFFLINE, dirs_exist_ok=True, ignore=_not_assets)
    pages = sorted(docs_dir.rglob("*.html"))
    for page in pages:
        up = "../" * (len(page.relative_to(docs_dir).parts) - 1)
        html = page.read_text(encoding="utf-8")
        page.write_text(offline_html(html, up), encoding="utf-8")
    return len(pages)


def offline_html(html: str, up: str) -> str:
    """`html` with its CDN files replaced by the local copies `up` (`../` a level) leads
    to, the CDN scripts and stylesheets without one removed, and the logo made local."""

    def local(match: re.Match[str]) -> str:
        name = match["url"].split("?")[0].rsplit("/", 1)[-1]
        if name not in VENDORED:
            return match[0]
        return f'{match["attr"]}="{up}{(OFFLINE / VENDORED[name]).as_posix()}"'

    html = _REMOTE.sub(local, html)
    html = _LOGO.sub(up + LOCAL_LOGO, html)
    html = _SCRIPT.sub("", html)
    return _STYLESHEET.sub(lambda m: "" if "stylesheet" in m[0] else m[0], html)


def _not_assets(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "README.md"]
