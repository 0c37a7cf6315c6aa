"""Daemon configuration: TOML files loaded once into frozen, validated msgspec Structs.

Owns the sections every daemon shares (`deployment`, `[log]`, `[lifecycle]`, `[store]`) and
`load_config`, whose only failure is a `ConfigError` carrying one line that names the file,
the key path and what was expected, e.g.

    configs/mme.toml: store.zookeeper.session_timeout_s: expected a number > 0, got -1

A daemon's own config subclasses `DaemonConfig` and adds its sections; every section is a
`Section`, so unknown keys are errors and nothing can be changed after loading.
"""

from __future__ import annotations

import os
import re
import tomllib
from typing import Annotated, Any, Literal, TypeVar, get_args

import msgspec

from epc.store.retry import RetryPolicy

__all__ = [
    "ConfigError",
    "DaemonConfig",
    "LifecycleConfig",
    "LogConfig",
    "RetryConfig",
    "Section",
    "SqliteConfig",
    "StoreConfig",
    "ZooKeeperConfig",
    "load_config",
]


class ConfigError(Exception):
    """The config file is missing, unreadable, not TOML or not valid; the message is one line."""


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every config table. Subclasses must repeat `kw_only=True` (msgspec does not
    inherit it); `frozen` and `forbid_unknown_fields` are inherited."""


PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeSeconds = Annotated[float, msgspec.Meta(ge=0)]
NonEmptyString = Annotated[str, msgspec.Meta(min_length=1)]


class LogConfig(Section, kw_only=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"
    """"auto": journald fields under systemd, readable lines elsewhere; "json": JSON lines."""


class LifecycleConfig(Section, kw_only=True):
    drain_timeout_s: PositiveSeconds = 10.0
    """Deadline for all shutdown phases after SIGTERM; keep systemd's TimeoutStopSec above it."""


class SqliteConfig(Section, kw_only=True):
    path: NonEmptyString = "store.db"
    """Relative paths are relative to the working directory (/var/lib/echo-epc under systemd)."""
    synchronous: Literal["full", "normal"] = "full"
    """"full" fsyncs every commit and survives power loss; "normal" survives crashes only."""


class ZooKeeperConfig(Section, kw_only=True):
    hosts: Annotated[tuple[NonEmptyString, ...], msgspec.Meta(min_length=1)] = ("127.0.0.1:2181",)
    """Ensemble members as "host:port"."""
    session_timeout_s: PositiveSeconds = 10.0


_DEFAULT_RETRY = RetryPolicy()


class RetryConfig(Section, kw_only=True):
    """The store's retry policy; see `epc.store.retry.RetryPolicy` for what each key means."""

    tries: Annotated[int, msgspec.Meta(ge=1)] = _DEFAULT_RETRY.tries
    initial_delay_s: NonNegativeSeconds = _DEFAULT_RETRY.initial_delay_s
    multiplier: Annotated[float, msgspec.Meta(ge=1)] = _DEFAULT_RETRY.multiplier
    max_delay_s: NonNegativeSeconds = _DEFAULT_RETRY.max_delay_s
    jitter: Annotated[float, msgspec.Meta(ge=0, le=1)] = _DEFAULT_RETRY.jitter
    deadline_s: PositiveSeconds = _DEFAULT_RETRY.deadline_s

    def __post_init__(self) -> None:
        if self.max_delay_s < self.initial_delay_s:
            raise ValueError("max_delay_s must not be below initial_delay_s")

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            tries=self.tries,
            initial_delay_s=self.initial_delay_s,
            multiplier=self.multiplier,
            max_delay_s=self.max_delay_s,
            jitter=self.jitter,
            deadline_s=self.deadline_s,
        )


class StoreConfig(Section, kw_only=True):
    backend: Literal["sqlite", "zookeeper"] = "sqlite"
    sqlite: SqliteConfig = msgspec.field(default_factory=SqliteConfig)
    zookeeper: ZooKeeperConfig = msgspec.field(default_factory=ZooKeeperConfig)
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)


class DaemonConfig(Section, kw_only=True):
    """What every daemon's config file holds; daemons subclass it to add their own tables."""

    deployment: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9-]+$", max_length=64)] = "epc"
    """Prefix of every store path (`/<deployment>/ue/<imsi>`); one core shares one value."""
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    lifecycle: LifecycleConfig = msgspec.field(default_factory=LifecycleConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)


ConfigT = TypeVar("ConfigT", bound=msgspec.Struct)


