"""The dashboard's HTML: one shell per page; app.js fetches the page's /api data and draws it.

Pages carry no user data in their HTML except what is escaped here (a run name in the title); every
dataset text is set by app.js through `textContent`, never as markup.
"""

from __future__ import annotations

from html import escape

NAV = [
    ("/", "Runs"),
    ("/compare", "Compare"),
    ("/curves", "Learning curves"),
    ("/ratings", "Ratings"),
    ("/playground", "Playground"),
    ("/new", "New run"),
]


def shell(page: str, title: str, data: dict[str, str] | None = None, body: str = "") -> str:
    """A full page: nav, a <main> that app.js fills (`data-page` says which renderer), local CSS and JS."""
    attrs = "".join(f' data-{escape(k)}="{escape(v)}"' for k, v in (data or {}).items())
    nav = "".join(f'<a href="{href}">{escape(label)}</a>' for href, label in NAV)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/style.css">'
        f"<title>{escape(title)} · hone</title></head><body>"
        f'<header><b class="brand">hone</b><nav>{nav}</nav></header>'
        f'<main id="app" data-page="{escape(page)}"{attrs}><h1>{escape(title)}</h1>{body}'
        '<div id="content"><p class="note">Loading…</p></div></main>'
        '<script src="/static/charts.js"></script><script src="/static/app.js"></script></body></html>'
    )


def not_found(message: str) -> str:
    """A 404 page that says what was not found (the message is escaped)."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/static/style.css"><title>not found · hone</title></head><body>'
        '<header><b class="brand">hone</b><nav><a href="/">Runs</a></nav></header>'
        f'<main><h1>Not found</h1><p class="missing" id="error">{escape(message)}</p></main></body></html>'
    )


def runs_page() -> str:
    return shell("runs", "Runs")


def run_page(name: str) -> str:
    return shell("run", f"Run {name}", {"name": name})


def compare_page() -> str:
    return shell("compare", "Compare runs")


def curves_page() -> str:
    return shell("curves", "Learning curves")


def ratings_page() -> str:
    return shell("ratings", "Ratings")


def playground_page() -> str:
    return shell("playground", "Playground")


def new_page() -> str:
    return shell("new", "Start a run")
