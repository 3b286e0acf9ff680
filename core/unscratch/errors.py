"""Exceptions users and plug-ins catch by type."""


class InputError(ValueError):
    """The caller's image, mask, region or file is unusable; the message says which and why."""


class ModelError(RuntimeError):
    """A model file is missing, corrupt or does not match its card."""


class Cancelled(RuntimeError):
    """The caller's cancel callback asked the work to stop; nothing was written."""
