"""Exceptions users and plug-ins catch by type, and the exit status of an interrupted command."""
import signal


class InputError(ValueError):
    """The caller's image, mask, region or file is unusable; the message says which and why."""


class ModelError(RuntimeError):
    """A model file is missing, corrupt or does not match its card."""


class Cancelled(RuntimeError):
    """The caller's cancel callback asked the work to stop; nothing was written."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be (the CLI's handler)."""
    signum = signal.SIGTERM


def interrupt_signal(interrupt: BaseException) -> int:
    """The signal behind a KeyboardInterrupt: SIGTERM for Terminated, else SIGINT (Ctrl-C)."""
    return int(getattr(interrupt, "signum", signal.SIGINT))


def exit_status(signum: int) -> int:
    """The shell's convention, 128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + signum
