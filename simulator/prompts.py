"""Prompt templates live as files in `prompts/`; this renders them strictly.

Templates use `{{name}}` placeholders. Rendering fails if a placeholder has no value or a value has no
placeholder, so a renamed variable can never silently produce a prompt with a hole in it. Values are
inserted verbatim and never re-scanned, so text inside a value (a trainee's turn, say) cannot inject
another placeholder.

A template may open with one `<!-- ... -->` note for maintainers (where its text comes from, what must
stay in step with it). The note is dropped when the template is loaded, so the model never sees it and
it does not change the grader's prompt version.
"""

from __future__ import annotations

import re
from functools import lru_cache

from simulator.errors import PromptRenderError
from simulator.resources import prompts_dir

PROMPTS_DIR = prompts_dir()
_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
_MAINTAINER_NOTE = re.compile(r"\A<!--.*?-->[ \t]*\n?", re.S)


@lru_cache(maxsize=64)
def load_template(name: str) -> str:
    """The text of `prompts/<name>` (add `.md` if no suffix is given), without its maintainer note."""
    path = PROMPTS_DIR / (name if "." in name else f"{name}.md")
    if not path.is_file():
        raise PromptRenderError(f"prompt template {path} does not exist; add it under prompts/")
    return _MAINTAINER_NOTE.sub("", path.read_text(encoding="utf-8"), count=1)


def placeholders(template: str) -> set[str]:
    """The variable names a template uses."""
    return set(_PLACEHOLDER.findall(template))


def render_text(template: str, /, **values: object) -> str:
    """Render a template string strictly (see module docstring)."""
    wanted = placeholders(template)
    missing = wanted - values.keys()
    extra = values.keys() - wanted
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing values for {sorted(missing)}")
        if extra:
            parts.append(f"no placeholder for {sorted(extra)}")
        raise PromptRenderError("prompt render failed: " + "; ".join(parts))
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def render(name: str, /, **values: object) -> str:
    """Render `prompts/<name>` strictly."""
    try:
        return render_text(load_template(name), **values)
    except PromptRenderError as exc:
        raise PromptRenderError(f"{name}: {exc}") from exc
