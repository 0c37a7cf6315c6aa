"""A tiny MME for tests of the agent: it answers each REQUEST with scripted REPLY frames and an
ACK, through `epc.agent_server`, and runs as a process that a test can kill -9.

    python tests/harness/scripted_mme.py --port 0 [--script FILE] [--name NAME]
        [--tls-certificate PEM --tls-key PEM --tls-ca PEM]

It prints "listening PORT" on stdout (one line, flushed) once it accepts connections; it logs
to stderr. SIGTERM or SIGINT closes the connections and exits 0.

The script (JSON) maps an S1AP procedure code (read with `epc.codec.s1ap.peek`) to the
payloads of the replies, as hex strings, or to "ignore":

    {"procedures": {"17": ["201100250000020069000b..."], "12": "ignore", "13": []}}

- a list: one REPLY per payload (sequence 0, 1, ..., on the request's stream), then ACK with
  the count; an empty list is an ACK alone;
- "ignore": no answer at all, so a test can kill the MME in the middle of a request;
- a procedure not in the script, or a payload that is not S1AP: the request's own payload
  comes back as the one reply (the built-in script is empty: an echo MME).

A TIMER_FIRED is acknowledged with no replies. `ScriptedMme.handle` is the same behaviour for
a test that runs the MME in its own event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
from collections.abc import Sequence
from pathlib import Path

from echo_agent.wire import Frame, FrameKind
from epc.agent_server import AgentConnection, AgentServer
from epc.codec.s1ap import S1apDecodeError, peek
from epc.daemon.config import LogConfig
from epc.daemon.logs import configure_logging, get_logger

IGNORE = "ignore"

log = get_logger()

Script = dict[int, tuple[bytes, ...] | str]
"""Procedure code -> reply payloads, or IGNORE."""


def load_script(path: Path) -> Script:
    """The script in a JSON file; ValueError naming the entry if it is not one."""
    procedures = json.loads(path.read_text()).get("procedures", {})
    script: Script = {}
    for code, answer in procedures.items():
        if answer == IGNORE:
            script[int(code)] = IGNORE
        elif isinstance(answer, list):
            script[int(code)] = tuple(bytes.fromhex(payload) for payload in answer)
        else:
            raise ValueError(f"{path}: procedure {code}: expected a list of hex or {IGNORE!r}")
    return script


class ScriptedMme:
    """The handler of an AgentServer that answers from a script."""

    def __init__(self, script: Script) -> None:
        self._script = script

    async def handle(self, connection: AgentConnection, frame: Frame) -> None:
        if frame.kind == FrameKind.TIMER_FIRED:
            await connection.ack(frame.ue_id, frame.request_id, 0)
            return
        answer = self._answer(frame.payload)
        if answer == IGNORE:
            log.info("request ignored", ue_id=frame.ue_id, request_id=frame.request_id)
            return
        log.info("request", ue_id=frame.ue_id, request_id=frame.request_id, replies=len(answer))
        replies = [
            Frame(
                FrameKind.REPLY,
                frame.ue_id,
                frame.request_id,
                sequence,
                stream=frame.stream,
                payload=payload,
            )
            for sequence, payload in enumerate(answer)
        ]
        ack = Frame(FrameKind.ACK, frame.ue_id, frame.request_id, sequence=len(replies))
        await connection.send(*replies, ack)

    def _answer(self, payload: bytes) -> tuple[bytes, ...] | str:
        try:
            procedure_code = peek(payload).procedure_code
        except S1apDecodeError:
            return (payload,)
        return self._script.get(procedure_code, (payload,))


async def serve(arguments: argparse.Namespace, script: Script) -> None:
    server = AgentServer(
        ScriptedMme(script).handle, name=arguments.name, ssl_context=_ssl_context(arguments)
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    await server.start(arguments.host, arguments.port)
    print(f"listening {server.port}", flush=True)
    async with server:
        await stop.wait()


def _ssl_context(arguments: argparse.Namespace) -> ssl.SSLContext | None:
    if not arguments.tls_certificate:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=arguments.tls_ca)
    context.load_cert_chain(arguments.tls_certificate, arguments.tls_key)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--script", type=Path, help="JSON script; none: echo every request")
    parser.add_argument("--name", default="scripted-mme", help="instance name sent in HELLO")
    parser.add_argument("--tls-certificate", help="server certificate (PEM); enables TLS")
    parser.add_argument("--tls-key", help="server key (PEM)")
    parser.add_argument("--tls-ca", help="CA that signs the agents' client certificates (PEM)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    arguments = parser.parse_args(argv)
    try:
        script = load_script(arguments.script) if arguments.script else {}
    except (OSError, ValueError) as error:
        parser.error(str(error))
    configure_logging("scripted-mme", LogConfig(level=arguments.log_level, format="console"))
    asyncio.run(serve(arguments, script))


if __name__ == "__main__":
    main()
