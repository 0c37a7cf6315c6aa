"""The SGW-U and PGW-U in one process, on real sockets and a real SGi TUN, in network
namespaces: a UE (a raw eNB peer) reaches an "internet" host with UDP and ICMP and gets the
answers; downlink to an idle UE is buffered, paged once, and flushed in order when the record
(changed in the store, found by polling) names an eNB again; an unknown TEID gets an Error
Indication and a counter. Records are written straight into the store, as the control
frontends would. (Root only: namespaces and TUN devices.)"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass

import pytest
from topology import (
    ECHO_PORT,
    INTERNET,
    UE,
    UE_POOL,
    Peer,
    Topology,
    icmp_echo_request,
    udp_echo_server,
    udp_packet,
    udp_payload,
)

from epc.codec import gtpu
from epc.codec.gtpu import encode_gpdu
from epc.forwarding import Endpoint, ForwardingRule, encode_rule, rule_path
from epc.store.memory import MemoryStore
from epc.userplane import UserPlane
from epc.userplane.config import SgiConfig, UserPlaneConfig
from epc.userplane.tun import open_sgi

pytestmark = [
    pytest.mark.userplane,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and TUN devices need root"),
]

DEPLOYMENT = "uptest"
SGW, PGW, ENB = "127.0.0.2", "127.0.0.3", "127.0.0.4"
IMSI = "001010000000001"
S1U_SGW, S5U_SGW, S5U_PGW, S1U_ENB = 0x100, 0x101, 0x200, 0xE1


def rules(enb: Endpoint | None) -> list[ForwardingRule]:
    common = {"imsi": IMSI, "ebi": 5, "linked_ebi": 5, "ue_ipv4": UE}
    return [
        ForwardingRule(
            gateway="sgw",
            user_plane=SGW,
            uplink_teid=S1U_SGW,
            uplink_peer=Endpoint(S5U_PGW, PGW),
            downlink_teid=S5U_SGW,
            downlink_peer=enb,
            **common,
        ),
        ForwardingRule(
            gateway="pgw",
            user_plane=PGW,
            uplink_teid=S5U_PGW,
            downlink_peer=Endpoint(S5U_SGW, SGW),
            **common,
        ),
    ]


@dataclass
class Network:
    topology: Topology
    store: MemoryStore
    sgw: UserPlane
    pgw: UserPlane
    enb: Peer
    internet: socket.socket
    paged: list[int]


@pytest.fixture
async def network():
    topology = Topology.make()
    store = MemoryStore()
    paged: list[int] = []
    opened: list = []
    tasks: list[asyncio.Task] = []
    try:
        for rule in rules(Endpoint(S1U_ENB, ENB)):
            await store.create(rule_path(DEPLOYMENT, rule.gateway, IMSI, 5), encode_rule(rule))
        config = UserPlaneConfig(enabled=True, poll_interval_s=3600)  # tests call refresh()
        sgi = await open_sgi(
            SgiConfig(device=f"sgi{topology.tag}"), (UE_POOL,), netns=topology.core
        )
        sgw = await UserPlane.open_sgw(
            SGW, config, store, DEPLOYMENT, sock=topology.socket(topology.core, (SGW, 2152))
        )
        opened.append(sgw)

        async def page(teid: int):
            paged.append(teid)

        sgw.set_paging(page)
        pgw = await UserPlane.open_pgw(
            PGW, config, store, DEPLOYMENT, sgi, sock=topology.socket(topology.core, (PGW, 2152))
        )
        opened.append(pgw)
        assert (await sgw.start(), await pgw.start()) == (1, 1)
        enb = Peer(topology.socket(topology.core, (ENB, 2152)))
        internet = topology.socket(topology.internet, (INTERNET, ECHO_PORT))
        tasks.append(asyncio.create_task(udp_echo_server(internet)))
        yield Network(topology, store, sgw, pgw, enb, internet, paged)
        enb.close()
        internet.close()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for user_plane in opened:
            await user_plane.close()
        topology.close()


async def test_a_ue_gets_udp_and_icmp_answers_from_the_internet_through_sgw_and_pgw(network):
    network.enb.send(encode_gpdu(S1U_SGW, udp_packet(b"hello")), (SGW, 2152))
    teid, answer = await network.enb.receive_gpdu()
    assert teid == S1U_ENB
    assert udp_payload(answer) == (INTERNET, ECHO_PORT, b"hello")
    network.enb.send(encode_gpdu(S1U_SGW, icmp_echo_request(0x4242, 1)), (SGW, 2152))
    teid, reply = await network.enb.receive_gpdu()
    header_length = (reply[0] & 0x0F) * 4
    assert (teid, reply[9], reply[header_length]) == (S1U_ENB, socket.IPPROTO_ICMP, 0)
    assert reply[header_length + 4 : header_length + 6] == b"\x42\x42"
    sgw, pgw = network.sgw.counters()["interfaces"], network.pgw.counters()["interfaces"]
    assert sgw["s1u"]["rx_packets"] == 2 and sgw["s1u"]["tx_packets"] == 2
    assert pgw["sgi"]["tx_packets"] == 2 and pgw["s5u"]["tx_packets"] == 2  # sgi also hears IPv6


async def test_downlink_to_an_idle_ue_pages_once_and_arrives_in_order_after_service_request(
    network,
):
    sgw_rule, _ = rules(None)
    path = rule_path(DEPLOYMENT, "sgw", IMSI, 5)
    await network.store.put(path, encode_rule(sgw_rule), 0)  # Release Access Bearers
    await network.sgw.refresh()
    loop = asyncio.get_running_loop()
    for index in range(10):
        await loop.sock_sendto(network.internet, b"down-%d" % index, (UE, 9000))
    async with asyncio.timeout(5):
        # The forwarder has no event for "buffered"; the datagrams are in flight in the kernel.
        while network.sgw.forwarder.buffered(S5U_SGW) < 10:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert network.paged == [S5U_SGW]
    connected, _ = rules(Endpoint(0xE2, ENB))
    await network.store.put(path, encode_rule(connected), 1)  # Modify Bearer, other instance
    await network.sgw.refresh()
    received = [await network.enb.receive_gpdu() for _ in range(10)]
    assert [teid for teid, _ in received] == [0xE2] * 10
    assert [udp_payload(packet)[2] for _, packet in received] == [
        b"down-%d" % index for index in range(10)
    ]


async def test_unknown_teid_and_malformed_g_pdus_get_an_error_indication_and_counters(network):
    network.enb.send(encode_gpdu(0xDEAD, udp_packet(b"x")), (SGW, 2152))
    network.enb.send(b"\x30\xff\x00\x10garbage", (SGW, 2152))
    message = gtpu.decode(await network.enb.receive())
    assert isinstance(message, gtpu.ErrorIndication)
    assert (message.teid_data, str(message.peer_address)) == (0xDEAD, SGW)
    network.enb.send(gtpu.encode(gtpu.EchoRequest(sequence_number=5)), (SGW, 2152))
    assert gtpu.decode(await network.enb.receive()) == gtpu.EchoResponse(sequence_number=5)
    counters = network.sgw.counters()
    assert counters["interfaces"]["gtpu"]["drops"] == {"malformed": 1, "unknown_teid": 1}
    assert counters["path"]["error_indications_sent"] == 1
