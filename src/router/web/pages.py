"""`/wallboard`, `/agent` and their assets, served from this package's `static/` folder.

Hand-written HTML, CSS and ES modules, no build step: what is in the folder is
what the browser gets. The files are package data, read through
`importlib.resources`, so a wheel install serves them as an editable one does.
Only names found in the folder are served (no path is ever joined from the
URL), and every answer carries a Content-Security-Policy that allows nothing
but this origin: a page can load nothing from elsewhere, by mistake or not.
"""

from __future__ import annotations

import re
from importlib import resources

from aiohttp import web

routes = web.RouteTableDef()

_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}
_NAME = re.compile(r"^[a-z0-9-]+\.(html|css|js|svg)$")

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # revalidate on every load: an upgraded router serves its new scripts at once
    "Cache-Control": "no-cache",
}


def _static(name: str) -> web.Response:
    if not _NAME.match(name):
        raise web.HTTPNotFound(text=f"no page asset {name}")
    path = resources.files("router.web").joinpath("static", name)
    if not path.is_file():
        raise web.HTTPNotFound(text=f"no page asset {name}")
    suffix = name[name.rindex(".") :]
    return web.Response(
        body=path.read_bytes(),
        content_type=_TYPES[suffix],
        charset="utf-8" if suffix != ".svg" else None,
        headers=HEADERS,
    )


@routes.get("/wallboard")
async def wallboard(request: web.Request) -> web.Response:
    return _static("wallboard.html")


@routes.get("/agent")
async def agent(request: web.Request) -> web.Response:
    return _static("agent.html")


@routes.get("/web/{name}")
async def asset(request: web.Request) -> web.Response:
    return _static(request.match_info["name"])
