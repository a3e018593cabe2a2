"""Request bodies: OpenAI's (chat, completions, embeddings) and hone's task routes.

Unknown OpenAI fields are ignored, as OpenAI-compatible servers do, so newer clients keep working;
fields hone cannot honour (`logprobs`, `echo`, tools) are refused with a 400 that names them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


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


class Sampling(Lenient):
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


class EmbeddingRequest(Lenient):
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None


class TextsRequest(Lenient):
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


class RerankRequest(Lenient):
    model: str
    query: str
    documents: list[str] = Field(min_length=1)
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = True


class AdapterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="The model name clients will use.")
    path: str = Field(description="A run directory, relative to the server's adapter root.")
