"""Personalisation templates: Jinja2 in its sandbox, so a template never reaches server
internals (attribute access to private or unsafe members is refused at render time)."""

from __future__ import annotations

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

_env = SandboxedEnvironment(autoescape=False)


def template_error(text: str) -> str | None:
    """Why `text` does not parse as a template, or None when it does."""
    try:
        _env.parse(text)
    except TemplateSyntaxError as exc:
        return f"is not a valid template (line {exc.lineno}): {exc.message}"
    return None
