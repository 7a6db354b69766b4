"""Where Cooldown's shipped data lives: the persona library, prompts, suites and appraiser weights.

The one place that finds data folders. In a checkout (or an editable install) they are the
repository's own top-level folders (`personas/`, `prompts/`); in a wheel the build maps those folders
into the package as `simulator/_data/` (see `[tool.setuptools.package-dir]` in pyproject.toml).
Data that already lives inside a package (`evals/suites`, the appraiser weights, migrations) is found
through `importlib.resources` the same way in both cases.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE_DIR / "_data"


@cache
def _data_root() -> Path:
    """`simulator/_data` in a wheel; the repository root in a checkout."""
    if (_BUNDLED / "personas").is_dir():
        return _BUNDLED
    return _PACKAGE_DIR.parent


def personas_dir() -> Path:
    """The built-in persona library (read-only: designers keep their own folders, see COOLDOWN_PERSONAS)."""
    return _data_root() / "personas"


def prompts_dir() -> Path:
    """The prompt templates (`prompts/*.md`)."""
    return _data_root() / "prompts"


def package_path(package: str, *parts: str) -> Path:
    """A file shipped inside `package` (e.g. `package_path("evals", "suites")`), as a real path."""
    return Path(str(resources.files(package).joinpath(*parts)))


def checkout_root() -> Path | None:
    """The repository root when running from a checkout (benchmarks and scripts live there), else None."""
    root = _PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "benchmarks").is_dir() else None
