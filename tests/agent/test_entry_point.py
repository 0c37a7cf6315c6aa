"""The ECHO entry-point core on a scripted clock: `now` is whatever the test says and the wall
clock behind request IDs is a number the test sets. Frames from the core are built by hand
(or by a miniature Algorithm 1 in the property test), so every deadline is exact."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from echo_agent.commands import (
    LogEvent,
    SendErrorIndicationToEnb,
    SendToCore,
    SendToEnb,
    SwitchCoreEndpoint,
)
from echo_agent.entry_point import ENB_LOST_RESET, EntryPoint, S1SetupState, UnknownUe
from echo_agent.timers import RetransmitPolicy
from echo_agent.wire import ENB_UE_ID, Frame, FrameKind
from epc.codec import s1ap
from epc.codec.s1ap_frame import read_frame, write_frame
from epc.codec.s1ap_messages import (
    Cause,
    CauseGroup,
    DownlinkNasTransport,
    Ecgi,
    EnbConfigurationUpdate,
    EnbConfigurationUpdateAcknowledge,
    ErrorIndication,
    GlobalEnbId,
    InitialUeMessage,
    PlmnIdentity,
    ProtocolCause,
    Reset,
    ResetAcknowledge,
    S1SetupFailure,
    S1SetupRequest,
    S1SetupResponse,
    ServedGummei,
    SupportedTa,
    Tai,
    UeAssociatedConnection,
    UeContextReleaseComplete,
    UplinkNasTransport,
)

pytestmark = pytest.mark.agent

PLMN = PlmnIdentity("001", "01")
TAI = Tai(PLMN, 1)
ECGI = Ecgi(PLMN, 0x19B01)
WALL_START_US = 1_700_000_000_000_000
MME_A, MME_B = "mme-a:36413", "mme-b:36413"
STREAM = 1
"""A UE-associated SCTP stream."""

S1_SETUP_REQUEST = s1ap.encode(
    S1SetupRequest(GlobalEnbId(PLMN, 0x19B), (SupportedTa(1, (PLMN,)),), 128, "enb-019b")
)
S1_SETUP_RESPONSE_A = s1ap.encode(S1SetupResponse((ServedGummei((PLMN,), (2,), (1,)),), 255, "a"))
S1_SETUP_RESPONSE_B = s1ap.encode(S1SetupResponse((ServedGummei((PLMN,), (2,), (1,)),), 255, "b"))
S1_SETUP_FAILURE = s1ap.encode(S1SetupFailure(Cause(CauseGroup.MISC, "unknown-PLMN")))
ENB_CONFIGURATION_UPDATE = s1ap.encode(EnbConfigurationUpdate("enb-019b", (), 64))
ENB_CONFIGURATION_UPDATE_ACKNOWLEDGE = s1ap.encode(EnbConfigurationUpdateAcknowledge())


def initial_ue(enb_id: int) -> bytes:
    return s1ap.encode(InitialUeMessage(enb_id, b"\x07\x41", TAI, ECGI, "mo-Signalling"))


def uplink_nas(enb_id: int, mme_id: int, nas: bytes = b"\x07\x43") -> bytes:
    return s1ap.encode(UplinkNasTransport(mme_id, enb_id, nas, ECGI, TAI))


def downlink_nas(enb_id: int, mme_id: int, nas: bytes = b"\x07\x42") -> bytes:
    return s1ap.encode(DownlinkNasTransport(mme_id, enb_id, nas))


def release_complete(enb_id: int, mme_id: int) -> bytes:
    return s1ap.encode(UeContextReleaseComplete(mme_id, enb_id))


class WallClock:
    """The injected wall clock, in microseconds; tests move it (backwards too)."""

    def __init__(self, us: int = WALL_START_US) -> None:
        self.us = us

    def __call__(self) -> int:
        return self.us


POLICY = RetransmitPolicy(initial_timeout_s=0.5, backoff_factor=2.0, max_timeout_s=4.0)


def make(connected: str | None = MME_A, **options) -> tuple[EntryPoint, WallClock]:
    wall = WallClock()
    options.setdefault("retransmit", POLICY)
    core = EntryPoint(wall_clock_us=wall, **options)
    if connected is not None:
        core.core_connected(0.0, connected)
        core.pop_commands()
    return core, wall


def frames(commands) -> list[Frame]:
    return [command.frame for command in commands if isinstance(command, SendToCore)]


def to_enb(commands) -> list[bytes]:
    return [command.payload for command in commands if isinstance(command, SendToEnb)]


def events(commands) -> list[str]:
    return [command.event for command in commands if isinstance(command, LogEvent)]


def reply(request: Frame, sequence: int, payload: bytes, stream: int = STREAM) -> Frame:
    return Frame(
        FrameKind.REPLY, request.ue_id, request.request_id, sequence, stream=stream, payload=payload
    )


def ack(request: Frame, count: int) -> Frame:
    return Frame(FrameKind.ACK, request.ue_id, request.request_id, count)


def set_timer(request: Frame, timer_id: int, timer_ms: int) -> Frame:
    return Frame(
        FrameKind.SET_TIMER, request.ue_id, request.request_id, timer_id=timer_id, timer_ms=timer_ms
    )


def cancel_timer(request: Frame, timer_id: int) -> Frame:
    return Frame(FrameKind.CANCEL_TIMER, request.ue_id, request.request_id, timer_id=timer_id)


def attach_ue(core: EntryPoint, now: float, enb_id: int, mme_id: int) -> Frame:
    """An Initial UE Message answered with one downlink that carries the MME-UE-S1AP-ID."""
    core.uplink_s1ap(now, initial_ue(enb_id), STREAM)
    (request,) = frames(core.pop_commands())
    core.frame_from_core(now, reply(request, 0, downlink_nas(enb_id, mme_id)))
    core.frame_from_core(now, ack(request, 1))
    core.pop_commands()
    return request


def send(core: EntryPoint, now: float, payload: bytes) -> Frame:
    core.uplink_s1ap(now, payload, STREAM)
    (request,) = frames(core.pop_commands())
    return request


# --- requests --------------------------------------------------------------------------------


def test_initial_ue_message_becomes_a_request_of_a_new_ue_numbered_by_the_wall_clock():
    core, wall = make()
    payload = initial_ue(7)

    core.uplink_s1ap(0.0, payload, STREAM)

    (request,) = frames(core.pop_commands())
    assert request.kind is FrameKind.REQUEST
    assert request.ue_id not in (ENB_UE_ID, 0)
    assert request.ue_id == core.ue_id_for(7)
    assert request.request_id > request.ue_id >= wall.us
    assert (request.payload, request.stream) == (payload, STREAM)


def test_non_ue_associated_messages_go_to_the_enb_queue():
    core, _ = make()

    request = send(core, 0.0, S1_SETUP_REQUEST)

    assert request.ue_id == ENB_UE_ID
    assert core.s1_setup_state is S1SetupState.PENDING


def test_retransmissions_back_off_exactly_and_cap_at_the_maximum():
    core, _ = make(switch_after_timeouts=100)
    request = send(core, 0.0, initial_ue(1))
    expected = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]  # waits of 0.5, 1, 2, 4, 4, 4

    for previous, deadline in zip([0.0, *expected], expected, strict=False):
        assert core.next_deadline() == deadline
        core.handle_deadline(deadline - 1e-9)
        assert frames(core.pop_commands()) == [], f"nothing before {deadline} (from {previous})"
        core.handle_deadline(deadline)
        assert frames(core.pop_commands()) == [request], "the same frame, same request ID"


def test_a_reply_goes_to_the_enb_once_and_the_ack_completes_the_request():
    core, _ = make()
    request = send(core, 0.0, initial_ue(1))
    downlink = downlink_nas(1, 77)

    core.frame_from_core(0.1, reply(request, 0, downlink))
    core.frame_from_core(0.1, reply(request, 0, downlink))  # a retry at another instance
    assert to_enb(core.pop_commands()) == [downlink]

    core.frame_from_core(0.2, ack(request, 1))
    core.frame_from_core(0.2, ack(request, 1))
    assert core.pop_commands() == []
    assert core.next_deadline() is None, "completed: no retransmission left"


def test_replies_arriving_out_of_order_are_released_in_sequence():
    core, _ = make()
    request = send(core, 0.0, initial_ue(1))
    payloads = [downlink_nas(1, 77, bytes([0x07, n])) for n in range(3)]

    core.frame_from_core(0.1, reply(request, 2, payloads[2]))
    core.frame_from_core(0.1, reply(request, 1, payloads[1]))
    assert to_enb(core.pop_commands()) == [], "held until sequence 0 arrives"

    core.frame_from_core(0.2, reply(request, 0, payloads[0]))
    core.frame_from_core(0.2, reply(request, 1, payloads[1]))
    assert to_enb(core.pop_commands()) == payloads


def test_an_ack_waits_for_replies_still_missing():
    core, _ = make()
    request = send(core, 0.0, initial_ue(1))
    core.uplink_s1ap(0.0, uplink_nas(1, 77), STREAM)
    core.frame_from_core(0.1, reply(request, 0, downlink_nas(1, 77)))
    core.frame_from_core(0.1, ack(request, 2))
    assert frames(core.pop_commands()) == [], "reply 1 of 2 is missing: not complete"
    assert core.next_deadline() == 0.5, "still retransmitted, so the core replays it"

    core.frame_from_core(0.3, reply(request, 1, downlink_nas(1, 77, b"\x07\x44")))

    commands = core.pop_commands()
    assert len(to_enb(commands)) == 1
    (following,) = frames(commands)
    assert following.ue_id == request.ue_id and following.request_id > request.request_id


def test_the_next_request_of_a_ue_goes_only_after_the_ack():
    core, _ = make()
    first = send(core, 0.0, initial_ue(1))
    core.uplink_s1ap(0.1, uplink_nas(1, 77), STREAM)
    core.uplink_s1ap(0.1, uplink_nas(1, 77, b"\x07\x45"), STREAM)
    core.frame_from_core(0.2, reply(first, 0, downlink_nas(1, 77)))
    assert frames(core.pop_commands()) == []

    core.frame_from_core(0.3, ack(first, 1))
    (second,) = frames(core.pop_commands())
    assert second.payload == uplink_nas(1, 77)
    assert core.next_deadline() == pytest.approx(0.8), "its own retransmission, from 0.3"

    core.frame_from_core(0.4, ack(second, 0))
    (third,) = frames(core.pop_commands())
    assert third.payload == uplink_nas(1, 77, b"\x07\x45")
    assert first.request_id < second.request_id < third.request_id


def test_answers_to_an_older_request_are_dropped():
    core, _ = make()
    first = send(core, 0.0, initial_ue(1))
    core.frame_from_core(0.1, reply(first, 0, downlink_nas(1, 77)))
    core.frame_from_core(0.1, ack(first, 1))
    second = send(core, 0.2, uplink_nas(1, 77))

    core.frame_from_core(0.3, reply(first, 0, downlink_nas(1, 77)))
    core.frame_from_core(0.3, reply(first, 1, downlink_nas(1, 77)))
    core.frame_from_core(0.3, ack(first, 2))

    assert core.pop_commands() == []
    assert core.next_deadline() == pytest.approx(0.7), "the second still awaits its ACK"
    core.frame_from_core(0.4, ack(second, 0))
    assert core.next_deadline() is None


def test_ues_progress_independently():
    core, _ = make()
    stuck = send(core, 0.0, initial_ue(1))
    other = send(core, 0.0, initial_ue(2))
    assert stuck.ue_id != other.ue_id

    core.uplink_s1ap(0.1, uplink_nas(2, 88), STREAM)
    core.frame_from_core(0.2, ack(other, 0))
    (next_of_other,) = frames(core.pop_commands())
    assert next_of_other.ue_id == other.ue_id

    core.handle_deadline(0.5)
    assert frames(core.pop_commands()) == [stuck], "only the unanswered one is resent"


def test_uplinks_wait_for_a_connection_and_keep_their_id_across_reconnects():
    core, _ = make(connected=None)
    core.uplink_s1ap(0.0, initial_ue(1), STREAM)
    assert frames(core.pop_commands()) == []
    assert core.next_deadline() is None

    core.core_connected(1.0, MME_A)
    (request,) = frames(core.pop_commands())
    assert core.next_deadline() == 1.5
    core.handle_deadline(1.5)
    assert frames(core.pop_commands()) == [request]
    core.core_disconnected(2.0, MME_A)
    assert core.next_deadline() is None, "no retransmissions into a closed connection"

    core.core_connected(3.0, MME_A)
    commands = core.pop_commands()
    assert frames(commands) == [request]
    assert [c.endpoint for c in commands if isinstance(c, SendToCore)] == [MME_A]
    assert core.next_deadline() == 3.5, "a new connection starts the backoff again"


# --- request IDs -------------------------------------------------------------------------------


def test_request_ids_stay_monotonic_when_the_wall_clock_steps_back():
    core, wall = make()
    first = send(core, 0.0, initial_ue(1))
    core.frame_from_core(0.1, ack(first, 0))
    wall.us -= 3_600_000_000  # an NTP step back by an hour

    second = send(core, 0.2, uplink_nas(1, 77))
    core.frame_from_core(0.3, ack(second, 0))
    wall.us += 7_200_000_000
    third = send(core, 0.4, uplink_nas(1, 77))

    assert second.request_id == first.request_id + 1
    assert third.request_id == wall.us, "back on the wall clock once it is ahead again"


def test_request_ids_grow_across_s1_connections_and_agent_restarts():
    core, wall = make()
    old = attach_ue(core, 0.0, enb_id=1, mme_id=77)
    new = send(core, 0.1, initial_ue(2))
    assert new.request_id > old.request_id and new.ue_id != old.ue_id

    # Nothing persisted: the wall clock alone carries the order, as the restart takes far
    # longer than the microseconds the agent's burst of IDs ran ahead of it.
    wall.us += 1_000_000
    restarted = EntryPoint(wall_clock_us=wall)
    restarted.core_connected(0.0, MME_A)
    after_restart = send(restarted, 0.0, initial_ue(1))
    assert after_restart.request_id > new.request_id
    assert after_restart.ue_id not in (old.ue_id, new.ue_id)


# --- UE mapping and cleanup --------------------------------------------------------------------


def test_uplinks_are_routed_by_s1ap_ids_learnt_from_the_first_downlink():
    core, _ = make()
    first = attach_ue(core, 0.0, enb_id=1, mme_id=77)

    by_enb_id = send(core, 0.1, uplink_nas(1, 77))
    assert by_enb_id.ue_id == first.ue_id


def test_the_ue_record_is_dropped_once_released_and_idle():
    core, _ = make()
    request = attach_ue(core, 0.0, enb_id=1, mme_id=77)
    assert request.ue_id in core.ue_ids()

    release = send(core, 0.1, release_complete(1, 77))
    assert core.ue_id_for(1) is None, "the eNB may reuse the ID once it sent Release Complete"
    assert request.ue_id in core.ue_ids(), "not before the core acknowledged it"

    core.frame_from_core(0.2, ack(release, 0))
    assert core.ue_ids() == {ENB_UE_ID}
    assert "ue_dropped" in events(core.pop_commands())


def test_a_released_ue_with_a_timer_armed_lives_until_the_timer_is_done():
    core, _ = make()
    attach_ue(core, 0.0, enb_id=1, mme_id=77)
    release = send(core, 0.1, release_complete(1, 77))
    core.frame_from_core(0.25, set_timer(release, timer_id=9, timer_ms=1000))
    core.frame_from_core(0.25, ack(release, 0))
    assert release.ue_id in core.ue_ids()

    core.handle_deadline(1.25)
    (fired,) = frames(core.pop_commands())
    assert (fired.kind, fired.ue_id, fired.timer_id) == (FrameKind.TIMER_FIRED, release.ue_id, 9)
    core.frame_from_core(1.3, ack(fired, 0))
    assert core.ue_ids() == {ENB_UE_ID}


def test_a_reused_enb_ue_s1ap_id_starts_a_new_ue_and_releases_the_old():
    core, _ = make()
    old = attach_ue(core, 0.0, enb_id=1, mme_id=77)

    new = send(core, 0.1, initial_ue(1))

    assert new.ue_id != old.ue_id
    assert core.ue_id_for(1) == new.ue_id
    assert old.ue_id not in core.ue_ids(), "released and idle, so dropped"


def test_an_undecodable_uplink_is_answered_with_an_error_indication_and_logged_once():
    core, _ = make()

    core.uplink_s1ap(0.0, b"\x00\x11", STREAM)

    commands = core.pop_commands()
    (answer,) = [c for c in commands if isinstance(c, SendErrorIndicationToEnb)]
    assert answer.stream == 0, "no UE IDs: non-UE-associated signalling"
    assert s1ap.decode(answer.payload) == ErrorIndication(
        cause=Cause(CauseGroup.PROTOCOL, ProtocolCause.TRANSFER_SYNTAX_ERROR)
    )
    assert answer.error.cause.value == ProtocolCause.TRANSFER_SYNTAX_ERROR
    assert events(commands) == ["uplink_undecodable"]
    assert frames(commands) == []


def test_uplinks_beyond_the_queue_bound_are_dropped_with_a_warning():
    core, _ = make(connected=None, max_queued_per_ue=2)
    for _ in range(3):
        core.uplink_s1ap(0.0, ENB_CONFIGURATION_UPDATE, 0)

    commands = core.pop_commands()
    assert events(commands) == ["uplink_dropped_queue_full"]
    core.core_connected(1.0, MME_A)
    (first,) = frames(core.pop_commands())
    core.frame_from_core(1.0, ack(first, 0))
    assert len(frames(core.pop_commands())) == 1, "the second, and no third"


def test_error_frames_and_frames_the_core_should_not_send_are_logged():
    core, _ = make()

    core.frame_from_core(0.0, Frame(FrameKind.ERROR, sequence=3, payload=b"bad frame"))
    core.frame_from_core(0.0, Frame(FrameKind.REQUEST, 5, 6))
    core.frame_from_core(0.0, Frame(FrameKind.PONG, request_id=1))

    commands = core.pop_commands()
    assert events(commands) == ["core_error", "core_frame_unexpected"]
    assert commands[0].fields == {"code": 3, "reason": "bad frame"}


# --- core-initiated messages ---------------------------------------------------------------


def test_core_initiated_messages_are_forwarded_once_from_any_endpoint():
    core, _ = make()
    paging = Frame(FrameKind.CORE_INITIATED, 0, 555, 0, stream=0, payload=b"paging")
    second = Frame(FrameKind.CORE_INITIATED, 0, 555, 1, stream=0, payload=b"paging-2")

    for frame in (paging, paging, second, paging, second):
        core.frame_from_core(0.0, frame)

    assert to_enb(core.pop_commands()) == [b"paging", b"paging-2"]


def test_the_core_initiated_window_is_bounded():
    core, _ = make(core_initiated_window=2)
    messages = [Frame(FrameKind.CORE_INITIATED, 0, n, 0, payload=bytes([n])) for n in (1, 2, 3)]
    for frame in messages:
        core.frame_from_core(0.0, frame)
    core.frame_from_core(0.0, messages[0])  # forgotten: the window holds the last two
    core.frame_from_core(0.0, messages[2])

    assert to_enb(core.pop_commands()) == [b"\x01", b"\x02", b"\x03", b"\x01"]


# --- reliable timers ---------------------------------------------------------------------------


def test_a_timer_fires_at_its_exact_deadline_as_a_new_request_of_the_ue():
    core, _ = make()
    request = send(core, 0.0, initial_ue(1))
    core.frame_from_core(1.0, set_timer(request, timer_id=3450, timer_ms=6000))
    core.frame_from_core(1.0, ack(request, 0))
    assert core.next_deadline() == 7.0

    core.handle_deadline(6.999)
    assert frames(core.pop_commands()) == []
    core.handle_deadline(7.0)

    (fired,) = frames(core.pop_commands())
    assert fired == Frame(FrameKind.TIMER_FIRED, request.ue_id, fired.request_id, timer_id=3450)
    assert fired.request_id > request.request_id
    assert core.next_deadline() == 7.5, "retransmitted until acknowledged, like any request"
    core.handle_deadline(7.5)
    assert frames(core.pop_commands()) == [fired]


def test_a_cancelled_timer_never_fires():
    core, _ = make()
    first = send(core, 0.0, initial_ue(1))
    core.frame_from_core(0.1, set_timer(first, timer_id=1, timer_ms=1000))
    core.frame_from_core(0.1, ack(first, 0))
    second = send(core, 0.5, uplink_nas(1, 77))
    core.frame_from_core(0.6, cancel_timer(second, timer_id=1))
    core.frame_from_core(0.6, ack(second, 0))

    assert core.next_deadline() is None
    core.handle_deadline(10.0)
    assert frames(core.pop_commands()) == []


def test_a_replayed_set_timer_does_not_restart_the_timer():
    core, _ = make()
    request = send(core, 0.0, initial_ue(1))
    core.frame_from_core(0.25, set_timer(request, timer_id=1, timer_ms=2000))
    core.handle_deadline(0.5)  # the ACK is late: retransmitted, and the core replays
    core.frame_from_core(0.75, set_timer(request, timer_id=1, timer_ms=2000))
    core.frame_from_core(0.75, ack(request, 0))
    core.pop_commands()

    assert core.next_deadline() == 2.25, "armed by the first copy, at 0.25"
    core.handle_deadline(2.25)
    (fired,) = frames(core.pop_commands())
    core.frame_from_core(2.3, set_timer(request, timer_id=1, timer_ms=2000))  # very late copy
    core.frame_from_core(2.3, ack(fired, 0))
    assert core.next_deadline() is None, "a fired timer is not armed again by a stale replay"


def test_a_replayed_cancel_does_not_disarm_the_timer_the_same_request_set_again():
    core, _ = make()
    request = send(core, 0.0, initial_ue(1))
    core.frame_from_core(0.1, cancel_timer(request, timer_id=1))
    core.frame_from_core(0.1, set_timer(request, timer_id=1, timer_ms=1000))
    core.frame_from_core(0.6, cancel_timer(request, timer_id=1))  # the replay, in order
    core.frame_from_core(0.6, set_timer(request, timer_id=1, timer_ms=1000))
    core.frame_from_core(0.6, ack(request, 0))

    assert core.next_deadline() == pytest.approx(1.1)


def test_rearming_a_timer_replaces_its_deadline():
    core, _ = make()
    first = send(core, 0.0, initial_ue(1))
    core.frame_from_core(0.1, set_timer(first, timer_id=1, timer_ms=1000))
    core.frame_from_core(0.1, ack(first, 0))
    second = send(core, 0.5, uplink_nas(1, 77))
    core.frame_from_core(0.6, set_timer(second, timer_id=1, timer_ms=3000))
    core.frame_from_core(0.6, ack(second, 0))

    assert core.next_deadline() == pytest.approx(3.6)


def test_cancelling_a_timer_drops_its_expiry_still_waiting_in_the_queue():
    core, _ = make()
    first = send(core, 0.0, initial_ue(1))
    core.frame_from_core(0.125, set_timer(first, timer_id=1, timer_ms=250))
    core.frame_from_core(0.125, ack(first, 0))
    second = send(core, 0.25, uplink_nas(1, 77))
    core.handle_deadline(0.375)  # fires behind the in-flight second request
    assert frames(core.pop_commands()) == []

    core.frame_from_core(0.5, cancel_timer(second, timer_id=1))
    core.frame_from_core(0.5, ack(second, 0))

    assert frames(core.pop_commands()) == [], "the core cancelled it before it saw the expiry"
    assert core.next_deadline() is None


# --- failover ----------------------------------------------------------------------------------


def test_a_switch_is_signalled_after_n_consecutive_timeouts():
    core, _ = make(switch_after_timeouts=3)
    request = send(core, 0.0, initial_ue(1))

    core.handle_deadline(0.5)
    core.handle_deadline(1.5)
    commands = core.pop_commands()
    assert not [c for c in commands if isinstance(c, SwitchCoreEndpoint)]
    assert len(frames(commands)) == 2

    core.handle_deadline(3.5)
    commands = core.pop_commands()
    assert [c for c in commands if isinstance(c, SwitchCoreEndpoint)] == [
        SwitchCoreEndpoint(MME_A, 3, request.ue_id, request.request_id)
    ]
    assert frames(commands) == [request], "resent to the current endpoint until told otherwise"

    core.core_disconnected(4.0, MME_A)
    core.core_connected(4.2, MME_B)
    commands = core.pop_commands()
    assert [(c.frame, c.endpoint) for c in commands if isinstance(c, SendToCore)] == [
        (request, MME_B)
    ]
    assert core.next_deadline() == pytest.approx(4.7)


def test_one_stall_across_many_ues_signals_one_switch():
    core, _ = make(switch_after_timeouts=2)
    for enb_id in range(1, 6):
        send(core, 0.0, initial_ue(enb_id))

    core.handle_deadline(0.5)
    core.handle_deadline(1.5)

    switches = [c for c in core.pop_commands() if isinstance(c, SwitchCoreEndpoint)]
    assert len(switches) == 1


def test_word_from_the_core_resets_the_timeout_count():
    core, _ = make(switch_after_timeouts=3)
    request = send(core, 0.0, initial_ue(1))
    core.handle_deadline(0.5)
    core.handle_deadline(1.5)
    core.frame_from_core(2.0, reply(request, 0, downlink_nas(1, 77)))

    core.handle_deadline(3.5)
    core.handle_deadline(7.5)

    assert not [c for c in core.pop_commands() if isinstance(c, SwitchCoreEndpoint)]


# --- S1 Setup restore ----------------------------------------------------------------------


def set_up_s1(core: EntryPoint, now: float) -> Frame:
    setup = send(core, now, S1_SETUP_REQUEST)
    core.frame_from_core(now, reply(setup, 0, S1_SETUP_RESPONSE_A, stream=0))
    core.frame_from_core(now, ack(setup, 1))
    assert to_enb(core.pop_commands()) == [S1_SETUP_RESPONSE_A]
    return setup


def test_s1_setup_goes_through_to_the_core_and_back():
    core, _ = make()

    set_up_s1(core, 0.0)

    assert core.s1_setup_state is S1SetupState.ESTABLISHED
    assert core.s1_setup_response == S1_SETUP_RESPONSE_A


def test_a_failed_s1_setup_is_not_restored():
    core, _ = make()
    setup = send(core, 0.0, S1_SETUP_REQUEST)
    core.frame_from_core(0.1, reply(setup, 0, S1_SETUP_FAILURE, stream=0))
    core.frame_from_core(0.1, ack(setup, 1))
    core.pop_commands()

    core.core_connected(1.0, MME_B)

    assert core.s1_setup_state is S1SetupState.NONE
    assert frames(core.pop_commands()) == []


def test_the_s1_setup_is_restored_on_a_new_endpoint_without_a_second_response_to_the_enb():
    core, _ = make()
    setup = set_up_s1(core, 0.0)
    ue_request = send(core, 0.1, initial_ue(1))

    core.core_disconnected(0.2, MME_A)
    core.core_connected(0.3, MME_B)
    (restore,) = frames(core.pop_commands())
    assert (restore.ue_id, restore.payload) == (ENB_UE_ID, S1_SETUP_REQUEST)
    assert restore.request_id > ue_request.request_id > setup.request_id
    assert core.s1_setup_state is S1SetupState.RESTORING

    core.frame_from_core(0.4, reply(restore, 0, S1_SETUP_RESPONSE_B, stream=0))
    commands = core.pop_commands()
    assert to_enb(commands) == [], "the eNB keeps its association and its first response"
    assert "s1_setup_restored" in events(commands)

    core.frame_from_core(0.4, ack(restore, 1))
    commands = core.pop_commands()
    assert [(c.frame, c.endpoint) for c in commands if isinstance(c, SendToCore)] == [
        (ue_request, MME_B)
    ], "UE requests wait for the restore, then resume with their IDs"
    assert core.s1_setup_response == S1_SETUP_RESPONSE_A

    core.core_disconnected(0.5, MME_B)
    core.core_connected(0.6, MME_B)
    assert [f.ue_id for f in frames(core.pop_commands())] == [ue_request.ue_id], (
        "the same endpoint again: nothing to restore"
    )


def test_the_replay_waits_for_the_enb_queue_request_in_flight():
    core, _ = make()
    set_up_s1(core, 0.0)
    update = send(core, 0.1, ENB_CONFIGURATION_UPDATE)
    ue_request = send(core, 0.1, initial_ue(1))

    core.core_connected(0.2, MME_B)
    assert frames(core.pop_commands()) == [update], "it keeps its ID, so it goes first"
    core.frame_from_core(0.3, reply(update, 0, ENB_CONFIGURATION_UPDATE_ACKNOWLEDGE, stream=0))
    core.frame_from_core(0.3, ack(update, 1))
    commands = core.pop_commands()
    assert to_enb(commands) == [ENB_CONFIGURATION_UPDATE_ACKNOWLEDGE]
    (restore,) = frames(commands)
    assert restore.payload == S1_SETUP_REQUEST
    assert restore.request_id > ue_request.request_id > update.request_id

    core.frame_from_core(0.4, reply(restore, 0, S1_SETUP_RESPONSE_B, stream=0))
    core.frame_from_core(0.4, ack(restore, 1))
    assert frames(core.pop_commands()) == [ue_request]


def test_an_s1_setup_the_enb_has_in_flight_during_failover_is_not_replayed():
    core, _ = make()
    set_up_s1(core, 0.0)
    again = send(core, 0.1, S1_SETUP_REQUEST)

    core.core_connected(0.2, MME_B)

    assert frames(core.pop_commands()) == [again]
    assert core.s1_setup_state is S1SetupState.PENDING


def test_a_rejected_restore_is_tried_again_on_the_next_endpoint():
    core, _ = make()
    set_up_s1(core, 0.0)
    core.core_connected(0.1, MME_B)
    (restore,) = frames(core.pop_commands())
    core.frame_from_core(0.2, reply(restore, 0, S1_SETUP_FAILURE, stream=0))
    core.frame_from_core(0.2, ack(restore, 1))
    assert to_enb(core.pop_commands()) == []

    core.core_connected(0.3, MME_A)
    (again,) = frames(core.pop_commands())
    assert again.payload == S1_SETUP_REQUEST and again.request_id > restore.request_id


# --- the end of UE-associated S1 connections: eNB disconnect, Reset -------------------------

RESET_ALL = s1ap.encode(Reset(Cause(CauseGroup.MISC, "om-intervention")))
RESET_ACKNOWLEDGE = s1ap.encode(ResetAcknowledge())


def partial_reset(*connections: UeAssociatedConnection) -> bytes:
    return s1ap.encode(Reset(Cause(CauseGroup.MISC, "om-intervention"), connections))


def core_initiated(payload: bytes, request_id: int = 900) -> Frame:
    return Frame(FrameKind.CORE_INITIATED, ENB_UE_ID, request_id, stream=0, payload=payload)


def complete(core: EntryPoint, now: float, request: Frame, *replies: bytes) -> list:
    """The core answers `request` with `replies` and acknowledges it; the commands that gives."""
    for sequence, payload in enumerate(replies):
        core.frame_from_core(now, reply(request, sequence, payload))
    core.frame_from_core(now, ack(request, len(replies)))
    return core.pop_commands()


def test_the_agents_reset_is_the_reset_all_the_codec_encodes():
    assert ENB_LOST_RESET == s1ap.encode(Reset(Cause(CauseGroup.TRANSPORT, "unspecified")))


def test_an_enb_disconnect_releases_every_ue_and_resets_them_at_the_core_after_what_is_in_flight():
    core, _ = make()
    setup = set_up_s1(core, 0.0)
    idle = attach_ue(core, 0.1, enb_id=1, mme_id=77)
    attach_ue(core, 0.1, enb_id=2, mme_id=78)
    busy = send(core, 0.2, uplink_nas(2, 78))
    core.uplink_s1ap(0.2, uplink_nas(2, 78, b"\x07\x45"), STREAM)  # queued behind it

    core.enb_disconnected(0.3)

    commands = core.pop_commands()
    assert frames(commands) == [], "the Reset waits for the request in flight"
    assert "enb_lost" in events(commands)
    assert core.ue_id_for(1) is None and core.ue_id_for(2) is None
    assert idle.ue_id not in core.ue_ids(), "released and idle: dropped"
    assert core.s1_setup_state is S1SetupState.NONE

    commands = complete(core, 0.4, busy, downlink_nas(2, 78))
    assert to_enb(commands) == [], "its connection is gone: the answer goes nowhere"
    (reset,) = frames(commands)
    assert (reset.ue_id, reset.stream, reset.payload) == (ENB_UE_ID, 0, ENB_LOST_RESET)
    assert reset.request_id > busy.request_id > setup.request_id
    assert core.ue_ids() == {ENB_UE_ID}, "the uplink queued behind was dropped"

    commands = complete(core, 0.5, reset, RESET_ACKNOWLEDGE)
    assert to_enb(commands) == [] and frames(commands) == []
    assert core.next_deadline() is None


def test_after_an_enb_disconnect_a_new_endpoint_gets_no_s1_setup_replay():
    core, _ = make()
    set_up_s1(core, 0.0)
    core.enb_disconnected(0.1)
    (reset,) = frames(core.pop_commands())
    complete(core, 0.2, reset, RESET_ACKNOWLEDGE)

    core.core_connected(0.3, MME_B)

    assert frames(core.pop_commands()) == []
    assert core.s1_setup_response is None


def test_the_new_association_follows_the_reset_with_higher_request_ids():
    core, wall = make()
    set_up_s1(core, 0.0)
    old = attach_ue(core, 0.1, enb_id=1, mme_id=77)
    core.core_disconnected(0.2, MME_A)
    core.enb_disconnected(0.3)
    wall.us -= 60_000_000  # the wall clock steps back: IDs keep growing all the same
    core.uplink_s1ap(0.4, S1_SETUP_REQUEST, 0)
    assert frames(core.pop_commands()) == []

    core.core_connected(0.5, MME_A)
    (reset,) = frames(core.pop_commands())
    assert reset.payload == ENB_LOST_RESET
    (setup,) = frames(complete(core, 0.6, reset, RESET_ACKNOWLEDGE))
    assert setup.payload == S1_SETUP_REQUEST
    assert old.request_id < reset.request_id < setup.request_id
    assert core.s1_setup_state is S1SetupState.PENDING, "the eNB's, not a restore"


def test_an_enb_that_never_set_up_s1_gets_no_reset():
    core, _ = make()
    send(core, 0.0, initial_ue(1))

    core.enb_disconnected(0.1)

    assert frames(core.pop_commands()) == []
    assert core.ue_id_for(1) is None


def test_a_second_disconnect_before_the_reset_went_out_sends_one_reset_and_nothing_stale():
    core, _ = make()
    set_up_s1(core, 0.0)
    core.core_disconnected(0.1, MME_A)
    core.enb_disconnected(0.2)
    core.uplink_s1ap(0.3, S1_SETUP_REQUEST, 0)  # the next association, gone again at once
    core.enb_disconnected(0.4)

    core.core_connected(0.5, MME_A)
    (reset,) = frames(core.pop_commands())
    assert reset.payload == ENB_LOST_RESET
    assert frames(complete(core, 0.6, reset, RESET_ACKNOWLEDGE)) == []


def test_timers_the_core_armed_outlive_the_enb_disconnect():
    core, _ = make()
    set_up_s1(core, 0.0)
    request = send(core, 0.0, initial_ue(1))
    core.frame_from_core(0.1, set_timer(request, timer_id=3, timer_ms=1000))
    complete(core, 0.1, request, downlink_nas(1, 77))

    core.enb_disconnected(0.2)
    (reset,) = frames(core.pop_commands())
    complete(core, 0.3, reset, RESET_ACKNOWLEDGE)
    core.handle_deadline(1.1)

    (fired,) = frames(core.pop_commands())
    assert (fired.kind, fired.ue_id, fired.timer_id) == (FrameKind.TIMER_FIRED, request.ue_id, 3)
    assert fired.request_id > reset.request_id


def test_a_full_reset_from_the_enb_releases_every_ue_and_goes_after_what_is_in_flight():
    core, _ = make()
    set_up_s1(core, 0.0)
    attach_ue(core, 0.1, enb_id=1, mme_id=77)
    busy = send(core, 0.2, initial_ue(2))

    core.uplink_s1ap(0.3, RESET_ALL, 0)

    assert frames(core.pop_commands()) == []
    assert core.ue_id_for(1) is None and core.ue_id_for(2) is None
    commands = complete(core, 0.4, busy, downlink_nas(2, 78))
    assert to_enb(commands) == [], "the eNB has released that connection"
    (reset,) = frames(commands)
    assert (reset.ue_id, reset.payload) == (ENB_UE_ID, RESET_ALL)
    assert to_enb(complete(core, 0.5, reset, RESET_ACKNOWLEDGE)) == [RESET_ACKNOWLEDGE]
    assert core.ue_ids() == {ENB_UE_ID}


def test_a_partial_reset_from_the_enb_releases_only_the_connections_it_names():
    core, _ = make()
    set_up_s1(core, 0.0)
    attach_ue(core, 0.1, enb_id=1, mme_id=77)
    attach_ue(core, 0.1, enb_id=2, mme_id=78)
    kept = attach_ue(core, 0.1, enb_id=3, mme_id=79)
    named = partial_reset(
        UeAssociatedConnection(enb_ue_s1ap_id=1),
        UeAssociatedConnection(mme_ue_s1ap_id=78),
        UeAssociatedConnection(12345, 999),  # a connection the agent does not know
    )

    reset = send(core, 0.2, named)

    assert (reset.ue_id, reset.payload) == (ENB_UE_ID, named), "nothing in flight: at once"
    assert core.ue_id_for(1) is None and core.ue_id_for(2) is None
    assert core.ue_id_for(3) == kept.ue_id
    assert send(core, 0.3, uplink_nas(3, 79)).ue_id == kept.ue_id


def test_a_reset_from_the_core_is_forwarded_and_releases_the_connections_it_names():
    core, _ = make()
    set_up_s1(core, 0.0)
    attach_ue(core, 0.1, enb_id=1, mme_id=77)
    busy = send(core, 0.2, uplink_nas(1, 77))
    kept = attach_ue(core, 0.2, enb_id=2, mme_id=78)
    named = partial_reset(UeAssociatedConnection(77, 1))

    core.frame_from_core(0.3, core_initiated(named))

    assert to_enb(core.pop_commands()) == [named]
    assert core.ue_id_for(1) is None and core.ue_id_for(2) == kept.ue_id
    assert to_enb(complete(core, 0.4, busy, downlink_nas(1, 77))) == [], "released: dropped"

    core.frame_from_core(0.5, core_initiated(RESET_ALL, request_id=901))
    assert to_enb(core.pop_commands()) == [RESET_ALL]
    assert core.ue_id_for(2) is None
    assert core.ue_ids() == {ENB_UE_ID}


def test_a_reset_whose_type_is_of_a_later_release_is_relayed_and_logged():
    frame = read_frame(RESET_ALL)
    ies = frame.ies()
    newer = write_frame(
        frame.pdu_type,
        frame.procedure_code,
        frame.criticality,
        [*ies[:-1], ies[-1]._replace(content=b"\x80\x00")],
    )
    core, _ = make()
    attach_ue(core, 0.0, enb_id=1, mme_id=77)

    core.uplink_s1ap(0.1, newer, 0)

    commands = core.pop_commands()
    assert [f.payload for f in frames(commands)] == [newer]
    assert "reset_scope_unreadable" in events(commands)
    assert core.ue_id_for(1) is not None, "the agent cannot tell which: it keeps them"


def test_a_reset_with_a_broken_connection_list_is_answered_with_an_error_indication():
    frame = read_frame(RESET_ALL)
    ies = frame.ies()
    broken = write_frame(
        frame.pdu_type,
        frame.procedure_code,
        frame.criticality,
        [*ies[:-1], ies[-1]._replace(content=b"\x40\x00\x00\x5b\x00\x04\x60")],
    )
    core, _ = make()

    core.uplink_s1ap(0.0, broken, 0)

    commands = core.pop_commands()
    (answer,) = [c for c in commands if isinstance(c, SendErrorIndicationToEnb)]
    assert answer.error.cause.value == ProtocolCause.TRANSFER_SYNTAX_ERROR
    assert answer.stream == 0
    assert events(commands) == ["uplink_undecodable"] and frames(commands) == []


# --- handover ----------------------------------------------------------------------------------


def test_a_ue_context_moves_between_agents_with_its_timers_and_request_ids():
    source, source_wall = make()
    request = attach_ue(source, 0.0, enb_id=1, mme_id=77)
    second = send(source, 1.0, uplink_nas(1, 77))
    source.frame_from_core(1.0, set_timer(second, timer_id=5, timer_ms=2500))
    source.frame_from_core(1.0, ack(second, 0))

    context = source.export_ue(2.0, request.ue_id)
    assert source.next_deadline() is None, "the timer moved with the context"
    assert context.mme_ue_s1ap_id == 77
    assert [(t.timer_id, t.remaining_ms) for t in context.timers] == [(5, 1500)]

    target, target_wall = make()
    target_wall.us = source_wall.us - 10_000_000  # its clock 10 s behind
    ue_id = target.import_ue(50.0, context)
    assert target.next_deadline() == 51.5

    path_switch = send(target, 50.2, uplink_nas(9, 77))  # unknown eNB ID, known MME ID
    assert path_switch.ue_id == ue_id
    assert path_switch.request_id > second.request_id
    assert target.ue_id_for(9) == ue_id


def test_exporting_an_unknown_ue_raises():
    core, _ = make()
    with pytest.raises(UnknownUe):
        core.export_ue(0.0, 12345)
    with pytest.raises(UnknownUe):
        core.export_ue(0.0, ENB_UE_ID)


# --- property: a lossy, reordering, duplicating core ------------------------------------------

UE_COUNT = 3
INITIAL_UE = [initial_ue(index + 1) for index in range(UE_COUNT)]
UPLINK_NAS = [uplink_nas(index + 1, 100 + index) for index in range(UE_COUNT)]


class MiniMme:
    """Algorithm 1 in miniature, for one shared store: a request older than the UE's last
    applied one is dropped; any other is (re)applied with the same answer, a function of its
    ID: 0-2 replies, and for uplinks with an odd ID a timer. Expiries get one reply."""

    def __init__(self) -> None:
        self.last_applied: dict[int, int] = {}
        self.applied: dict[int, set[int]] = defaultdict(set)
        self.replies_of: dict[tuple[int, int], int] = {}

    def handle(self, frame: Frame) -> list[Frame]:
        ue_id, request_id = frame.ue_id, frame.request_id
        if request_id < self.last_applied.get(ue_id, 0):
            return []
        self.last_applied[ue_id] = request_id
        count = 1 if frame.kind is FrameKind.TIMER_FIRED else request_id % 3
        if frame.kind is FrameKind.REQUEST:
            self.applied[ue_id].add(request_id)
        self.replies_of[ue_id, request_id] = count
        answers = [
            Frame(
                FrameKind.REPLY,
                ue_id,
                request_id,
                n,
                stream=STREAM,
                payload=b"%d:%d:%d" % (ue_id, request_id, n),
            )
            for n in range(count)
        ]
        if frame.kind is FrameKind.REQUEST and request_id % 2:
            answers.insert(
                0, Frame(FrameKind.SET_TIMER, ue_id, request_id, timer_id=1, timer_ms=700)
            )
        return [*answers, Frame(FrameKind.ACK, ue_id, request_id, count)]


ACTIONS = (
    ["uplink"] * 3
    + ["deliver"] * 8
    + ["duplicate"] * 2
    + ["drop", "advance", "advance", "to_deadline", "disconnect", "connect_a", "connect_b"]
)
"""Weighted so frames mostly flow: a reply needs the request and then the answer delivered."""

actions = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, 1000)), min_size=10, max_size=150
)


class Harness:
    def __init__(self) -> None:
        self.wall = WallClock()
        self.core = EntryPoint(wall_clock_us=self.wall, retransmit=POLICY, debug_events=True)
        self.mme = MiniMme()
        self.now = 0.0
        self.in_transit: list[tuple[str, Frame]] = []
        self.forwarded: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self.uplinks: dict[int, int] = defaultdict(int)
        self.ue_ids: dict[int, int] = {}

    def collect(self) -> None:
        for command in self.core.pop_commands():
            if isinstance(command, SendToCore):
                self.in_transit.append(("to_mme", command.frame))
            elif isinstance(command, SendToEnb):
                self.check_in_order(command.payload)

    def check_in_order(self, payload: bytes) -> None:
        ue_id, request_id, sequence = map(int, payload.split(b":"))
        seen = self.forwarded[ue_id]
        if seen and seen[-1][0] == request_id:
            assert sequence == seen[-1][1] + 1, f"out of order or twice: {seen[-1]} then {sequence}"
        else:
            assert sequence == 0, f"request {request_id} starts at {sequence}"
            assert not seen or request_id > seen[-1][0], "an older request's reply"
        seen.append((request_id, sequence))

    def deliver(self, index: int, *, keep: bool = False) -> None:
        direction, frame = self.in_transit[index] if keep else self.in_transit.pop(index)
        if direction == "to_mme":
            self.in_transit.extend(("to_agent", answer) for answer in self.mme.handle(frame))
        else:
            self.core.frame_from_core(self.now, frame)

    def step(self, action: str, argument) -> None:
        match action:
            case "uplink":
                self.uplink(argument % UE_COUNT)
            case "deliver" | "duplicate" | "drop" if self.in_transit:
                index = argument % len(self.in_transit)
                if action == "drop":
                    del self.in_transit[index]
                else:
                    self.deliver(index, keep=action == "duplicate")
            case "advance":
                self.advance(self.now + argument * 0.003)  # up to 3 s
            case "to_deadline" if self.core.next_deadline() is not None:
                self.advance(self.core.next_deadline())
            case "disconnect" if self.core.current_endpoint is not None:
                self.core.core_disconnected(self.now, self.core.current_endpoint)
            case "connect_a" | "connect_b":
                self.core.core_connected(self.now, MME_A if action == "connect_a" else MME_B)
        self.collect()

    def uplink(self, index: int) -> None:
        first = index not in self.ue_ids
        self.core.uplink_s1ap(self.now, INITIAL_UE[index] if first else UPLINK_NAS[index], 1)
        if first:
            self.ue_ids[index] = self.core.ue_id_for(index + 1)
        self.uplinks[self.ue_ids[index]] += 1

    def advance(self, to: float) -> None:
        self.now = to
        self.wall.us += 1000
        self.core.handle_deadline(self.now)

    def heal(self) -> None:
        """A reliable, in-order core from here on: everything must complete."""
        if self.core.current_endpoint is None:
            self.core.core_connected(self.now, MME_B)
        self.collect()
        for _ in range(10_000):
            if self.in_transit:
                self.deliver(0)
            elif (deadline := self.core.next_deadline()) is not None:
                self.advance(deadline)
            else:
                return
            self.collect()
        raise AssertionError("the entry point never settled")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_a_lossy_core_never_gets_replies_forwarded_twice_or_out_of_order(steps):
    harness = Harness()
    harness.core.core_connected(0.0, MME_A)
    for action, argument in steps:
        harness.step(action, argument)
    harness.heal()

    for ue_id, count in harness.uplinks.items():
        assert len(harness.mme.applied[ue_id]) == count, "every uplink became a request"
    for ue_id, seen in harness.forwarded.items():
        released: dict[int, list[int]] = defaultdict(list)
        for request_id, sequence in seen:
            released[request_id].append(sequence)
        for request_id, sequences in released.items():
            assert sequences == list(range(harness.mme.replies_of[ue_id, request_id]))
    for (ue_id, request_id), count in harness.mme.replies_of.items():
        assert len([s for r, s in harness.forwarded[ue_id] if r == request_id]) == count
