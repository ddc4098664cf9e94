"""The pages and their assets, served by the router itself (CONTRACT 7)."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from inprocess import Server

STATIC = resources.files("router.web").joinpath("static")


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/wallboard", "/agent"])
async def test_a_page_and_everything_it_links_is_served_from_here(
    server: Server, path: str
) -> None:
    async with server.http.get(server.base + path) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        html = await response.text()
    assert 'name="token"' in html
    linked = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert linked, "a page links its styles and scripts"
    scripts = []
    for url in linked:
        assert url.startswith("/web/"), f"{url}: every asset comes from the router itself"
        async with server.http.get(server.base + url) as response:
            assert response.status == 200, url
            if url.endswith(".js"):
                assert response.content_type == "text/javascript"
                scripts.append(await response.text())
    # modules import each other by relative path, also from the router
    for script in scripts:
        for imported in re.findall(r'from "\./([^"]+)"', script):
            assert STATIC.joinpath(imported).is_file(), imported


@pytest.mark.asyncio
async def test_no_asset_outside_the_folder_and_no_unknown_one(server: Server) -> None:
    for path in ("/web/..%2Fhub.py", "/web/nope.js", "/web/hub.py", "/web/.hidden.js"):
        async with server.http.get(server.base + path) as response:
            assert response.status == 404, path
            assert (await response.json())["error"]["code"] == "not_found"


@pytest.mark.asyncio
async def test_the_stream_without_an_upgrade_is_a_json_400(server: Server) -> None:
    status, body = await server.call("GET", "/v1/stream")
    assert status == 400
    assert body["error"]["code"] == "bad_request"


def test_no_page_loads_anything_from_elsewhere() -> None:
    for item in STATIC.iterdir():
        text = item.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), item.name
