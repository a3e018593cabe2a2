"""The playground's backend: requests to a running `hone serve`, forwarded from the dashboard's own origin.

The browser talks only to the dashboard (no CORS, and the API key stays on the server side). The
answer is always an envelope `{"ok", "status", "body"}` or `{"ok": false, "error"}`, so an unreachable or
refusing server is a message on the page, not a failed request.
"""

from __future__ import annotations

from typing import Any

import httpx

ROUTES = {
    "chat": "/v1/chat/completions",
    "classify": "/v1/classify",
    "ner": "/v1/ner",
    "extract": "/v1/extract",
    "embeddings": "/v1/embeddings",
    "completions": "/v1/completions",
}
TIMEOUT_S = 120.0


class Playground:
    """A client for the serve URL with the API key, if any."""

    def __init__(self, serve_url: str | None, api_key: str | None = None) -> None:
        self.serve_url = serve_url.rstrip("/") if serve_url else None
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def _unreachable(self, err: Exception) -> dict[str, Any]:
        return {
            "ok": False,
            "error": f"no hone server answered at {self.serve_url} ({type(err).__name__}: {err}). "
            "Start one with `hone serve runs/<name> --api-key KEY`, then `hone ui --serve-url URL --api-key KEY`.",
        }

    async def call(self, method: str, route: str, body: Any = None) -> dict[str, Any]:
        """`method route` on the server, as an envelope."""
        if self.serve_url is None:
            return {"ok": False, "error": "no serve URL: start the dashboard with `hone ui --serve-url URL`"}
        try:
            async with httpx.AsyncClient(base_url=self.serve_url, headers=self.headers, timeout=TIMEOUT_S) as client:
                response = await client.request(method, route, json=body)
        except httpx.HTTPError as err:
            return self._unreachable(err)
        try:
            payload: Any = response.json()
        except ValueError:
            payload = response.text[:2000]
        return {"ok": response.is_success, "status": response.status_code, "body": payload, "error": _error(payload)}

    async def models(self) -> dict[str, Any]:
        return await self.call("GET", "/v1/models")

    async def send(self, kind: str, body: Any) -> dict[str, Any]:
        route = ROUTES.get(kind)
        if route is None:
            return {"ok": False, "error": f"kind {kind!r}: choose one of {', '.join(ROUTES)}"}
        return await self.call("POST", route, body)


def _error(payload: Any) -> str | None:
    """The server's error message (OpenAI format: {"error": {"message"}}), if any."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return str(payload["error"].get("message"))
    return None
