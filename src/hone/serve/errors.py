"""Errors in OpenAI's format: `{"error": {"message", "type", "param", "code"}}`, small and always JSON.

Every failure a client can cause is an `APIError` with a 4xx status; the app turns it (and FastAPI's own
validation errors) into this body, so the official `openai` client raises its matching exception class.
"""

from __future__ import annotations

from typing import Any

from hone.grammar import article

MAX_MESSAGE = 500  # error bodies stay small even when the input that caused them is huge

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    499: "invalid_request_error",
    503: "service_unavailable",
}


class APIError(Exception):
    """A request the server answers with `status` and an OpenAI-style error body."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.code, self.param)


def error_body(status: int, message: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    kind = TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def wrong_route(name: str, kind: str, route: str) -> APIError:
    """The 400 for a model asked for on a route that does not serve its kind."""
    return APIError(
        400,
        f"`{name}` is {article(kind)} model; it is not served on {route} (GET /v1/models lists each model's task)",
        code="wrong_model_kind",
        param="model",
    )
