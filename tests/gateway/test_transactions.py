"""The GTPv2-C transaction layer (TS 29.274 clause 7.6) without sockets: two cores wired in
memory on a scripted clock, exact retransmission deadlines, duplicate requests answered from
the cache, bad input answered with its cause, Echo and restart detection."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from epc.codec import gtpv2c
from epc.codec.gtpv2c import (
    Arp,
    BearerContextCreated,
    BearerContextToBeCreated,
    BearerQos,
    Cause,
    CauseValue,
    CreateSessionRequest,
    CreateSessionResponse,
    EchoRequest,
    EchoResponse,
    Fteid,
    FteidInterface,
    IeType,
    ModifyBearerRequest,
    ModifyBearerResponse,
)
from epc.gtpc.transactions import (
    MessageDiscarded,
    PathFailed,
    PeerFound,
    PeerRestarted,
    RequestArrived,
    RequestRejected,
    RequestTimedOut,
    ResponseArrived,
    Timers,
    Transactions,
    Transmit,
)

pytestmark = pytest.mark.gateway

MME = ("127.0.0.1", 2123)
SGW = ("127.0.0.2", 2123)
TIMERS = Timers(t3_response_s=3.0, n3_requests=3, echo_interval_s=60.0, response_cache_size=4)


def create_session(sequence: int = 0) -> CreateSessionRequest:
    return CreateSessionRequest(
        sequence_number=sequence,
        imsi="001010000000001",
        sender_fteid=Fteid(FteidInterface.S11_MME_GTPC, 0x1234, IPv4Address("127.0.0.1")),
        apn="internet",
        rat_type=6,
        bearer_contexts=(BearerContextToBeCreated(ebi=5, bearer_qos=BearerQos(9, Arp(1))),),
    )


def accepted(sequence: int) -> CreateSessionResponse:
    ok = Cause(CauseValue.REQUEST_ACCEPTED)
    return CreateSessionResponse(
        sequence_number=sequence,
        teid=0x1234,
        cause=ok,
        bearer_contexts_created=(BearerContextCreated(ebi=5, cause=ok),),
    )


def only(events, kind):
    found = [event for event in events if isinstance(event, kind)]
    assert len(found) == 1, events
    return found[0]


def probed(transactions: Transactions, peer=SGW, recovery: int = 5) -> Transactions:
    """The path to `peer` watched and its first Echo answered at time 0 (next one at 60)."""
    transactions.watch(peer, now=0.0)
    echo = gtpv2c.decode(only(transactions.handle_timer(0.0), Transmit).data)
    answer = EchoResponse(sequence_number=echo.sequence_number, recovery=recovery)
    assert transactions.receive(peer, gtpv2c.encode(answer), 0.0) == [PeerFound(peer, recovery)]
    return transactions


def test_request_is_retransmitted_every_t3_then_times_out_after_n3() -> None:
    mme = probed(Transactions(recovery=1, timers=TIMERS, first_sequence=99))
    sequence, events = mme.send_request(SGW, create_session(), now=0.0)
    assert sequence == 100
    first = only(events, Transmit)
    assert mme.next_deadline() == 3.0
    assert mme.handle_timer(2.999) == []
    for expected_deadline, now in ((6.0, 3.0), (9.0, 6.0), (12.0, 9.0)):
        assert only(mme.handle_timer(now), Transmit).data == first.data
        assert mme.next_deadline() == expected_deadline
    timed_out = only(mme.handle_timer(12.0), RequestTimedOut)
    assert timed_out == RequestTimedOut(SGW, 100, gtpv2c.MessageType.CREATE_SESSION_REQUEST, 4)
    assert mme.outstanding_count == 0


def test_response_stops_retransmission_and_is_matched_by_peer_and_sequence() -> None:
    mme = probed(Transactions(recovery=1, timers=TIMERS, first_sequence=7))
    sequence, _ = mme.send_request(SGW, create_session(), now=0.0)
    from_other_peer = mme.receive(("127.0.0.9", 2123), gtpv2c.encode(accepted(sequence)), 1.0)
    assert isinstance(from_other_peer[0], MessageDiscarded)
    arrived = only(mme.receive(SGW, gtpv2c.encode(accepted(sequence)), 1.0), ResponseArrived)
    assert arrived.sequence_number == sequence and arrived.message.cause.value == 16
    assert mme.handle_timer(3.0) == []
    assert isinstance(mme.receive(SGW, gtpv2c.encode(accepted(sequence)), 4.0)[0], MessageDiscarded)


def test_sequence_numbers_wrap_at_24_bits() -> None:
    mme = Transactions(recovery=1, timers=TIMERS, first_sequence=(1 << 24) - 1)
    first, _ = mme.send_request(SGW, create_session(), 0.0)
    second, _ = mme.send_request(SGW, create_session(), 0.0)
    assert (first, second) == ((1 << 24) - 1, 0)


def wired() -> tuple[Transactions, Transactions]:
    return (
        Transactions(recovery=1, timers=TIMERS, first_sequence=1),
        Transactions(recovery=5, timers=TIMERS),
    )


def test_duplicate_request_is_handed_over_once_and_answered_from_the_cache() -> None:
    mme, sgw = wired()
    _, events = mme.send_request(SGW, create_session(), 0.0)
    data = only(events, Transmit).data
    arrived = only(sgw.receive(MME, data, 0.1), RequestArrived)
    in_progress = sgw.receive(MME, data, 0.2)
    assert isinstance(in_progress[0], MessageDiscarded) and "in progress" in in_progress[0].reason
    answer = only(sgw.send_response(arrived.key, accepted(0), 0.3), Transmit)
    again = only(sgw.receive(MME, data, 3.0), Transmit)
    assert again.data == answer.data
    assert gtpv2c.decode(answer.data).sequence_number == arrived.message.sequence_number


def test_cached_answer_expires_after_the_retransmission_window() -> None:
    mme, sgw = wired()
    _, events = mme.send_request(SGW, create_session(), 0.0)
    data = only(events, Transmit).data
    arrived = only(sgw.receive(MME, data, 0.0), RequestArrived)
    sgw.send_response(arrived.key, accepted(0), 1.0)
    sgw.handle_timer(1.0 + TIMERS.response_lifetime_s)
    assert isinstance(sgw.receive(MME, data, 1.0 + TIMERS.response_lifetime_s)[0], RequestArrived)


def test_forgotten_request_is_handed_over_again() -> None:
    mme, sgw = wired()
    _, events = mme.send_request(SGW, create_session(), 0.0)
    data = only(events, Transmit).data
    arrived = only(sgw.receive(MME, data, 0.0), RequestArrived)
    sgw.forget_request(arrived.key)
    assert isinstance(sgw.receive(MME, data, 3.0)[0], RequestArrived)


def test_response_cache_is_bounded() -> None:
    mme, sgw = wired()
    datas = []
    for _ in range(TIMERS.response_cache_size + 1):
        _, events = mme.send_request(SGW, create_session(), 0.0)
        datas.append(only(events, Transmit).data)
        arrived = only(sgw.receive(MME, datas[-1], 0.0), RequestArrived)
        sgw.send_response(arrived.key, accepted(0), 0.0)
    assert isinstance(sgw.receive(MME, datas[0], 1.0)[0], RequestArrived)
    assert isinstance(sgw.receive(MME, datas[-1], 1.0)[0], Transmit)


def test_missing_mandatory_ie_is_answered_with_its_cause_and_the_offending_ie() -> None:
    _, sgw = wired()
    data = gtpv2c.encode(create_session(sequence=42))
    # Drop the APN IE (type 71): walk the IEs after the 12-octet header.
    body, offset, kept = data[12:], 0, b""
    while offset < len(body):
        length = int.from_bytes(body[offset + 1 : offset + 3], "big")
        if body[offset] != IeType.APN:
            kept += body[offset : offset + 4 + length]
        offset += 4 + length
    header = bytearray(data[:12])
    header[2:4] = (len(kept) + 8).to_bytes(2, "big")
    events = sgw.receive(MME, bytes(header) + kept, 0.0)
    response = gtpv2c.decode(only(events, Transmit).data)
    assert isinstance(response, CreateSessionResponse)
    assert response.sequence_number == 42 and response.teid == 0
    assert response.cause.value == CauseValue.MANDATORY_IE_MISSING
    assert response.cause.offending_ie == (IeType.APN, 0)
    assert only(events, RequestRejected).cause == CauseValue.MANDATORY_IE_MISSING


def test_other_gtp_version_gets_a_version_not_supported_indication() -> None:
    _, sgw = wired()
    gtpv1_echo = bytes([0x32, 1, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0])
    events = sgw.receive(MME, gtpv1_echo, 0.0)
    answer = gtpv2c.decode(only(events, Transmit).data)
    assert isinstance(answer, gtpv2c.VersionNotSupportedIndication)
    assert only(events, MessageDiscarded)


@pytest.mark.parametrize("data", [b"", b"\x48", b"\x48\x22\x00\x08" + b"\x00" * 3])
def test_garbage_is_discarded_without_an_answer(data: bytes) -> None:
    _, sgw = wired()
    events = sgw.receive(MME, data, 0.0)
    assert [type(event) for event in events] == [MessageDiscarded]


def test_echo_request_is_answered_with_the_own_recovery() -> None:
    _, sgw = wired()
    events = sgw.receive(MME, gtpv2c.encode(EchoRequest(sequence_number=9, recovery=1)), 0.0)
    answer = gtpv2c.decode(only(events, Transmit).data)
    assert answer == EchoResponse(sequence_number=9, recovery=5)


def test_paths_are_probed_at_once_then_every_echo_interval_and_fail_after_n3() -> None:
    mme = Transactions(recovery=1, timers=TIMERS, first_sequence=1)
    mme.watch(SGW, now=0.0)
    assert mme.next_deadline() == 0.0
    echo = gtpv2c.decode(only(mme.handle_timer(0.0), Transmit).data)
    assert isinstance(echo, EchoRequest) and echo.recovery == 1
    answer = EchoResponse(sequence_number=echo.sequence_number, recovery=5)
    assert mme.receive(SGW, gtpv2c.encode(answer), 0.1) == [PeerFound(SGW, 5)]
    assert mme.next_deadline() == 60.0
    assert isinstance(gtpv2c.decode(only(mme.handle_timer(60.0), Transmit).data), EchoRequest)
    for now in (63.0, 66.0, 69.0):
        assert isinstance(gtpv2c.decode(only(mme.handle_timer(now), Transmit).data), EchoRequest)
    assert only(mme.handle_timer(72.0), PathFailed) == PathFailed(SGW)
    assert mme.next_deadline() is None


def test_answered_echo_keeps_the_path_and_a_newer_recovery_means_a_restart() -> None:
    mme = Transactions(recovery=1, timers=TIMERS, first_sequence=1)
    mme.watch(SGW, now=0.0)
    steps = ((0.0, 5, [PeerFound]), (60.0, 5, []), (120.0, 6, [PeerRestarted]))
    for now, recovery, expected in steps:
        echo = gtpv2c.decode(only(mme.handle_timer(now), Transmit).data)
        answer = EchoResponse(sequence_number=echo.sequence_number, recovery=recovery)
        events = mme.receive(SGW, gtpv2c.encode(answer), now + 0.1)
        assert [type(event) for event in events] == expected
    assert mme.peer_recovery(SGW) == 6


@pytest.mark.parametrize(
    ("previous", "current", "restarted"),
    [(5, 6, True), (255, 0, True), (5, 4, False), (0, 200, False), (3, 3, False)],
)
def test_recovery_comparison_takes_roll_over_into_account(
    previous: int, current: int, restarted: bool
) -> None:
    _, sgw = wired()
    sgw.receive(MME, gtpv2c.encode(EchoRequest(sequence_number=1, recovery=previous)), 0.0)
    events = sgw.receive(MME, gtpv2c.encode(EchoRequest(sequence_number=2, recovery=current)), 1.0)
    assert any(isinstance(event, PeerRestarted) for event in events) == restarted


def test_response_to_an_unknown_teid_request_type_pairs() -> None:
    mme, sgw = wired()
    _, events = mme.send_request(SGW, ModifyBearerRequest(teid=77), 0.0)
    arrived = only(sgw.receive(MME, only(events, Transmit).data, 0.0), RequestArrived)
    answer = ModifyBearerResponse(teid=1, cause=Cause(CauseValue.CONTEXT_NOT_FOUND))
    response = only(sgw.send_response(arrived.key, answer, 0.0), Transmit)
    arrived_back = only(mme.receive(SGW, response.data, 0.1), ResponseArrived)
    assert arrived_back.message.cause.value == CauseValue.CONTEXT_NOT_FOUND
