"""`epcctl`'s command line: arguments, config, the store session, and exit codes.

Every failure is one line on stderr, never a traceback:

- exit 2: usage and input errors, found before the store is touched: bad arguments, a config
  file that is missing or invalid (the line names the key), a bad CSV file (the line names
  the line and the column), a bad field value in `add`;
- exit 1: runtime errors: the store is unreachable, an IMSI is unknown or already there, a
  record changed underneath;
- exit 0 otherwise, with the command's output on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn, get_type_hints

import msgspec

from epc.daemon.config import ConfigError, DaemonConfig, StoreConfig, load_config
from epc.epcctl import subscribers as commands
from epc.store import Store, StoreError
from epc.store.factory import open_store
from epc.subscriber import Subscriber, SubscriberError, read_csv, subscriber_from_row

PROG = "epcctl"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_DEPLOYMENT = get_type_hints(DaemonConfig, include_extras=True)["deployment"]


class ToolConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What epcctl reads from a daemon's config file, validated as the daemons validate it.
    Unknown top-level keys are allowed: they are the daemon's own tables."""

    deployment: _DEPLOYMENT = DaemonConfig().deployment  # type: ignore[valid-type]
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)


class UsageError(Exception):
    """Bad command line; exit 2."""


class _Parser(argparse.ArgumentParser):
    """Raises UsageError instead of printing usage and exiting, so every error is one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


Command = Callable[[Store, str], Awaitable[str]]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(run(sys.argv[1:] if argv is None else argv))


def run(argv: Sequence[str]) -> int:
    """Parse, prepare (all input checked), then run the command on the store; the exit code."""
    # kazoo logs through stdlib logging; unconfigured, its warnings would reach stderr.
    logging.getLogger().addHandler(logging.NullHandler())
    try:
        arguments = build_parser().parse_args(argv)
        if arguments.config is None:
            raise UsageError(f"{PROG}: --config is required (see --help)")
        config = load_config(arguments.config, ToolConfig)
        command = arguments.prepare(arguments)
    except UsageError as error:
        return _fail(str(error), EXIT_USAGE)
    except (ConfigError, SubscriberError) as error:
        return _fail(f"{PROG}: {error}", EXIT_USAGE)
    try:
        output = asyncio.run(_on_store(config, command))
    except (commands.CommandError, SubscriberError, StoreError) as error:
        return _fail(f"{PROG}: {error}", EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail(f"{PROG}: interrupted", EXIT_INTERRUPTED)
    except Exception as error:  # a bug: still one line, with what it was
        return _fail(f"{PROG}: unexpected error: {type(error).__name__}: {error}", EXIT_FAILED)
    return _print(output)


async def _on_store(config: ToolConfig, command: Command) -> str:
    store = await open_store(config.store, config.store.retry.policy())
    try:
        return await command(store, config.deployment)
    finally:
        await store.close()


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code


def _print(output: str) -> int:
    if not output:
        return EXIT_OK
    try:
        print(output, flush=True)
    except BrokenPipeError:  # `epcctl subscriber list | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


# --- the command line ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    config_help = "a daemon's TOML config file; its `deployment` and [store] are used"
    parser = _Parser(
        prog=PROG,
        description="Manage what the core keeps in its store.",
        epilog="Exit codes: 0 done, 1 runtime error (store, unknown or existing IMSI), "
        "2 usage, config or input file error.",
    )
    parser.add_argument("--config", metavar="PATH", help=config_help)
    # Accepted after the subcommand too; SUPPRESS keeps it from overwriting the one before.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=config_help)

    groups = parser.add_subparsers(dest="group", metavar="GROUP", required=True)
    subscriber = groups.add_parser(
        "subscriber", help="subscriber records (IMSI, K, OPc, AMF, SQN, APN, QCI, AMBR)"
    )
    actions = subscriber.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", parents=[common], help="add one subscriber")
    _add_subscriber_options(add)
    add.set_defaults(prepare=_prepare_add)

    load = actions.add_parser(
        "import", parents=[common], help="add every subscriber of a CSV file (the one enbsim reads)"
    )
    load.add_argument("csv", metavar="FILE.csv", help="imsi,k,opc,op,amf,sqn,apn,qci,...")
    load.add_argument(
        "--replace",
        action="store_true",
        help="overwrite existing IMSIs (a stored SQN ahead of the file's is kept)",
    )
    load.set_defaults(prepare=_prepare_import)

    listing = actions.add_parser("list", parents=[common], help="IMSI, APN, QCI and SQN of all")
    _add_output_options(listing)
    listing.set_defaults(prepare=_prepare_list)

    show = actions.add_parser("show", parents=[common], help="one subscriber's record")
    show.add_argument("imsi", metavar="IMSI")
    _add_output_options(show)
    show.set_defaults(prepare=_prepare_show)

    remove = actions.add_parser("remove", parents=[common], help="delete one subscriber")
    remove.add_argument("imsi", metavar="IMSI")
    remove.set_defaults(prepare=_prepare_remove)
    return parser


def _add_subscriber_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--imsi", required=True, help="6 to 15 digits")
    parser.add_argument("--k", required=True, metavar="HEX", help="K, 16 octets in hex")
    secret = parser.add_mutually_exclusive_group(required=True)
    secret.add_argument("--opc", metavar="HEX", help="OPc, 16 octets in hex")
    secret.add_argument("--op", metavar="HEX", help="OP (OPc is derived from it and K)")
    parser.add_argument("--amf", metavar="HEX", help="2 octets in hex (default 8000)")
    parser.add_argument("--sqn", metavar="N", help="the next SQN to issue, decimal (default 0)")
    parser.add_argument("--apn", help="default APN (default internet)")
    parser.add_argument("--qci", metavar="N", help="QCI of the default bearer (default 9)")
    parser.add_argument("--ambr-ul", metavar="KBPS", help="APN-AMBR uplink in kbit/s")
    parser.add_argument("--ambr-dl", metavar="KBPS", help="APN-AMBR downlink in kbit/s")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="JSON instead of text")
    parser.add_argument("--secrets", action="store_true", help="include K and OPc")


# Each `_prepare_*` checks the input (raising UsageError or SubscriberFileError, exit 2)
# and returns the command to run on the store.


def _prepare_add(arguments: argparse.Namespace) -> Command:
    row = {
        "imsi": arguments.imsi,
        "k": arguments.k,
        "opc": arguments.opc,
        "op": arguments.op,
        "amf": arguments.amf,
        "sqn": arguments.sqn,
        "apn": arguments.apn,
        "qci": arguments.qci,
        "ambr_ul_kbps": arguments.ambr_ul,
        "ambr_dl_kbps": arguments.ambr_dl,
    }
    try:
        subscriber = subscriber_from_row({name: v for name, v in row.items() if v is not None})
    except SubscriberError as error:
        raise UsageError(f"{PROG} subscriber add: {error}") from None

    async def command(store: Store, deployment: str) -> str:
        return await commands.add(store, deployment, subscriber)

    return command


def _prepare_import(arguments: argparse.Namespace) -> Command:
    subscribers = read_csv(arguments.csv)

    async def command(store: Store, deployment: str) -> str:
        return await commands.import_subscribers(
            store, deployment, subscribers, replace=arguments.replace
        )

    return command


def _prepare_list(arguments: argparse.Namespace) -> Command:
    async def command(store: Store, deployment: str) -> str:
        found = await commands.load_all(store, deployment)
        if arguments.json:
            return commands.as_json([_record(s, arguments) for s in found])
        return commands.table(found)

    return command


def _prepare_show(arguments: argparse.Namespace) -> Command:
    _check_imsi(arguments.imsi, "show")

    async def command(store: Store, deployment: str) -> str:
        found = await commands.load_one(store, deployment, arguments.imsi)
        if arguments.json:
            return commands.as_json(_record(found, arguments))
        return commands.details(found, secrets=arguments.secrets)

    return command


def _prepare_remove(arguments: argparse.Namespace) -> Command:
    _check_imsi(arguments.imsi, "remove")

    async def command(store: Store, deployment: str) -> str:
        return await commands.remove(store, deployment, arguments.imsi)

    return command


def _record(subscriber: Subscriber, arguments: argparse.Namespace) -> dict[str, object]:
    return commands.as_dict(subscriber, secrets=arguments.secrets)


def _check_imsi(imsi: str, action: str) -> None:
    if not (imsi.isdigit() and 6 <= len(imsi) <= 15):
        raise UsageError(f"{PROG} subscriber {action}: IMSI: expected 6 to 15 digits, got {imsi!r}")
