"""The MME's S11 client: Algorithm 1 side effects to target "sgw" carried as GTPv2-C requests
over the shared node layer (`epc.gtpc.node.GtpcNode`).

A step hands Algorithm 1 the encoded request with an ECHO stamp that names the UE (its IMSI)
and no request ID yet; `S11Client.send` (Algorithm 1's `send_effect`) puts the side effect's
request ID `(n, k)` in the stamp, sends it to the SGW and returns the encoded response. So
every retry of a step stamps its k-th S11 request with the same ID, and the SGW answers a
repeat from what it recorded (DESIGN.md section 3).

No response after the node's retransmissions (N3-REQUESTS) is `SideEffectDropped`: an SGW
drops a request older than what it applied without answering, and an SGW that is down cannot
complete the step either. The attempt is abandoned and nothing is written; the agent sends
the UE's request again, and the UE sees a delay, not a reject.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from epc.algorithm1 import RequestId, SideEffectDropped
from epc.codec import gtpv2c
from epc.codec.gtpv2c import EchoStamp, GtpcDecodeError, GtpcMessage
from epc.gtpc import GtpcError, Peer, format_peer

SGW = "sgw"
"""The side-effect target of S11 requests."""


class GtpcRequester(Protocol):
    """What the MME needs of a GTP-C node: `epc.gtpc.node.GtpcNode.request`."""

    async def request(self, peer: Peer, message: GtpcMessage) -> GtpcMessage: ...

    def notify(self, peer: Peer, message: GtpcMessage) -> None: ...


class S11Client:
    def __init__(self, node: GtpcRequester, sgw: Peer) -> None:
        self._node = node
        self._sgw = sgw

    async def send(self, target: str, effect_id: RequestId, payload: bytes) -> bytes:
        if target != SGW:
            raise ValueError(f"the MME has no side-effect target {target!r}")
        message = gtpv2c.decode(payload)
        ue_id = message.stamp.ue_id if message.stamp else b""
        stamped = dataclasses.replace(message, stamp=EchoStamp(effect_id, ue_id))
        try:
            response = await self._node.request(self._sgw, stamped)
        except GtpcError as error:
            raise SideEffectDropped(f"SGW {format_peer(self._sgw)}: {error}") from None
        return gtpv2c.encode(response)

    def notify(self, message: GtpcMessage) -> None:
        """Send a message that has no response (Downlink Data Notification Failure
        Indication), once, unstamped: it answers the SGW's own request, not a UE's."""
        self._node.notify(self._sgw, message)


def decode_response(payload: bytes) -> GtpcMessage:
    """The SGW's response; SideEffectDropped if it cannot be read (the attempt is retried)."""
    try:
        return gtpv2c.decode(payload)
    except GtpcDecodeError as error:
        raise SideEffectDropped(f"undecodable S11 response: {error}") from None
