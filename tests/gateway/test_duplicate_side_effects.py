"""The ECHO paper's duplicate side effect (section 4.4, the Service Request of Figure 1): two MME
instances send the same Modify Bearer Request, one of them a retry with the same stamp, to
two SGW instances. The SGW must end with exactly one S1-U / S5-U TEID per bearer and both
replies must carry it; the PGW must apply the S5 side effect once."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import msgspec
import pytest
from harness.gateway_process import (
    IMSI,
    TestMme,
    create_session_request,
    modify_bearer_request,
    next_request_number,
    stamp,
)

from epc.algorithm1 import Record
from epc.codec.gtpv2c import CauseValue, ModifyBearerResponse
from epc.forwarding import Endpoint
from epc.pgw.context import PgwUe

pytestmark = pytest.mark.gateway


async def pgw_record(core) -> Record:
    node = await core.store.get(f"/{core.deployment}/pgw/ue/{IMSI}")
    return msgspec.msgpack.decode(node.value, type=Record[PgwUe])


async def attach(core) -> tuple[int, int]:
    n = next_request_number()
    created = await core.mme.request(core.sgw_peer(), create_session_request(stamp=stamp(n)))
    s11 = created.sender_fteid.teid
    await core.mme.request(core.sgw_peer(), modify_bearer_request(s11, stamp=stamp(n + 1)))
    return s11, n + 1


@pytest.mark.parametrize("concurrent", [True, False], ids=["racing", "one-after-the-other"])
async def test_same_modify_bearer_from_two_mme_instances_leaves_one_tunnel(core, concurrent):
    s11, n = await attach(core)
    other_mme = await TestMme.open()
    try:
        before = set(await core.index("teid"))
        # A Service Request after a handover to cell 0x19B02: the new location must reach the
        # PGW (S5 Modify Bearer, the side effect), the new eNB F-TEID the SGW.
        request = modify_bearer_request(s11, enb_teid=0xE0C, cell=0x19B02, stamp=stamp(n + 1))
        sends = (
            core.mme.request(core.sgw_peer(0), request),
            other_mme.request(core.sgw_peer(1), request),
        )
        if concurrent:
            first, second = await asyncio.gather(*sends)
        else:
            first, second = await sends[0], await sends[1]
    finally:
        await other_mme.close()
    for response in (first, second):
        assert isinstance(response, ModifyBearerResponse)
        assert response.cause.value == CauseValue.REQUEST_ACCEPTED
    assert replace(first, sequence_number=0) == replace(second, sequence_number=0)
    sgw_bearer = (await core.sgw_ue(IMSI)).sessions[5].bearers[5]
    assert first.bearer_contexts_modified[0].s1u_sgw_fteid.teid == sgw_bearer.s1u_sgw_teid
    assert set(await core.index("teid")) == before  # no TEID drawn twice, none leaked
    rules = await core.rules("sgw")
    assert list(rules) == [f"{IMSI}-5"]
    assert rules[f"{IMSI}-5"].downlink_peer == Endpoint(0xE0C, "127.0.0.9")
    assert rules[f"{IMSI}-5"].uplink_teid == sgw_bearer.s1u_sgw_teid
    # The PGW applied the side effect once: its record's last request is the S5 Modify
    # Bearer's ID, with the one reply recorded for it.
    record = await pgw_record(core)
    assert record.last == (n + 1, 0, 0)
    assert list(record.replies) == [f"{n + 1}.0.0"]


async def test_same_create_session_from_two_mme_instances_makes_one_session(core):
    other_mme = await TestMme.open()
    try:
        request = create_session_request(stamp=stamp(next_request_number()))
        first, second = await asyncio.gather(
            core.mme.request(core.sgw_peer(0), request),
            other_mme.request(core.sgw_peer(1), request),
        )
    finally:
        await other_mme.close()
    assert replace(first, sequence_number=0) == replace(second, sequence_number=0)
    assert first.cause.value == CauseValue.REQUEST_ACCEPTED
    assert len(await core.index("ip")) == 1
    assert len(await core.index("teid")) == 6
    assert list((await core.sgw_ue(IMSI)).sessions) == [5]
    assert list((await core.pgw_ue(IMSI)).sessions) == [5]
