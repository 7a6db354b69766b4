"""Cooldown's exceptions. Each message says what went wrong *and how to fix it*.

Library code raises these; only the edges (CLI, web page) turn them into friendly text. Tests let them
propagate. Messages never contain API keys.
"""

from __future__ import annotations


class CooldownError(Exception):
    """Base class for every error Cooldown raises on purpose."""


class ConfigError(CooldownError):
    """Settings are missing or contradict each other."""


class ModelError(CooldownError):
    """A model provider could not serve a request."""

    retryable: bool = False


class ModelUnavailable(ModelError):
    """The server could not be reached, or the embedded server did not start."""

    retryable = True


class ModelAuthError(ModelError):
    """The provider rejected the API key."""


class ModelNotFound(ModelError):
    """The provider does not know the model name."""


class ModelFileMissing(ModelError):
    """The GGUF file for the embedded model is not there."""


class ModelTimeout(ModelError):
    """The call did not finish within the configured time budget."""

    retryable = True


class ModelRateLimited(ModelError):
    """The provider rate-limited us and retries were exhausted, or the quota is gone."""

    retryable = True


class ModelBadRequest(ModelError):
    """The provider refused the request as malformed (400/422)."""


class ModelStreamInterrupted(ModelError):
    """A streamed reply was cut off mid-way. The partial text is never stored as final."""

    retryable = True

    def __init__(self, message: str, partial: str = "") -> None:
        super().__init__(message)
        self.partial = partial


class ModelOutputError(ModelError):
    """The model answered, but not in the shape asked for (structured output that fails validation)."""

    def __init__(self, message: str, raw: str = "", attempts: int = 1) -> None:
        super().__init__(message)
        self.raw = raw
        self.attempts = attempts


class FileContentError(CooldownError):
    """A file a person wrote is not valid. `location` is `path:line[:column]` where known; `field` is the
    field path inside the file. The message reads `location: field: what is wrong`."""

    def __init__(self, message: str, location: str = "", field: str = "") -> None:
        self.location = location
        self.field = field
        self.detail = message
        prefix = f"{location}: " if location else ""
        where = f"{field}: " if field else ""
        super().__init__(f"{prefix}{where}{message}")


class PersonaError(FileContentError):
    """A persona file is not valid."""


class PromptRenderError(CooldownError):
    """A prompt template references a variable that was not supplied, or was given unknown ones."""


class InputRejected(CooldownError):
    """A trainee message (or other user input) was refused before anything was stored or sent."""


class StorageError(CooldownError):
    """The database could not be opened or written."""


class CallTakenOver(StorageError):
    """The call was continued in another tab or on another instance; this copy of it may no longer write."""
