"""What a gateway procedure step is given and gives back, without I/O: the request it serves
(`Request`), its shape (`Procedure`), how its reply is recorded (`reply_with`), how it sends a
side effect (`exchange`), and the clock that numbers requests a frontend makes up.

The engine that runs steps against the store and the network is `epc.gtpc.frontend`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from epc.algorithm1 import Reply, RequestId, SideEffects, StepResult
from epc.codec import gtpv2c
from epc.codec.gtpv2c import Cause, CauseValue, EchoStamp, GtpcMessage
from epc.gtpc import Peer, format_peer
from epc.gtpc.claims import RequestClaims
from epc.gtpc.transactions import RESPONSE_CLASS

S = TypeVar("S")


class RequestClock:
    """Request IDs for requests this frontend makes up: microseconds of the wall clock, kept
    strictly increasing and above every stamped ID seen (a hybrid logical clock, like the
    agent's)."""

    def __init__(self, wall_clock_us: Callable[[], int] | None = None) -> None:
        self._wall_clock_us = wall_clock_us or (lambda: time.time_ns() // 1000)
        self._last = 0

    def next(self) -> int:
        self._last = max(self._last + 1, self._wall_clock_us())
        return self._last

    def observe(self, request_id: RequestId) -> None:
        if request_id:
            self._last = max(self._last, request_id[0])

    def identify(self, stamp: EchoStamp | None) -> tuple[RequestId, bytes]:
        """The request ID and ECHO UE ID a request runs under: its stamp's, or a fresh ID
        (an unstamped request from a GTPv2 peer outside this core is always new)."""
        if stamp is None or not stamp.request_id:
            return (self.next(),), b"" if stamp is None else stamp.ue_id
        self.observe(stamp.request_id)
        return stamp.request_id, stamp.ue_id


@dataclass(frozen=True, slots=True)
class Request:
    """What a procedure step gets besides the state and the side-effect sender."""

    imsi: str
    path: str
    """The UE's context path."""
    request_id: RequestId
    ue_id: bytes
    """The ECHO UE ID to stamp on side effects (b"" when unknown)."""
    claims: RequestClaims
    message: GtpcMessage | None = None
    """The request, None for a procedure this frontend starts."""
    peer: Peer | None = None


Procedure = Callable[[Request, S | None, SideEffects], Awaitable[StepResult[S]]]


def reply_with(message: GtpcMessage) -> Reply:
    """A recorded reply holding one response, numbered 0: the transaction layer numbers it
    after the request it answers, whichever instance recorded it."""
    return Reply((gtpv2c.encode(replace(message, sequence_number=0)),))


def context_not_found(message: GtpcMessage) -> GtpcMessage | None:
    """The response to a request naming a TEID nobody holds: cause Context Not Found (TS
    29.274 Table 8.4-1, value 64), TEID 0 since the peer's is unknown; None for a
    notification, which has no response."""
    response_class = RESPONSE_CLASS.get(message.MESSAGE_TYPE)
    if response_class is None:
        return None
    return response_class(teid=0, cause=Cause(CauseValue.CONTEXT_NOT_FOUND))


async def exchange(
    effects: SideEffects, peer: Peer, message: GtpcMessage, ue_id: bytes
) -> GtpcMessage:
    """Send `message` as a side effect of the current step and return the peer's response.
    The stamp's request ID is filled in by the engine (`Frontend.send_effect`)."""
    data = gtpv2c.encode(replace(message, stamp=EchoStamp((), ue_id)))
    return gtpv2c.decode(await effects.send(format_peer(peer), data))
