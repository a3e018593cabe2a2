"""Request bodies: OpenAI's (chat, completions, embeddings) and hone's task routes.

Unknown OpenAI fields are ignored, as OpenAI-compatible servers do, so newer clients keep working;
fields hone cannot honour (`logprobs`, `echo`, tools) are refused with a 400 that names them. Every string a
request carries must be text that encodes as UTF-8: JSON's `\ud800` escapes decode to lone surrogates, which
no tokenizer or JSON encoder accepts, so they are refused here with a 400 naming the field, before the
request reaches a batch it could fail for others.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


def check_text(value: Any, where: str = "") -> None:
    """Raise ValueError naming the first string inside `value` (dicts, lists) that is not encodable text."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            why = f"not valid text (a lone surrogate at character {exc.start})"
            raise ValueError(f"{where or 'value'}: {why}") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, where)
            check_text(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_text(item, f"{where}.{i}")


class Body(Lenient):
    """A request body: every string in it is checked to be text first (see the module docstring)."""

    @model_validator(mode="before")
    @classmethod
    def _text_only(cls, data: Any) -> Any:
        check_text(data)
        return data


class ContentPart(Lenient):
    type: str
    text: str | None = None


class ChatMessage(Lenient):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            if any(p.type != "text" for p in self.content):
                raise ValueError("only text content parts are supported")
            return "".join(p.text or "" for p in self.content)
        return self.content or ""


class Sampling(Body):
    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1)
    stream: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None
    stream_options: dict[str, Any] | None = None
    logprobs: bool | int | None = None

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class ChatRequest(Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    tools: list[Any] | None = None


class CompletionRequest(Sampling):
    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool = False
    suffix: str | None = None
    max_tokens: int | None = Field(16, ge=1)  # OpenAI's default for completions


class EmbeddingRequest(Body):
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None


class TextsRequest(Body):
    model: str
    input: str | list[str]


class FieldSchema(Lenient):
    type: Literal["string", "integer", "number", "boolean"] = "string"
    enum: list[str] | None = None
    description: str | None = None


class ObjectSchema(Lenient):
    type: Literal["object"] = "object"
    properties: dict[str, FieldSchema] = Field(min_length=1)


class ExtractRequest(TextsRequest):
    fields: list[str] | None = Field(None, min_length=1, description="Field names (the run's own when omitted).")
    schema_: ObjectSchema | None = Field(None, alias="schema", description="A JSON schema of the fields instead.")
    max_tokens: int | None = Field(None, ge=1)


class RerankRequest(Body):
    model: str
    query: str
    documents: list[str] = Field(min_length=1)
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = True


class AdapterRequest(Body):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="The model name clients will use.")
    path: str = Field(description="A run directory, relative to the server's adapter root.")
