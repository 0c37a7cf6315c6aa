"""Logging for every daemon: structlog with context bound per task (contextvars).

Bind a UE's identifiers once and every event logged inside carries them:

    with bound_context(imsi=imsi, request_id=request_id):
        log.info("attach accepted")

The context keys used across the project are `imsi`, `enb`, `request_id` and `teid`.

Where events go is chosen once at start (`configure_logging`):
- under systemd, when stderr is the journal stream (JOURNAL_STREAM, systemd.exec(5)), each event
  goes to journald natively with its context as fields (IMSI=..., REQUEST_ID=...), so
  `journalctl IMSI=001010000000001` finds a UE's history;
- `format = "json"` writes one JSON object per line to stderr;
- otherwise readable lines on stderr, coloured only on a terminal.
Library logging through the stdlib `logging` module (kazoo, asyncio) is routed to the same place.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog

from epc.daemon.config import LogConfig

__all__ = ["bind_context", "bound_context", "configure_logging", "get_logger", "journal_field"]

bind_context = structlog.contextvars.bind_contextvars
bound_context = structlog.contextvars.bound_contextvars
get_logger = structlog.get_logger

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

# syslog(3) priorities, which journald's PRIORITY field uses.
_JOURNAL_PRIORITY = {"debug": "7", "info": "6", "warning": "4", "error": "3", "critical": "2"}

# Fields this module sets itself; a bound key with the same name gets a prefix instead of
# overwriting them.
_OWN_FIELDS = frozenset({"MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER"})


def configure_logging(
    daemon: str,
    config: LogConfig,
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Set up structlog (and route stdlib logging into it) for the rest of the process."""
    stream = stream or sys.stderr
    environ = os.environ if environ is None else environ
    level = _LEVELS[config.level]
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
    ]
    if config.format == "auto" and _is_journal_stream(stream, environ):
        processors = [*shared, structlog.processors.format_exc_info, _JournalFields(daemon)]
        logger_factory: Any = _JournalLogger
    elif config.format == "json":
        processors = [
            *shared,
            _DefaultLogger(daemon),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ]
        logger_factory = structlog.PrintLoggerFactory(stream)
    else:
        processors = [
            *shared,
            _DefaultLogger(daemon),
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
            structlog.dev.ConsoleRenderer(colors=_isatty(stream)),
        ]
        logger_factory = structlog.PrintLoggerFactory(stream)
    structlog.reset_defaults()
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=logger_factory,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    root.handlers[:] = [_ToStructlog()]
    root.setLevel(level)


def _is_journal_stream(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """systemd.exec(5): JOURNAL_STREAM is "<dev>:<inode>" of the journal stream; it counts only
    if stderr is still that stream (not redirected by a shell in between)."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (status.st_dev, status.st_ino) == (int(device), int(inode))


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (ValueError, AttributeError):
        return False


class _DefaultLogger:
    """Names the daemon on each line, so interleaved output of a local core stays readable."""

    def __init__(self, daemon: str) -> None:
        self._daemon = daemon

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("logger", self._daemon)
        return event


class _JournalFields:
    """Final processor under journald: the event as journal fields, passed to the logger."""

    def __init__(self, daemon: str) -> None:
        self._daemon = daemon

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, str]:
        level = event.pop("level", method)
        message = str(event.pop("event", ""))
        if (exception := event.pop("exception", None)) is not None:
            message = f"{message}\n{exception}"
        fields = {
            "MESSAGE": message,
            "PRIORITY": _JOURNAL_PRIORITY.get(level, "6"),
            "SYSLOG_IDENTIFIER": self._daemon,
        }
        for key, value in event.items():
            fields[journal_field(key)] = str(value)
        return fields


@functools.lru_cache(maxsize=256)
def journal_field(key: str) -> str:
    """A bound key as a journal field name: upper case, [A-Z0-9_], starting with a letter
    (journald drops fields that start with "_" or a digit), at most 64 characters."""
    name = re.sub(r"[^A-Z0-9_]", "_", key.upper()).lstrip("_")
    if not name or name[0].isdigit() or name in _OWN_FIELDS:
        name = f"FIELD_{name}"
    return name[:64]


class _JournalLogger:
    """structlog logger whose every level sends the processed fields to journald."""

    def __init__(self, *args: Any) -> None:
        # Imported only under journald: it loads libsystemd, which boards need not pay for.
        from cysystemd import journal

        self._send = journal.send

    def msg(self, **fields: str) -> None:
        self._send(**fields)

    debug = info = warning = error = critical = exception = log = msg


class _ToStructlog(logging.Handler):
    """Routes records of stdlib-logging libraries (kazoo, asyncio) through structlog."""

    _STANDARD = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)

    def emit(self, record: logging.LogRecord) -> None:
        level = max((std for std in self._STANDARD if std <= record.levelno), default=logging.DEBUG)
        extra: dict[str, Any] = {"logger": record.name}
        if record.exc_info:
            extra["exc_info"] = record.exc_info
        structlog.get_logger().log(level, record.getMessage(), **extra)
