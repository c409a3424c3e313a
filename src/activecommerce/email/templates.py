"""Personalisation templates: Jinja2 in its sandbox, so a template never reaches server
internals (attribute access to private or unsafe members is refused at render time).

Checking a template is bounded and isolated, because the text is the user's: a 1 MB
`{{ a|e|e|e...}}` costs seconds of parsing, `{{ ((((...` overflows the parser's stack,
and even one of Jinja's lexer regexes over 1 MB holds the GIL for ~80 ms, so a thread
would still stall the event loop. So:

- the work runs in a separate process (one, made on first use), never on the event loop
  and never inside a write transaction (it is called from `Rules.check`);
- the lexer's token stream is cut off at `MAX_TOKENS` before the parser sees it, so the
  parse is bounded too (a real template uses a few hundred tokens; each placeholder is
  about five);
- a check that still takes longer than `TIMEOUT_SECONDS` is refused as too complex (and
  the process replaced); at most `MAX_CHECKING` checks wait at once, more get a 503.

Rendering happens once per recipient, so its cost must be bounded by the template's size:
a template may only print values, test them (`if`) and pass them through a few filters
(`ALLOWED_FILTERS`, constant arguments). Loops, calls, assignments and arithmetic are
refused when the template is saved (`{% for i in range(10**5) %}` nested twice runs for
hours; `{{ 'x' * 10**9 }}` is a gigabyte), which the sandbox alone does not prevent.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from jinja2 import Template, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from activecommerce.kit.problems import Problem
from activecommerce.kit.processes import exit_with_parent

MAX_TOKENS = 20_000
TIMEOUT_SECONDS = 5.0
MAX_CHECKING = 4

# Subjects and plain-text parts are text: nothing to escape. HTML parts escape every
# value they insert (a contact named "<script>" arrives as text), unless a template marks
# a value safe on purpose.
_env = SandboxedEnvironment(autoescape=False)
_html_env = SandboxedEnvironment(autoescape=True)


# What a template may use (see the module's docstring): each node costs time linear in
# the template's size when rendered.
_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.If,
    nodes.CondExpr,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Compare,
    nodes.Operand,
    nodes.Test,
    nodes.Filter,
    nodes.Concat,
)
ALLOWED_FILTERS = frozenset(
    {
        "capitalize",
        "d",
        "default",
        "e",
        "escape",
        "lower",
        "safe",
        "striptags",
        "title",
        "trim",
        "truncate",
        "upper",
        "urlencode",
    }
)


def compile_template(text: str, *, html: bool) -> Template:
    """A saved template, compiled once for a whole send (escaped for HTML when `html`).
    CPU-bound: call it off the event loop."""
    env = _html_env if html else _env
    return env.from_string(text)


def render(text: str, context: dict[str, Any], *, html: bool) -> str:
    """`text` rendered with `context` (`contact`, `unsubscribe_url`, ...), escaped for
    HTML when `html`. Templates were checked when saved (`template_errors`)."""
    return compile_template(text, html=html).render(context)


def _unsupported(tree: nodes.Template) -> str | None:
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            what = type(node).__name__.lower()
            return (
                f"uses {what}, which email templates do not support (only values, if and filters)"
            )
        if isinstance(node, nodes.Filter | nodes.Test):
            if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
                return f"uses the filter {node.name!r}, which email templates do not support"
            if any(not isinstance(arg, nodes.Const) for arg in [*node.args, *node.kwargs]):
                return "passes a computed argument to a filter or test; use constants"
        if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Const):
            return "uses a computed index; use constants"
        name = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = str(node.arg.value)
        if name is not None and name.startswith("_"):
            return f"reaches for {name!r}, which is not a contact field"
    return None


def template_error(text: str) -> str | None:
    """Why `text` is not an acceptable template, or None when it parses. CPU-bound:
    call `template_errors` from async code."""
    try:
        for count, _token in enumerate(_env.lex(text), 1):
            if count > MAX_TOKENS:
                return f"is too complex (over {MAX_TOKENS} template tokens)"
        tree = _env.parse(text)
    except TemplateSyntaxError as exc:
        return f"is not a valid template (line {exc.lineno}): {exc.message}"
    except RecursionError:
        return "is nested too deeply"
    try:
        message = _unsupported(tree)
    except RecursionError:
        return "is nested too deeply"
    return f"is not a valid template: it {message}" if message else None


def _errors(fields: dict[str, str]) -> list[dict[str, str]]:
    errors = []
    for name, text in fields.items():
        message = template_error(text)
        if message:
            errors.append({"field": name, "message": message})
    return errors


T = TypeVar("T")

_pool: ProcessPoolExecutor | None = None
_checking = 0  # checks sent to the parser process and not answered yet


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn: a fresh interpreter, nothing inherited from the server's threads/sockets.
        _pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            # The parser process goes with the server, however it stops (kit/processes.py).
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        )
    return _pool


def _discard_pool() -> None:
    """Stop the parser process (a check ran out of time, or it died): the next check
    starts a new one. ProcessPoolExecutor cannot stop a running task; killing its process
    is the only way (Python 3.14 adds terminate_workers() for this)."""
    global _pool
    pool, _pool = _pool, None
    if pool is None:
        return
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def close() -> None:
    """Stop the parser process, if any (the server's shutdown)."""
    _discard_pool()


async def template_errors(fields: dict[str, str | None]) -> list[dict[str, str]]:
    """Field errors for the templates among `fields` (None and "" are skipped)."""
    texts = {name: text for name, text in fields.items() if text}
    if not texts:
        return []
    found = await in_parser(_errors, texts)
    if found is None:
        return [{"field": name, "message": "is too complex to check in time"} for name in texts]
    return found


async def in_parser(work: Callable[..., T], *args: Any) -> T | None:
    """`work(*args)` in the parser process (picklable arguments and result): never on the
    event loop, given up (None) after `TIMEOUT_SECONDS` (the process is replaced).

    At most `MAX_CHECKING` calls wait for the parser at once, so that one tenant's burst
    of large templates makes its own requests wait (503, retry) rather than everyone's."""
    global _checking
    if _checking >= MAX_CHECKING:
        raise busy()
    _checking += 1
    try:
        loop = asyncio.get_running_loop()
        for _attempt in range(2):
            try:
                future = loop.run_in_executor(_executor(), work, *args)
                return await asyncio.wait_for(future, TIMEOUT_SECONDS)
            except TimeoutError:
                _discard_pool()
                return None
            except BrokenProcessPool:
                _discard_pool()  # the parser died (killed, out of memory): make another
        raise busy()
    finally:
        _checking -= 1


def busy() -> Problem:
    return Problem(
        503, "Templates cannot be checked right now; retry shortly.", headers={"Retry-After": "1"}
    )
