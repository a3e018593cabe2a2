"""hone's prompt rendering as a Jinja chat template, for servers that render prompts themselves (vLLM).

`chat_template_jinja(template, tokenizer)` renders every conversation to the text `Template.prompt` gives,
so the served adapter sees the prompt tokens it was trained on (tests compare both renderings).
"""

from __future__ import annotations

import json
from typing import Any

from hone.tasks.chat import Template


def chat_template_jinja(template: Template, tokenizer: Any) -> str:
    """A Jinja chat template rendering a conversation as `template.prompt` does, for vLLM's --chat-template.

    The run's system prompt is added when a conversation has none, and BOS put first where hone's
    tokenisation puts it (vLLM adds no special tokens to a chat prompt), so the rendered text tokenises
    to hone's prompt ids. TemplateError when the template cannot render (`chat` with a tokenizer that
    has no chat template).
    """
    template.check(tokenizer)
    body = _tokenizer_template(tokenizer) if template.is_chat else _format_template(template.spec)
    return _default_system(template.system) + _bos(tokenizer) + body


def _tokenizer_template(tokenizer: Any) -> str:
    from hone.tasks.chat import TemplateError

    text = tokenizer.chat_template
    text = text.get("default") if isinstance(text, dict) else text  # several named templates: chat uses default
    if not isinstance(text, str):
        raise TemplateError("the tokenizer has named chat templates but no `default` one, which hone renders with")
    return text


def _format_template(spec: str) -> str:
    """hone's format-string templates (alpaca, plain, "...{prompt}...") in Jinja, as `Template.prompt` renders
    them: system messages as paragraphs for {system}; earlier turns as "Role: text" lines, then the last
    message's text, for {prompt}."""
    from hone.tasks.chat import NAMED_TEMPLATES

    text = NAMED_TEMPLATES.get(spec, spec)
    return (
        "{% set ns = namespace(system='', history='', last='') %}"
        "{% for m in messages if m['role'] == 'system' %}{% set ns.system = ns.system + m['content'] + '\\n\\n' %}"
        "{% endfor %}"
        "{% for m in messages if m['role'] != 'system' %}{% if loop.last %}{% set ns.last = m['content'] %}"
        "{% else %}{% set ns.history = ns.history + (m['role'] | capitalize) + ': ' + m['content'] + '\\n' %}"
        "{% endif %}{% endfor %}"
        f"{{{{ {_jinja_string(text)} | replace('{{system}}', ns.system)"
        " | replace('{prompt}', ns.history + ns.last) }}"
    )


def _default_system(system: str | None) -> str:
    if not system:
        return ""
    return (
        "{% if not messages or messages[0]['role'] != 'system' %}"
        f"{{% set messages = [{{'role': 'system', 'content': {_jinja_string(system)}}}] + messages %}}"
        "{% endif %}"
    )


def _bos(tokenizer: Any) -> str:
    """BOS as hone's tokenize_segments adds it: when the tokenizer adds BOS and has one."""
    if getattr(tokenizer, "add_bos_token", False) and getattr(tokenizer, "bos_token_id", None) is not None:
        return f"{{{{ {_jinja_string(tokenizer.bos_token)} }}}}"
    return ""


def _jinja_string(text: str) -> str:
    """`text` as a Jinja string literal. JSON's escapes are Jinja's (quotes, backslashes, newlines), and
    Jinja reads a tag token by token, so template delimiters inside the literal end nothing (tested)."""
    return json.dumps(text, ensure_ascii=False)
