"""The board server's HTML pages (console, replay), rendered from wallboard/templates/
with Jinja2: every value escaped unless a template says otherwise."""

from __future__ import annotations

from flask import Response
from jinja2 import Environment, PackageLoader

from base.i18n import PAGES

__all__ = ["REDIS_TIMEOUT_S", "render_page"]

# Every Redis call a page request makes gives up after this: a Redis that accepts and
# never answers must not hold one of the serving threads the walls share.
REDIS_TIMEOUT_S = 0.5

_ENV = Environment(loader=PackageLoader("wallboard", "templates"), autoescape=True,
                   trim_blocks=True, lstrip_blocks=True)


def render_page(template: str, status: int = 200, **values: object) -> Response:
    html = _ENV.get_template(template).render(t=PAGES, **values)
    return Response(html, status, {"Content-Type": "text/html; charset=utf-8"})
