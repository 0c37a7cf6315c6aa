"""The forwarding core of the SGW-U and the PGW-U (TS 29.281 GTP-U, TS 23.401 5.3.4): the
tables built from the forwarding records (`epc.forwarding`) and what happens to each packet.

No asyncio, socket or pyroute2 here: a forwarder is given the bytes that arrived and calls the
functions it was built with (`send(data, (address, port))`, `write_sgi(packet)`, `notify(teid)`,
`clock()`), so tests drive it in memory and the adapter (`epc.userplane.service`) only moves
bytes.

SGW-U: one table by local TEID. An S1-U SGW TEID (uplink) relays to the PGW's S5-U F-TEID, an
S5-U SGW TEID (downlink) to the eNB's S1-U F-TEID; relaying rewrites the four TEID octets and
keeps the rest of the header. A downlink bearer with no eNB (UE idle) buffers, bounded per bearer
and in total, and asks once for paging (`notify`); the rule that names an eNB again flushes the
buffer in arrival order before any newer packet. A rule whose eNB F-TEID changes to another
(path switch, TS 23.401 5.5.1.1.2) sends an End Marker on the old path.

PGW-U: uplink G-PDUs on an S5-U PGW TEID are decapsulated to SGi when their source address is
the bearer's UE's; downlink IPv4 packets from SGi are found by destination address (then the
dedicated bearers' downlink packet filters by precedence, the default bearer otherwise) and
encapsulated toward the SGW.

Both: Echo Request answered (7.2.1, Recovery 0); a G-PDU for an unknown TEID is answered with an
Error Indication (7.3.1), at most `error_indications_per_s` a second; an Error Indication
received names one of our far F-TEIDs: the bearer it belongs to goes to `on_error_indication`
(TS 23.007 clause 20: the SGW drops the eNB's F-TEID and pages, see `SgwForwarder`; what else
is done is the adapter's). Malformed packets are counted and dropped, never answered.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network

from epc.codec import gtpu
from epc.codec.gtpu import ExtensionHeaderType, GtpuDecodeError, decode_header
from epc.forwarding import (
    Change,
    Endpoint,
    ForwardingRule,
    GatewayRole,
    Installed,
    PacketFilter,
    Removed,
)
from epc.userplane.counters import Counters, DropReason, InterfaceCounters

Address = tuple[str, int]
Send = Callable[[bytes, Address], None]
ErrorIndicationHandler = Callable[[ForwardingRule, Endpoint], None]

_G_PDU = int(gtpu.MessageType.G_PDU)
_ECHO_REQUEST = int(gtpu.MessageType.ECHO_REQUEST)
_ERROR_INDICATION = int(gtpu.MessageType.ERROR_INDICATION)
_GTPU_HEADER = struct.Struct("!BBHI")
_GPDU_FLAGS = 0x30  # version 1, PT 1, no optional field
_IPV4_MIN_HEADER = 20


class _TokenBucket:
    """At most `rate` events a second, bursts of `rate` (Error Indications toward peers)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.last: float | None = None

    def take(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Forwarder:
    """What the SGW-U and PGW-U share: the rules, path messages, unknown TEIDs."""

    role: GatewayRole
    INTERFACES: tuple[str, ...]
    ENDPOINT: str
    """The interface that counts what arrives on the GTP-U socket before a TEID says more."""

    def __init__(
        self,
        local_address: str,
        send: Send,
        clock: Callable[[], float],
        *,
        peer_port: int = gtpu.GTPU_PORT,
        error_indications_per_s: float = 100.0,
        on_error_indication: ErrorIndicationHandler | None = None,
    ) -> None:
        self.local_address = local_address
        self.counters = Counters(self.INTERFACES)
        self.rules: dict[str, ForwardingRule] = {}
        self._send = send
        self._clock = clock
        self._peer_port = peer_port
        self._error_indications = _TokenBucket(error_indications_per_s)
        self._on_error_indication = on_error_indication
        self._endpoint = self.counters[self.ENDPOINT]

    # --- rules ----------------------------------------------------------------------------

    def replace(self, rules: Iterable[ForwardingRule]) -> None:
        """Make the table hold exactly `rules` (at start, or from a full snapshot)."""
        wanted = {rule.key: rule for rule in rules if rule.gateway == self.role}
        changes: list[Change] = [
            Installed(rule) for key, rule in wanted.items() if self.rules.get(key) != rule
        ]
        changes += [Removed(self.role, key) for key in self.rules if key not in wanted]
        self.apply(changes)

    def apply(self, changes: Iterable[Change]) -> None:
        """Follow committed changes; other roles' rules and rules served by another instance
        (another `user_plane` address) are left out."""
        for change in changes:
            match change:
                case Installed(rule=rule) if rule.gateway == self.role:
                    if rule.user_plane != self.local_address:
                        self._remove(rule.key)
                    elif self.rules.get(rule.key) != rule:
                        old = self.rules.get(rule.key)
                        self.rules[rule.key] = rule
                        self._install(old, rule)
                case Removed(gateway=gateway, key=key) if gateway == self.role:
                    self._remove(key)

    def _remove(self, key: str) -> None:
        old = self.rules.pop(key, None)
        if old is not None:
            self._uninstall(old)

    def _install(self, old: ForwardingRule | None, rule: ForwardingRule) -> None:
        raise NotImplementedError

    def _uninstall(self, rule: ForwardingRule) -> None:
        raise NotImplementedError

    # --- what arrives on the GTP-U socket, off the fast path -------------------------------

    def _malformed(self) -> None:
        self._endpoint.drop(DropReason.MALFORMED)

    def _unknown_teid(self, teid: int, source: Address) -> None:
        """TS 29.281 7.3.1: tell the sender the TEID is unknown here, rate-limited."""
        self._endpoint.drop(DropReason.UNKNOWN_TEID)
        if not self._error_indications.take(self._clock()):
            self.counters.count("error_indications_suppressed")
            return
        headers: gtpu.ExtensionHeaders = ()
        if source[1] != self._peer_port:  # 5.2.2.1: the G-PDU's source port, when not 2152
            headers = ((ExtensionHeaderType.UDP_PORT, struct.pack("!H", source[1])),)
        indication = gtpu.ErrorIndication(
            teid_data=teid,
            peer_address=IPv4Address(self.local_address),
            extension_headers=headers,
        )
        self._send(gtpu.encode(indication), (source[0], self._peer_port))
        self.counters.count("error_indications_sent")

    def _signalling(self, data: bytes, source: Address) -> None:
        try:
            message = gtpu.decode(data)
        except GtpuDecodeError:
            self._malformed()
            return
        match message:
            case gtpu.EchoRequest():
                self.counters.count("echo_requests_received")
                answer = gtpu.EchoResponse(sequence_number=message.sequence_number)
                self._send(gtpu.encode(answer), source)
            case gtpu.ErrorIndication():
                self.counters.count("error_indications_received")
                self._error_indication(message)
            case gtpu.EndMarker():
                self.counters.count("end_markers_received")
            case _:
                pass  # Echo Response, Supported Extension Headers Notification: nothing asked

    def _error_indication(self, message: gtpu.ErrorIndication) -> None:
        """The peer at `peer_address` knows no TEID `teid_data`: one of our far F-TEIDs."""
        far = Endpoint(message.teid_data, str(message.peer_address))
        for rule in list(self.rules.values()):
            if far in (rule.uplink_peer, rule.downlink_peer):
                self._tunnel_lost(rule, far)
                if self._on_error_indication is not None:
                    self._on_error_indication(rule, far)

    def _tunnel_lost(self, rule: ForwardingRule, far: Endpoint) -> None:
        """What the forwarder itself does when a peer lost a tunnel (nothing, by default)."""

    def _peer(self, endpoint: Endpoint) -> Address:
        return (endpoint.address, self._peer_port)


class _Relay:
    """One SGW TEID: where its G-PDUs go (None: buffer, the UE is idle)."""

    __slots__ = ("far_teid", "key", "peer", "rx", "teid", "tx")

    def __init__(
        self,
        key: str,
        teid: int,
        peer: Address | None,
        far_teid: int,
        rx: InterfaceCounters,
        tx: InterfaceCounters,
    ) -> None:
        self.key = key
        self.teid = teid
        self.peer = peer
        self.far_teid = far_teid.to_bytes(4, "big")
        self.rx = rx
        self.tx = tx


class SgwForwarder(Forwarder):
    """The SGW-U: relays S1-U <-> S5-U by TEID, buffers downlink for idle UEs."""

    role: GatewayRole = "sgw"
    INTERFACES = ("s1u", "s5u", "gtpu")
    ENDPOINT = "gtpu"  # one socket serves S1-U and S5-U

    def __init__(
        self,
        local_address: str,
        send: Send,
        clock: Callable[[], float],
        *,
        notify: Callable[[int], None] | None = None,
        buffer_packets: int = 256,
        buffer_bytes: int = 16 << 20,
        **options,
    ) -> None:
        super().__init__(local_address, send, clock, **options)
        self._relays: dict[int, _Relay] = {}
        self._notify = notify
        self._buffer_packets = buffer_packets
        self._buffer_bytes = buffer_bytes
        self._buffers: dict[int, deque[bytes]] = {}
        self._buffered_bytes = 0
        self._notified: set[int] = set()
        self._s1u = self.counters["s1u"]
        self._s5u = self.counters["s5u"]

    # --- the fast path --------------------------------------------------------------------

    def datagram_received(self, data: bytearray | memoryview, source: Address) -> None:
        """`data` is writable and valid only during the call (the adapter's receive buffer):
        relaying rewrites the TEID in place; what is kept (buffering) is copied."""
        size = len(data)
        if size < 8:
            self._malformed()
            return
        flags, message_type, length, teid = _GTPU_HEADER.unpack_from(data)
        if flags != _GPDU_FLAGS or message_type != _G_PDU or length + 8 != size:
            self._slow_path(data, source)
            return
        relay = self._relays.get(teid)
        if relay is None:
            self._unknown_teid(teid, source)
            return
        rx = relay.rx
        rx.rx_packets += 1
        rx.rx_bytes += size
        peer = relay.peer
        if peer is None:
            self._buffer(relay, bytes(data))
            return
        data[4:8] = relay.far_teid
        self._send(data, peer)
        tx = relay.tx
        tx.tx_packets += 1
        tx.tx_bytes += size

    def _slow_path(self, data: bytearray | memoryview, source: Address) -> None:
        """Optional fields, extension headers, path messages, malformed packets."""
        try:
            message_type, teid, _ = decode_header(data)
        except GtpuDecodeError:
            self._malformed()
            return
        if message_type != _G_PDU:
            self._signalling(bytes(data), source)
            return
        relay = self._relays.get(teid)
        if relay is None:
            self._unknown_teid(teid, source)
            return
        relay.rx.rx_packets += 1
        relay.rx.rx_bytes += len(data)
        if relay.peer is None:
            self._buffer(relay, bytes(data))
            return
        self._relay(relay, bytes(data))

    def _relay(self, relay: _Relay, data: bytes) -> None:
        assert relay.peer is not None
        self._send(data[:4] + relay.far_teid + data[8:], relay.peer)
        relay.tx.tx_packets += 1
        relay.tx.tx_bytes += len(data)

    # --- idle UEs -------------------------------------------------------------------------

    def _buffer(self, relay: _Relay, data: bytes) -> None:
        buffer = self._buffers.get(relay.teid)
        if buffer is None:
            buffer = self._buffers[relay.teid] = deque()
        if (
            len(buffer) >= self._buffer_packets
            or self._buffered_bytes + len(data) > self._buffer_bytes
        ):
            relay.rx.drop(DropReason.BUFFER_FULL)
        else:
            buffer.append(data)
            self._buffered_bytes += len(data)
        if relay.teid not in self._notified and self._notify is not None:
            self._notified.add(relay.teid)
            self._notify(relay.teid)

    def notification_failed(self, teid: int) -> None:
        """The paging request for `teid` could not be made (store unreachable): the next
        packet asks again."""
        self._notified.discard(teid)

    def paging_failed(self, imsi: str) -> None:
        """The MME could not reach the UE: drop what was buffered for it."""
        for rule in list(self.rules.values()):
            if rule.imsi == imsi and rule.downlink_teid:
                self._discard(rule.downlink_teid)

    def buffered(self, teid: int) -> int:
        return len(self._buffers.get(teid, ()))

    def _discard(self, teid: int) -> None:
        self._notified.discard(teid)
        buffer = self._buffers.pop(teid, None)
        if buffer:
            self._buffered_bytes -= sum(map(len, buffer))
            self._s5u.drop(DropReason.BUFFER_DISCARDED, len(buffer))

    def _flush(self, relay: _Relay) -> None:
        self._notified.discard(relay.teid)
        buffer = self._buffers.pop(relay.teid, None)
        if not buffer or relay.peer is None:
            return
        for data in buffer:
            self._buffered_bytes -= len(data)
            self._relay(relay, data)

    # --- rules ----------------------------------------------------------------------------

    def _install(self, old: ForwardingRule | None, rule: ForwardingRule) -> None:
        if old is not None:
            for teid in set(old.local_teids()) - set(rule.local_teids()):
                self._relays.pop(teid, None)
                self._discard(teid)
        if rule.uplink_teid:
            peer = rule.uplink_peer
            self._relays[rule.uplink_teid] = _Relay(
                rule.key,
                rule.uplink_teid,
                None if peer is None else self._peer(peer),
                0 if peer is None else peer.teid,
                self._s1u,
                self._s5u,
            )
        if rule.downlink_teid:
            self._set_downlink(rule, rule.downlink_peer)
        if (
            old is not None
            and None not in (old.downlink_peer, rule.downlink_peer)
            and old.downlink_peer != rule.downlink_peer
        ):
            self._end_marker(old.downlink_peer)  # type: ignore[arg-type]

    def _set_downlink(self, rule: ForwardingRule, peer: Endpoint | None) -> None:
        assert rule.downlink_teid
        relay = _Relay(
            rule.key,
            rule.downlink_teid,
            None if peer is None else self._peer(peer),
            0 if peer is None else peer.teid,
            self._s5u,
            self._s1u,
        )
        self._relays[rule.downlink_teid] = relay
        if peer is not None:
            self._flush(relay)

    def _end_marker(self, old: Endpoint) -> None:
        """TS 23.401 5.5.1.1.2, TS 29.281 7.3.2: the last packet on the old S1-U path."""
        self._send(gtpu.encode(gtpu.EndMarker(teid=old.teid)), self._peer(old))
        self.counters.count("end_markers_sent")

    def _uninstall(self, rule: ForwardingRule) -> None:
        for teid in rule.local_teids():
            self._relays.pop(teid, None)
            self._discard(teid)

    def _tunnel_lost(self, rule: ForwardingRule, far: Endpoint) -> None:
        """TS 23.007 clause 20.2: an eNB that lost the S1-U tunnel: forget its F-TEID, buffer
        downlink and page the UE (the store's record changes at the UE's next procedure)."""
        if rule.downlink_teid and far == rule.downlink_peer:
            self._set_downlink(rule, None)


class _Decapsulation:
    __slots__ = ("key", "ue_address")

    def __init__(self, key: str, ue_address: bytes) -> None:
        self.key = key
        self.ue_address = ue_address


_CompiledFilter = tuple[int, int, int, int, int, int, int]
"""(network, mask, protocol or -1, remote port low, high, local port low, high)."""


class _Encapsulation:
    """Downlink toward one UE address: the default bearer and the dedicated ones' filters."""

    __slots__ = ("dedicated", "default")

    def __init__(self) -> None:
        self.default: tuple[Address, int] | None = None
        self.dedicated: list[tuple[int, str, tuple[_CompiledFilter, ...], Address, int]] = []
        """(precedence, key, filters, peer, TEID), by precedence."""


class PgwForwarder(Forwarder):
    """The PGW-U: S5-U <-> SGi."""

    role: GatewayRole = "pgw"
    INTERFACES = ("s5u", "sgi")
    ENDPOINT = "s5u"

    def __init__(
        self,
        local_address: str,
        send: Send,
        clock: Callable[[], float],
        *,
        write_sgi: Callable[[bytes], None],
        **options,
    ) -> None:
        super().__init__(local_address, send, clock, **options)
        self._write_sgi = write_sgi
        self._uplink: dict[int, _Decapsulation] = {}
        self._downlink: dict[bytes, _Encapsulation] = {}
        self._s5u = self.counters["s5u"]
        self._sgi = self.counters["sgi"]

    # --- the fast path --------------------------------------------------------------------

    def datagram_received(self, data: bytearray | memoryview, source: Address) -> None:
        """Uplink: S5-U -> SGi. `data` is valid only during the call."""
        size = len(data)
        if size < 8:
            self._malformed()
            return
        flags, message_type, length, teid = _GTPU_HEADER.unpack_from(data)
        if flags == _GPDU_FLAGS and message_type == _G_PDU and length + 8 == size:
            offset = 8
        else:
            try:
                message_type, teid, offset = decode_header(data)
            except GtpuDecodeError:
                self._malformed()
                return
            if message_type != _G_PDU:
                self._signalling(bytes(data), source)
                return
        decapsulation = self._uplink.get(teid)
        if decapsulation is None:
            self._unknown_teid(teid, source)
            return
        s5u = self._s5u
        s5u.rx_packets += 1
        s5u.rx_bytes += size
        if size - offset < _IPV4_MIN_HEADER or data[offset] >> 4 != 4:
            s5u.drop(DropReason.NOT_IPV4)
            return
        if data[offset + 12 : offset + 16] != decapsulation.ue_address:
            s5u.drop(DropReason.SPOOFED_SOURCE)
            return
        packet = memoryview(data)[offset:]
        self._write_sgi(packet)  # type: ignore[arg-type]
        sgi = self._sgi
        sgi.tx_packets += 1
        sgi.tx_bytes += size - offset

    def sgi_received(self, packet: bytes) -> None:
        """Downlink: SGi -> S5-U."""
        sgi = self._sgi
        sgi.rx_packets += 1
        sgi.rx_bytes += len(packet)
        if len(packet) < _IPV4_MIN_HEADER or packet[0] >> 4 != 4:
            sgi.drop(DropReason.NOT_IPV4)
            return
        encapsulation = self._downlink.get(packet[16:20])
        if encapsulation is None:
            sgi.drop(DropReason.NO_ROUTE)
            return
        target = encapsulation.default
        if encapsulation.dedicated:
            target = _classify(encapsulation, packet) or target
        if target is None:
            sgi.drop(DropReason.NO_ROUTE)
            return
        peer, teid = target
        self._send(_GTPU_HEADER.pack(_GPDU_FLAGS, _G_PDU, len(packet), teid) + packet, peer)
        s5u = self._s5u
        s5u.tx_packets += 1
        s5u.tx_bytes += len(packet) + 8

    # --- rules ----------------------------------------------------------------------------

    def _install(self, old: ForwardingRule | None, rule: ForwardingRule) -> None:
        if old is not None:
            self._uninstall(old)
        if rule.ue_ipv4 is None:
            return
        address = IPv4Address(rule.ue_ipv4).packed
        if rule.uplink_teid:
            self._uplink[rule.uplink_teid] = _Decapsulation(rule.key, address)
        encapsulation = self._downlink.setdefault(address, _Encapsulation())
        target = None if rule.downlink_peer is None else self._target(rule.downlink_peer)
        if rule.ebi == rule.linked_ebi:
            encapsulation.default = target
        elif target is not None:
            filters = _compile(rule.packet_filters)
            precedence = min((each.precedence for each in rule.packet_filters), default=255)
            encapsulation.dedicated.append((precedence, rule.key, filters, *target))
            encapsulation.dedicated.sort(key=lambda entry: entry[0])

    def _target(self, peer: Endpoint) -> tuple[Address, int]:
        return self._peer(peer), peer.teid

    def _uninstall(self, rule: ForwardingRule) -> None:
        if rule.uplink_teid:
            self._uplink.pop(rule.uplink_teid, None)
        if rule.ue_ipv4 is None:
            return
        address = IPv4Address(rule.ue_ipv4).packed
        encapsulation = self._downlink.get(address)
        if encapsulation is None:
            return
        if rule.ebi == rule.linked_ebi:
            encapsulation.default = None
        encapsulation.dedicated = [
            entry for entry in encapsulation.dedicated if entry[1] != rule.key
        ]
        if encapsulation.default is None and not encapsulation.dedicated:
            del self._downlink[address]


def _compile(filters: tuple[PacketFilter, ...]) -> tuple[_CompiledFilter, ...]:
    """The downlink filters (TS 23.060 15.3: from the UE's side, the far host is `remote`)."""
    compiled = []
    for each in filters:
        if each.direction == "uplink":
            continue
        network = IPv4Network(each.remote_network or "0.0.0.0/0")
        remote = each.remote_ports or (0, 0xFFFF)
        local = each.local_ports or (0, 0xFFFF)
        compiled.append(
            (
                int(network.network_address),
                int(network.netmask),
                -1 if each.protocol is None else each.protocol,
                *remote,
                *local,
            )
        )
    return tuple(compiled)


def _classify(encapsulation: _Encapsulation, packet: bytes) -> tuple[Address, int] | None:
    """The first dedicated bearer (by precedence) with a filter matching the packet."""
    source = int.from_bytes(packet[12:16], "big")
    protocol = packet[9]
    header_length = (packet[0] & 0x0F) * 4
    ports = len(packet) >= header_length + 4 and protocol in (6, 17)
    source_port = int.from_bytes(packet[header_length : header_length + 2], "big") if ports else -1
    destination_port = (
        int.from_bytes(packet[header_length + 2 : header_length + 4], "big") if ports else -1
    )
    for _, _, filters, peer, teid in encapsulation.dedicated:
        for network, mask, wanted, remote_low, remote_high, local_low, local_high in filters:
            if source & mask != network or (wanted >= 0 and wanted != protocol):
                continue
            if (remote_low, remote_high, local_low, local_high) != (0, 0xFFFF, 0, 0xFFFF) and not (
                remote_low <= source_port <= remote_high
                and local_low <= destination_port <= local_high
            ):
                continue
            return peer, teid
    return None
