"""An Ollama `Modelfile` for a GGUF export: the run's own prompt rendering as an Ollama (Go) template, its stop
tokens, its system prompt and greedy decoding, so `ollama create NAME -f Modelfile` answers as hone does.

The template is derived from hone's renderer (`Template.prompt`), not guessed from a model family: a
conversation with marked contents is rendered, split into per-role text before and after each message, and the
split is accepted only if it renders every probe conversation (with and without a system prompt, one and several
turns) to exactly hone's text. A template that cannot be written that way (one that renders messages
differently by position, say) gets no TEMPLATE line, and the Modelfile says Ollama will use the chat template
stored in the GGUF file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

S, U, A, V = "\x01S\x01", "\x01U\x01", "\x01A\x01", "\x01V\x01"


@dataclass(frozen=True)
class Wrappers:
    """hone's prompt as: start + each message as before[role] + content + after, then the generation prompt."""

    start: str
    before: dict[str, str]
    after: str
    generation: str
    default_system: str | None

    def render(self, messages: list[dict[str, str]]) -> str:
        if self.default_system and (not messages or messages[0]["role"] != "system"):
            messages = [{"role": "system", "content": self.default_system}, *messages]
        body = "".join(self.before[m["role"]] + m["content"] + self.after for m in messages)
        return self.start + body + self.generation

    def go_template(self) -> str:
        roles = "".join(
            f'{{{{ {"if" if i == 0 else "else if"} eq .Role "{role}" }}}}{_go(text)}{{{{ .Content }}}}{_go(self.after)}'
            for i, (role, text) in enumerate(self.before.items())
        )
        return f"{_go(self.start)}{{{{ range .Messages }}}}{roles}{{{{ end }}}}{{{{ end }}}}{_go(self.generation)}"


def derive(template: Any, tokenizer: Any) -> Wrappers | None:
    """hone's rendering as per-role wrappers, checked on probe conversations; None when it is not of that form."""
    bare = template.__class__(template.spec, None)  # the run's system prompt is the Modelfile's SYSTEM
    try:
        text = bare.prompt(_msgs(("system", S), ("user", U), ("assistant", A), ("user", V)), tokenizer)
        wrappers = _split(text, bare, tokenizer, template.system)
    except (ValueError, KeyError):
        return None
    probes = [
        _msgs(("user", "hi")),
        _msgs(("system", "be brief"), ("user", "hi there")),
        _msgs(("user", "a"), ("assistant", "b"), ("user", "c")),
        _msgs(("system", "s"), ("user", "a"), ("assistant", "b"), ("user", "c")),
    ]
    if wrappers is None or any(wrappers.render(m) != template.prompt(m, tokenizer) for m in probes):
        return None
    return wrappers


def _split(text: str, bare: Any, tokenizer: Any, system: str | None) -> Wrappers | None:
    marks = [text.index(m) for m in (S, U, A, V)]
    if marks != sorted(marks):
        return None
    start_sys, sys_user = text[: marks[0]], text[marks[0] + len(S) : marks[1]]
    user_asst, asst_user = text[marks[1] + len(U) : marks[2]], text[marks[2] + len(A) : marks[3]]
    tail = text[marks[3] + len(V) :]
    after = _common_prefix(sys_user, user_asst, asst_user, tail)
    if "\n" in after:  # "<|im_end|>\n<|im_start|>": the end of a message is its line; the rest opens the next
        after = after[: after.rindex("\n") + 1]
    before_user = sys_user[len(after) :]
    if asst_user[len(after) :] != before_user:
        return None
    before = {"system": start_sys, "user": before_user, "assistant": user_asst[len(after) :]}
    alone = bare.prompt(_msgs(("user", U)), tokenizer)
    lead = alone[: alone.index(U)]
    if not lead.endswith(before_user):
        return None
    lead = lead[: len(lead) - len(before_user)]
    if len(lead) <= len(start_sys) and start_sys.startswith(lead):  # no system prompt of the template's own
        before["system"] = start_sys[len(lead) :]
        return Wrappers(lead, before, after, tail[len(after) :], system)
    if lead.startswith(start_sys) and lead.endswith(after):  # the template adds one when a conversation has none
        default = lead[len(start_sys) : len(lead) - len(after)]
        return Wrappers("", before, after, tail[len(after) :], system or default)
    return None


def modelfile(gguf_name: str, wrappers: Wrappers | None, stops: list[str], system: str | None) -> str:
    """The Modelfile text: FROM, TEMPLATE (when derived), stop tokens, greedy decoding, SYSTEM."""
    lines = [f"FROM ./{gguf_name}"]
    if wrappers is not None:
        lines.append(f'TEMPLATE """{wrappers.go_template()}"""')
        system = system or wrappers.default_system
    else:
        lines.append("# hone could not write the run's prompt rendering as an Ollama template: Ollama uses the")
        lines.append("# chat template stored in the GGUF file (tokenizer.chat_template).")
    lines += [f"PARAMETER stop {_quoted(stop)}" for stop in stops]
    lines.append("PARAMETER temperature 0")
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"


def _msgs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in pairs]


def _common_prefix(*texts: str) -> str:
    first = texts[0]
    n = 0
    while n < len(first) and all(len(t) > n and t[n] == first[n] for t in texts):
        n += 1
    return first[:n]


def _go(text: str) -> str:
    """Literal text inside a Go template: `{{` would open an action, so it is written as one."""
    return text.replace("{{", '{{ "{{" }}')


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
