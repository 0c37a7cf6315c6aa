"""TEID and UE address claims (deterministic per request, unique, never twice in one run, a full
pool said so), the forwarding contract's writers and readers, the TFT the policy writes (read
back by tshark), and the whole session life on every store backend."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest
from harness.gateway_process import (
    IMSI,
    create_session_request,
    delete_session_request,
    modify_bearer_request,
    next_request_number,
    stamp,
)
from harness.tshark import dissect, udp

from epc.codec import gtpv2c
from epc.codec.gtpv2c import Arp, BearerQos, CauseValue, CreateBearerRequest
from epc.codec.gtpv2c import CreateBearerRequestContext as BearerToCreate
from epc.forwarding import (
    Endpoint,
    ForwardingRule,
    Installed,
    PacketFilter,
    Removed,
    changes,
    changes_of_ops,
    remove_rule,
    snapshot,
    write_rule,
)
from epc.gtpc.claims import ClaimError, Claims, Draws, ip_index_path, teid_index_path
from epc.pgw.tft import encode_tft
from epc.store import Create, Delete, Put
from epc.store.memory import MemoryStore

pytestmark = pytest.mark.gateway

PATH = "/d/sgw/ue/001010000000001"


def test_draws_are_the_same_for_the_same_request_and_differ_otherwise() -> None:
    def first(path, request_id, purpose):
        return next(Draws(path, request_id).sequence(purpose))

    assert first(PATH, (5, 1), "s1u.5") == first(PATH, (5, 1), "s1u.5")
    others = {first(PATH, (5, 2), "s1u.5"), first(PATH, (5, 1), "s5u.5")}
    others.add(first("/d/sgw/ue/001010000000002", (5, 1), "s1u.5"))
    assert first(PATH, (5, 1), "s1u.5") not in others


async def test_a_teid_held_by_another_context_is_skipped() -> None:
    store = MemoryStore()
    draws = Draws(PATH, (1,))
    claims = Claims(store, "d")
    taken = next(draws.sequence("s11"))
    await store.create(teid_index_path("d", taken), b"/d/sgw/ue/other")
    claim = await claims.for_request(PATH, draws).teid("s11")
    assert claim.value != taken and claim.value != 0
    assert claim.ops == (Create(teid_index_path("d", claim.value), PATH.encode()),)


async def test_one_run_never_claims_a_value_twice() -> None:
    class Stuck(Draws):
        def sequence(self, purpose, bits=32):
            yield from [7, 7, 8]

    run = Claims(MemoryStore(), "d").for_request(PATH, Stuck(PATH, (1,)))
    assert [(await run.teid("a")).value, (await run.teid("b")).value] == [7, 8]


async def test_addresses_come_from_the_pool_and_a_full_pool_is_an_error() -> None:
    store = MemoryStore()
    pool = IPv4Network("10.9.0.0/29")  # six hosts
    reserved = frozenset({IPv4Address("10.9.0.1")})
    claims = Claims(store, "d")
    held = []
    for index in range(5):
        run = claims.for_request(f"/d/pgw/ue/{index}", Draws(f"/d/pgw/ue/{index}", (1,)))
        claim = await run.ipv4("ue.5", pool, reserved)
        await store.multi(list(claim.ops))
        held.append(IPv4Address(claim.value))
    assert sorted(held) == [IPv4Address(f"10.9.0.{host}") for host in range(2, 7)]
    run = claims.for_request("/d/pgw/ue/9", Draws("/d/pgw/ue/9", (1,)))
    with pytest.raises(ClaimError):
        await run.ipv4("ue.5", pool, reserved)
    release = run.release_ipv4("10.9.0.4")
    assert release == Delete(ip_index_path("d", "10.9.0.4"), 0)


def rule(**changes) -> ForwardingRule:
    values = {
        "gateway": "sgw",
        "imsi": IMSI,
        "ebi": 5,
        "linked_ebi": 5,
        "user_plane": "127.0.0.1",
        "uplink_teid": 1,
        "uplink_peer": Endpoint(2, "127.0.0.2"),
        "downlink_teid": 3,
    }
    return ForwardingRule(**{**values, **changes})


async def test_forwarding_records_written_read_and_diffed(store, root) -> None:
    deployment = root.lstrip("/")
    created, version = write_rule(deployment, rule(), None)
    assert isinstance(created, Create) and version == 0
    await store.multi([created])
    before = await snapshot(store, deployment, "sgw")
    assert before == {f"{IMSI}-5": (rule(), 0)}
    updated, version = write_rule(deployment, rule(downlink_peer=Endpoint(9, "127.0.0.9")), 0)
    assert isinstance(updated, Put) and version == 1
    await store.multi([updated])
    after = await snapshot(store, deployment, "sgw")
    assert changes("sgw", before, after) == [Installed(after[f"{IMSI}-5"][0])]
    removal = remove_rule(deployment, "sgw", IMSI, 5, 1)
    await store.multi([removal])
    assert changes("sgw", after, await snapshot(store, deployment, "sgw")) == [
        Removed("sgw", f"{IMSI}-5")
    ]
    seen = changes_of_ops(deployment, [created, Create("/x/y", b""), removal])
    assert seen == [Installed(rule()), Removed("sgw", f"{IMSI}-5")]


def test_tshark_reads_the_policy_tft_as_written() -> None:
    filters = (
        PacketFilter(remote_network="10.200.0.0/16", protocol=17, remote_ports=(5060, 5061)),
        PacketFilter(direction="downlink", precedence=9, local_ports=(4000, 4000)),
    )
    context = BearerToCreate(ebi=0, tft=encode_tft(filters), bearer_qos=BearerQos(1, Arp(2)))
    message = CreateBearerRequest(teid=1, linked_ebi=5, bearer_contexts=(context,))
    (dissection,) = dissect([udp(gtpv2c.encode(message), 2123)])
    assert dissection.problems == []
    assert dissection.fields("gsm_a.gm.sm.tft.pkt_flt") == ["2"]
    assert dissection.fields("gsm_a.gm.sm.tft.pkt_flt_dir") == ["3", "1"]
    assert dissection.fields("gsm_a.gm.sm.tft.protocol_header") == ["0x11"]
    assert dissection.fields("gsm_a.gm.sm.tft.port_low") == ["5060"]
    assert dissection.fields("gsm_a.gm.sm.tft.port_high") == ["5061"]
    assert dissection.fields("gsm_a.gm.sm.tft.port") == ["4000"]


async def test_a_session_lives_and_ends_on_every_store_backend(core_on_every_store) -> None:
    core = core_on_every_store
    n = next_request_number()
    created = await core.mme.request(core.sgw_peer(0), create_session_request(stamp=stamp(n)))
    assert created.cause.value == CauseValue.REQUEST_ACCEPTED
    s11 = created.sender_fteid.teid
    request = modify_bearer_request(s11, stamp=stamp(n + 1))
    modified = await core.mme.request(core.sgw_peer(1), request)
    assert modified.cause.value == CauseValue.REQUEST_ACCEPTED
    rules = await core.rules("sgw")
    assert rules[f"{IMSI}-5"].downlink_peer == Endpoint(0xE0B, "127.0.0.9")
    deleted = await core.mme.request(
        core.sgw_peer(0), delete_session_request(s11, stamp=stamp(n + 2))
    )
    assert deleted.cause.value == CauseValue.REQUEST_ACCEPTED
    assert await core.rules("sgw") == {} and await core.rules("pgw") == {}
    assert await core.index("ip") == []
