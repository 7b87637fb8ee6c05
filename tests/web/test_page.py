"""The web page's routes: `/` and its assets, with their types, caching and 404s."""

from __future__ import annotations

import re

import httpx
import trio

from exchange.web.page import CONTENT_TYPES, load_assets

from .support import start_exchange


async def test_index_and_every_asset_it_loads(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery)
    async with httpx.AsyncClient(base_url=running.url) as http:
        index = await http.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"] == "text/html; charset=utf-8"
        assert index.headers["cache-control"] == "no-cache"
        assert "default-src 'self'" in index.headers["content-security-policy"]
        assert '<select id="symbol"' in index.text
        # What the page references, and what its modules import, all comes from /app/.
        wanted = set(re.findall(r'(?:src|href)="(/app/[^"]+)"', index.text))
        assert {"/app/app.js", "/app/style.css"} <= wanted
        seen: set[str] = set()
        while wanted - seen:
            path = (wanted - seen).pop()
            seen.add(path)
            response = await http.get(path)
            assert response.status_code == 200, path
            suffix = path[path.rfind("."):]
            assert response.headers["content-type"] == CONTENT_TYPES[suffix], path
            assert response.headers["x-content-type-options"] == "nosniff"
            if suffix == ".js":
                wanted |= {f"/app/{name}" for name in
                           re.findall(r'from "\./([\w.]+\.js)"', response.text)}
        assert {"/app/api.js", "/app/book.js", "/app/charts.js"} <= seen
        assert seen == {f"/app/{name}" for name in load_assets() if name != "index.html"}


async def test_revalidation_answers_304_until_the_file_changes(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery)
    async with httpx.AsyncClient(base_url=running.url) as http:
        first = await http.get("/app/app.js")
        etag = first.headers["etag"]
        again = await http.get("/app/app.js", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        other = await http.get("/app/app.js", headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200
        assert other.content == first.content
        assert (await http.get("/app/style.css")).headers["etag"] != etag


async def test_unknown_assets_are_404_in_the_envelope(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery)
    async with httpx.AsyncClient(base_url=running.url) as http:
        for path in ("/app/nope.js", "/app/", "/app/..%2Fpage.py", "/app/static/app.js"):
            response = await http.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"]["code"] == "not_found"
        # The API next to the page is untouched.
        assert (await http.get("/v1/instruments")).json() == []
