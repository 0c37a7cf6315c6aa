"""The forwarding core in memory: SGW-U relay by TEID, buffering for an idle UE and the flush
in order, End Marker on path switch, PGW-U to and from SGi by UE address and packet filters,
path messages (Echo, Error Indication both ways), malformed input counted, never answered."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from enbsim.userplane import build_udp_packet
from epc.codec import gtpu
from epc.codec.gtpu import decode_header, encode_gpdu
from epc.forwarding import Endpoint, ForwardingRule, Installed, PacketFilter, Removed
from epc.userplane.forwarder import PgwForwarder, SgwForwarder

pytestmark = pytest.mark.userplane

SGW = "127.0.0.2"
PGW = "127.0.0.3"
ENB = "127.0.0.4"
ENB_2 = "127.0.0.5"
UE = "10.45.0.2"
INTERNET = "192.0.2.10"
ENB_TUNNEL = Endpoint(0xE1, ENB)


def sgw_rule(enb: Endpoint | None = ENB_TUNNEL, **fields) -> ForwardingRule:
    return ForwardingRule(
        gateway="sgw",
        imsi="001010000000001",
        ebi=5,
        linked_ebi=5,
        user_plane=SGW,
        ue_ipv4=UE,
        uplink_teid=0x100,
        uplink_peer=Endpoint(0x200, PGW),
        downlink_teid=0x101,
        downlink_peer=enb,
        **fields,
    )


def pgw_rule(ebi: int = 5, teid: int = 0x200, sgw_teid: int = 0x101, **fields) -> ForwardingRule:
    return ForwardingRule(
        gateway="pgw",
        imsi="001010000000001",
        ebi=ebi,
        linked_ebi=5,
        user_plane=PGW,
        ue_ipv4=UE,
        uplink_teid=teid,
        downlink_peer=Endpoint(sgw_teid, SGW),
        **fields,
    )


class Wire:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        self.sgi: list[bytes] = []
        self.notified: list[int] = []
        self.now = 0.0

    def send(self, data: bytes, address: tuple[str, int]) -> None:
        self.sent.append((bytes(data), address))

    def clock(self) -> float:
        return self.now


def udp(source: str, destination: str, payload: bytes, ports=(40000, 7)) -> bytes:
    return build_udp_packet(IPv4Address(source), IPv4Address(destination), *ports, payload)


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def sgw(wire) -> SgwForwarder:
    forwarder = SgwForwarder(
        SGW, wire.send, wire.clock, notify=wire.notified.append, buffer_packets=3
    )
    forwarder.replace([sgw_rule()])
    return forwarder


@pytest.fixture
def pgw(wire) -> PgwForwarder:
    forwarder = PgwForwarder(
        PGW, wire.send, wire.clock, write_sgi=lambda p: wire.sgi.append(bytes(p))
    )
    forwarder.replace([pgw_rule()])
    return forwarder


def test_sgw_relays_uplink_to_the_pgw_and_downlink_to_the_enb_rewriting_only_the_teid(sgw, wire):
    packet = udp(UE, INTERNET, b"up")
    sgw.datagram_received(bytearray(encode_gpdu(0x100, packet)), (ENB, 2152))
    sgw.datagram_received(bytearray(encode_gpdu(0x101, b"down-packet")), (PGW, 2152))
    assert wire.sent == [
        (encode_gpdu(0x200, packet), (PGW, 2152)),
        (encode_gpdu(0xE1, b"down-packet"), (ENB, 2152)),
    ]
    s1u, s5u = sgw.counters["s1u"], sgw.counters["s5u"]
    assert (s1u.rx_packets, s1u.tx_packets, s5u.rx_packets, s5u.tx_packets) == (1, 1, 1, 1)


def test_downlink_to_an_idle_ue_is_buffered_paged_once_and_flushed_in_order(sgw, wire):
    sgw.replace([sgw_rule(enb=None)])  # Release Access Bearers: S1-U gone
    for index in range(5):
        sgw.datagram_received(bytearray(encode_gpdu(0x101, b"p%d" % index)), (PGW, 2152))
    assert wire.notified == [0x101]  # one paging request, not one per packet
    assert wire.sent == [] and sgw.buffered(0x101) == 3
    assert sgw.counters["s5u"].drops == {"buffer_full": 2}
    sgw.apply([Installed(sgw_rule(enb=Endpoint(0xE2, ENB)))])  # Service Request
    sgw.datagram_received(bytearray(encode_gpdu(0x101, b"after")), (PGW, 2152))
    assert [data for data, _ in wire.sent] == [
        encode_gpdu(0xE2, payload) for payload in (b"p0", b"p1", b"p2", b"after")
    ]
    assert sgw.buffered(0x101) == 0


def test_paging_failure_discards_the_buffer_and_a_later_packet_pages_again(sgw, wire):
    sgw.replace([sgw_rule(enb=None)])
    sgw.datagram_received(bytearray(encode_gpdu(0x101, b"x")), (PGW, 2152))
    sgw.paging_failed("001010000000001")
    assert sgw.buffered(0x101) == 0
    assert sgw.counters["s5u"].drops == {"buffer_discarded": 1}
    sgw.datagram_received(bytearray(encode_gpdu(0x101, b"y")), (PGW, 2152))
    assert wire.notified == [0x101, 0x101]


def test_a_new_enb_f_teid_sends_an_end_marker_on_the_old_path(sgw, wire):
    sgw.apply([Installed(sgw_rule(enb=Endpoint(0xE9, ENB_2)))])
    assert wire.sent == [(gtpu.encode(gtpu.EndMarker(teid=0xE1)), (ENB, 2152))]
    assert sgw.counters.path == {"end_markers_sent": 1}


def test_unknown_teid_gets_a_rate_limited_error_indication_and_a_counter(sgw, wire):
    for _ in range(150):
        sgw.datagram_received(bytearray(encode_gpdu(0x999, b"x")), (ENB, 40000))
    assert len(wire.sent) == 100  # the burst: error_indications_per_s
    message = gtpu.decode(wire.sent[0][0])
    assert isinstance(message, gtpu.ErrorIndication)
    assert (message.teid_data, str(message.peer_address)) == (0x999, SGW)
    assert wire.sent[0][1] == (ENB, 2152)
    assert message.extension_headers == ((gtpu.ExtensionHeaderType.UDP_PORT, b"\x9c\x40"),)
    assert sgw.counters["gtpu"].drops == {"unknown_teid": 150}
    assert sgw.counters.path["error_indications_suppressed"] == 50
    wire.now += 0.5
    sgw.datagram_received(bytearray(encode_gpdu(0x999, b"x")), (ENB, 2152))
    assert len(wire.sent) == 101


@pytest.mark.parametrize(
    "data",
    [b"", b"\x30\xff\x00", b"\x20\xff\x00\x00\x00\x00\x00\x01", encode_gpdu(0x100, b"ab")[:-1]],
)
def test_malformed_packets_are_counted_and_never_answered(sgw, wire, data):
    sgw.datagram_received(bytearray(data), (ENB, 2152))
    assert wire.sent == []
    assert sgw.counters["gtpu"].drops == {"malformed": 1}


def test_echo_request_is_answered_with_its_sequence_number(sgw, wire):
    sgw.datagram_received(bytearray(gtpu.encode(gtpu.EchoRequest(sequence_number=77))), (PGW, 2152))
    answer = gtpu.decode(wire.sent[0][0])
    assert answer == gtpu.EchoResponse(sequence_number=77, recovery=0)
    assert wire.sent[0][1] == (PGW, 2152)


def test_error_indication_from_the_enb_makes_the_sgw_buffer_and_page(wire):
    lost = []
    sgw = SgwForwarder(
        SGW,
        wire.send,
        wire.clock,
        notify=wire.notified.append,
        on_error_indication=lambda rule, far: lost.append((rule.key, far)),
    )
    sgw.replace([sgw_rule()])
    indication = gtpu.ErrorIndication(teid_data=0xE1, peer_address=IPv4Address(ENB))
    sgw.datagram_received(bytearray(gtpu.encode(indication)), (ENB, 2152))
    assert lost == [("001010000000001-5", Endpoint(0xE1, ENB))]
    sgw.datagram_received(bytearray(encode_gpdu(0x101, b"x")), (PGW, 2152))
    assert wire.sent == [] and wire.notified == [0x101]
    assert sgw.counters.path["error_indications_received"] == 1


def test_pgw_decapsulates_uplink_to_sgi_and_drops_a_spoofed_source(pgw, wire):
    packet = udp(UE, INTERNET, b"hello")
    pgw.datagram_received(bytearray(encode_gpdu(0x200, packet)), (SGW, 2152))
    pgw.datagram_received(
        bytearray(encode_gpdu(0x200, udp("10.45.0.99", INTERNET, b"x"))), (SGW, 2152)
    )
    assert wire.sgi == [packet]
    assert pgw.counters["s5u"].drops == {"spoofed_source": 1}


def test_pgw_encapsulates_downlink_by_ue_address_and_dedicated_filters(pgw, wire):
    voice = PacketFilter(remote_network="10.200.0.0/16", protocol=17, remote_ports=(5060, 5061))
    pgw.apply([Installed(pgw_rule(ebi=6, teid=0x201, sgw_teid=0x106, packet_filters=(voice,)))])
    to_default = udp(INTERNET, UE, b"web", ports=(80, 40000))
    to_voice = udp("10.200.1.1", UE, b"sip", ports=(5060, 40000))
    to_nobody = udp(INTERNET, "10.45.0.77", b"?")
    for packet in (to_default, to_voice, to_nobody):
        pgw.sgi_received(packet)
    assert [(decode_header(data)[1], address) for data, address in wire.sent] == [
        (0x101, (SGW, 2152)),
        (0x106, (SGW, 2152)),
    ]
    assert wire.sent[0][0] == encode_gpdu(0x101, to_default)
    assert pgw.counters["sgi"].drops == {"no_route": 1}
    pgw.apply([Removed("pgw", "001010000000001-6")])
    pgw.sgi_received(to_voice)
    assert decode_header(wire.sent[-1][0])[1] == 0x101


def test_rules_of_another_instance_or_role_are_not_installed(wire):
    pgw = PgwForwarder(PGW, wire.send, wire.clock, write_sgi=wire.sgi.append)
    other = pgw_rule().__class__(**{**_fields(pgw_rule()), "user_plane": "127.0.0.99"})
    pgw.replace([other, sgw_rule()])
    assert pgw.rules == {}
    pgw.datagram_received(bytearray(encode_gpdu(0x200, udp(UE, INTERNET, b"x"))), (SGW, 2152))
    assert pgw.counters["s5u"].drops == {"unknown_teid": 1}


def _fields(rule: ForwardingRule) -> dict:
    return {name: getattr(rule, name) for name in rule.__struct_fields__}