def load_config(path: str | os.PathLike[str], config_type: type[ConfigT]) -> ConfigT:
    """Read, parse and validate the file at `path`; ConfigError with one line on any problem."""
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: TOML syntax error: {error}") from None
    try:
        return msgspec.convert(table, config_type)
    except msgspec.ValidationError as error:
        problem = explain_validation_error(str(error), table, config_type)
        raise ConfigError(f"{path}: {problem}") from None


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_PATH_STEP = re.compile(r"\.(\w+)|\[(\d+)\]|\[\.\.\.\]")
_UNKNOWN_KEY = re.compile(r"^Object contains unknown field `(?P<key>[^`]*)`$")
_MISSING_KEY = re.compile(r"^Object missing required field `(?P<key>[^`]*)`$")
# msgspec's own wording for a failed type or constraint check; anything else came from a
# `__post_init__` and is already phrased for the reader.
_TYPE_OR_CONSTRAINT = re.compile(r"^(Expected |Invalid enum value )")


def explain_validation_error(message: str, table: dict[str, Any], config_type: type) -> str:
    """Turn msgspec's "... - at `$.a.b[0]`" into "a.b[0]: expected ..., got ..."."""
    match = _AT.match(message)
    assert match is not None  # the pattern matches any string
    detail, steps = match["message"], _parse_path(match["path"] or "")
    if unknown := _UNKNOWN_KEY.match(detail):
        return f"{_dotted([*steps, unknown['key']])}: unknown key"
    if missing := _MISSING_KEY.match(detail):
        return f"{_dotted([*steps, missing['key']])}: required key missing"
    where = _dotted(steps) or "(top level)"
    if not _TYPE_OR_CONSTRAINT.match(detail):
        return f"{where}: {detail}"
    expected = _type_at(msgspec.inspect.type_info(config_type), steps)
    if expected is None:
        return f"{where}: {detail}"
    got = _value_at(table, steps)
    return f"{where}: expected {_describe(expected)}, got {_render(got)}"


def _parse_path(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for match in _PATH_STEP.finditer(path):
        key, index = match.groups()
        # `[...]` (a dict key msgspec does not name) cannot be followed further.
        if key is None and index is None:
            break
        steps.append(key if key is not None else int(index))
    return steps


def _dotted(steps: list[str | int]) -> str:
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else f".{step}" if text else step
    return text


def _type_at(info: msgspec.inspect.Type, steps: list[str | int]) -> msgspec.inspect.Type | None:
    for step in steps:
        match info, step:
            case msgspec.inspect.StructType(cls=cls, fields=fields), str():
                info = next((field.type for field in fields if field.encode_name == step), None)
                if info is None:
                    return None
                if isinstance(info, msgspec.inspect.LiteralType):
                    # msgspec sorts a Literal's values; the annotation keeps the author's order.
                    annotation = _annotation_of(cls, step)
                    info = msgspec.inspect.LiteralType(values=get_args(annotation) or info.values)
            case msgspec.inspect.VarTupleType(item_type=item) | msgspec.inspect.ListType(
                item_type=item
            ), int():
                info = item
            case msgspec.inspect.DictType(value_type=value), str():
                info = value
            case _:
                return None
    return info


def _annotation_of(cls: type[msgspec.Struct], encode_name: str) -> Any:
    field = next(field for field in msgspec.structs.fields(cls) if field.encode_name == encode_name)
    return field.type


def _value_at(table: Any, steps: list[str | int]) -> Any:
    for step in steps:
        table = table[step]
    return table


def _describe(info: msgspec.inspect.Type) -> str:
    match info:
        case msgspec.inspect.LiteralType(values=values):
            return "one of " + ", ".join(_render(value) for value in values)
        case msgspec.inspect.BoolType():
            return "true or false"
        case msgspec.inspect.IntType():
            return "an integer" + _bounds(info)
        case msgspec.inspect.FloatType():
            return "a number" + _bounds(info)
        case msgspec.inspect.StrType(min_length=minimum, max_length=maximum, pattern=pattern):
            text = "a non-empty string" if minimum else "a string"
            if maximum is not None:
                text += f" of at most {maximum} characters"
            return text + (f" matching {pattern}" if pattern else "")
        case (
            msgspec.inspect.VarTupleType(min_length=minimum)
            | msgspec.inspect.ListType(min_length=minimum)
        ):
            items = _PLURALS.get(type(info.item_type), "values")
            return ("a non-empty array" if minimum else "an array") + f" of {items}"
        case msgspec.inspect.StructType() | msgspec.inspect.DictType():
            return "a table"
    return "a value of a different type"


_PLURALS: dict[type, str] = {
    msgspec.inspect.StrType: "strings",
    msgspec.inspect.IntType: "integers",
    msgspec.inspect.FloatType: "numbers",
}


def _bounds(info: msgspec.inspect.IntType | msgspec.inspect.FloatType) -> str:
    limits = [(">", info.gt), (">=", info.ge), ("<", info.lt), ("<=", info.le)]
    text = " and ".join(f"{op} {limit}" for op, limit in limits if limit is not None)
    return f" {text}" if text else ""


def _render(value: Any) -> str:
    match value:
        case bool():
            return "true" if value else "false"
        case str():
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        case dict():
            return "a table"
        case list() if len(value) <= 4:
            return "[" + ", ".join(_render(item) for item in value) + "]"
        case list():
            return "an array"
    return str(value)
