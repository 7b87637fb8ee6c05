"""The trading web page: `/` and its static assets under `/app/<name>`.

The files live in the package (`exchange/web/static/`, shipped as package data) and are read
once at start-up, so serving them costs a dict lookup and nothing on disk can be reached by a
crafted path. There is no build step: the page is plain HTML, CSS and JavaScript modules that
talk to the public REST and WebSocket API like any other client.

Caching: every response carries a strong `ETag` (a hash of the content) and
`Cache-Control: no-cache`, so a browser revalidates and gets `304 Not Modified` until the
server is upgraded; without fingerprinted file names that is what keeps a page and its
scripts from ever mixing versions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from quart import Response, request
from quart_trio import QuartTrio

from exchange.web.app import Services
from exchange.web.errors import ApiError

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# The page loads only its own scripts and styles and talks only to this server.
CSP = ("default-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file, ready to send."""

    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of the package's `static` folder with a known type, by file name."""
    assets = {}
    for entry in resources.files("exchange.web").joinpath("static").iterdir():
        suffix = entry.name[entry.name.rfind("."):] if "." in entry.name else ""
        content_type = CONTENT_TYPES.get(suffix)
        if entry.is_file() and content_type is not None:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            assets[entry.name] = Asset(body, content_type, etag)
    return assets


def send(asset: Asset) -> Response:
    """The asset, or `304` when the browser's copy (`If-None-Match`) is current."""
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if asset.content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = CSP
        headers["Referrer-Policy"] = "no-referrer"
    known = request.headers.get("If-None-Match", "")
    if asset.etag in (tag.strip() for tag in known.split(",")):
        return Response(b"", status=304, headers=headers)
    return Response(asset.body, content_type=asset.content_type, headers=headers)


def register(app: QuartTrio, services: Services) -> None:
    del services  # the page needs nothing but its files
    assets = load_assets()
    index = assets["index.html"]

    @app.get("/")
    async def page() -> Response:
        return send(index)

    @app.get("/app/<path:name>")
    async def static_file(name: str) -> Response:
        asset = assets.get(name)
        if asset is None:
            raise ApiError(404, "not_found", f"no asset {name[:60]!r}")
        return send(asset)
