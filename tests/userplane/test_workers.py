"""Two forwarding workers of one SGW-U (SO_REUSEPORT group steered by TEID, the second worker
a child process fed over a pipe): every packet of many bearers is relayed with its TEID
rewritten, both workers take a share, and the daemon's counters add up both."""

from __future__ import annotations

import asyncio
import socket

import pytest

from epc.codec.gtpu import decode_header, encode_gpdu
from epc.forwarding import Endpoint, ForwardingRule, encode_rule, rule_path
from epc.store.memory import MemoryStore
from epc.userplane import UserPlane
from epc.userplane.config import UserPlaneConfig

pytestmark = pytest.mark.userplane

SGW, ENB, PGW = "127.0.0.2", "127.0.0.4", "127.0.0.3"
BEARERS = 16
PACKETS = 20


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((SGW, 0))
        return probe.getsockname()[1]


def rule(index: int) -> ForwardingRule:
    return ForwardingRule(
        gateway="sgw",
        imsi=f"0010100000{index:05d}",
        ebi=5,
        linked_ebi=5,
        user_plane=SGW,
        uplink_teid=0x1000 + index,
        uplink_peer=Endpoint(0x3000 + index, PGW),
        downlink_teid=0x2000 + index,
        downlink_peer=Endpoint(0x4000 + index, ENB),
    )


async def receive(sock: socket.socket, count: int) -> list[bytes]:
    loop = asyncio.get_running_loop()
    return [await loop.sock_recv(sock, 2048) for _ in range(count)]


async def test_two_workers_relay_every_packet_of_many_bearers_and_counters_add_up():
    port = free_port()
    store = MemoryStore()
    for index in range(BEARERS):
        await store.create(rule_path("t", "sgw", rule(index).imsi, 5), encode_rule(rule(index)))
    config = UserPlaneConfig(
        enabled=True, port=port, peer_port=port, poll_interval_s=3600, workers=2
    )
    user_plane = await UserPlane.open_sgw(SGW, config, store, "t")
    enb, pgw = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    try:
        await user_plane.start()
        for sock, address in ((enb, ENB), (pgw, PGW)):
            sock.bind((address, port))
            sock.setblocking(False)
        for _ in range(PACKETS):
            for index in range(BEARERS):
                enb.sendto(encode_gpdu(0x1000 + index, b"up%d" % index), (SGW, port))
                pgw.sendto(encode_gpdu(0x2000 + index, b"down%d" % index), (SGW, port))
        at_pgw, at_enb = await asyncio.wait_for(
            asyncio.gather(receive(pgw, PACKETS * BEARERS), receive(enb, PACKETS * BEARERS)), 10
        )
    finally:
        await user_plane.close()
        enb.close()
        pgw.close()
    for arrived, first_teid, prefix in ((at_pgw, 0x3000, b"up"), (at_enb, 0x4000, b"down")):
        teids = sorted(decode_header(data)[1] for data in arrived)
        assert teids == sorted(
            first_teid + index for index in range(BEARERS) for _ in range(PACKETS)
        )
        assert all(
            data[8:] == prefix + b"%d" % (decode_header(data)[1] - first_teid) for data in arrived
        )
    total = user_plane.counters()["interfaces"]
    assert total["s1u"]["rx_packets"] == total["s5u"]["tx_packets"] == PACKETS * BEARERS
    assert total["s5u"]["rx_packets"] == total["s1u"]["tx_packets"] == PACKETS * BEARERS
    own = user_plane.forwarder.counters["s1u"].rx_packets
    assert 0 < own < PACKETS * BEARERS  # TEID mod 2: the other worker relayed its share
