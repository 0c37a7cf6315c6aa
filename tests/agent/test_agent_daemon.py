"""The echo-agent daemon, as a process: `python -m echo_agent` with `s1.transport = "tcp"` on
loopback, a simulated eNB speaking the TCP transport's framing with S1AP built by
epc.codec.s1ap, and MME instances that are either real subprocesses (harness/scripted_mme.py,
killed with SIGKILL mid-request) or in-process `epc.agent_server.AgentServer`s whose handlers
the test scripts (answer, stay silent, send core-initiated messages).

What they prove: S1 Setup and UE signalling go through and back with their streams; a request
whose MME dies mid-request completes through another with every reply reaching the eNB once
and the S1 Setup restored behind the eNB's back; the pool moves between groups on connect
failures and on timeouts; core-initiated messages arrive over any connection; TLS with client
certificates; a silent MME is detected by PING; bad input from either side is one log line,
never a crash; and the process's start and stop contract (exit 2 for a bad config or no
kernel SCTP, SIGTERM exits 0 after ordered shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import sys

import pytest
from harness.agent_process import (
    REPO,
    S1_SETUP_REQUEST,
    TAI,
    AgentProcess,
    MmeProcess,
    TcpEnb,
    agent_config,
    downlink_nas,
    free_port,
    initial_ue,
    mme_answer,
    s1_setup_response,
    uplink_nas,
)
from harness.tls import make_pki

from echo_agent.wire import ErrorCode, Frame, FrameKind, FrameReader, encode
from epc.agent_server import AgentConnection, AgentServer
from epc.codec import s1ap
from epc.codec.s1ap_constants import (
    PROCEDURE_INITIAL_UE_MESSAGE,
    PROCEDURE_S1_SETUP,
    PROCEDURE_UPLINK_NAS_TRANSPORT,
)
from epc.codec.s1ap_messages import (
    Cause,
    CauseGroup,
    EnbConfigurationUpdate,
    EnbConfigurationUpdateAcknowledge,
    Paging,
    Reset,
    ResetAcknowledge,
)
from epc.sctp import kernel_has_sctp

pytestmark = [pytest.mark.agent, pytest.mark.e2e]

UE_STREAM = 3
IGNORE = "ignore"
"""In a scripted MME's script: take the request, never answer it."""
INITIAL_UE, UPLINK_NAS = PROCEDURE_INITIAL_UE_MESSAGE, PROCEDURE_UPLINK_NAS_TRANSPORT


# --- in-process MMEs --------------------------------------------------------------------------


class AnsweringMme:
    """An `AgentServer` that answers like a tiny MME: S1 Setup Request -> S1 Setup Response
    naming this instance; a UE message -> a Downlink NAS Transport echoing its NAS PDU, with
    MME-UE-S1AP-ID 100 + the eNB-UE-S1AP-ID; each followed by the ACK. `silent`: requests are
    taken and never answered. Every request is queued on `requests` as it arrives."""

    def __init__(
        self, name: str, *, silent: bool = False, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.name = name
        self.silent = silent
        self.requests: asyncio.Queue[Frame] = asyncio.Queue()
        self.server = AgentServer(self._handle, name=name, ssl_context=ssl_context)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    async def _handle(self, connection: AgentConnection, frame: Frame) -> None:
        self.requests.put_nowait(frame)
        if self.silent:
            return
        answer = mme_answer(frame.payload, self.name)
        await connection.reply(frame.ue_id, frame.request_id, 0, answer, stream=frame.stream)
        await connection.ack(frame.ue_id, frame.request_id, 1)

    async def next_request(self, timeout_s: float = 15.0) -> Frame:
        async with asyncio.timeout(timeout_s):
            return await self.requests.get()


@pytest.fixture
async def mmes():
    """`await mmes(name, **options)`: a started AnsweringMme, closed after the test."""
    started: list[AnsweringMme] = []

    async def start(name: str, **options) -> AnsweringMme:
        mme = AnsweringMme(name, **options)
        await mme.server.start()
        started.append(mme)
        return mme

    yield start
    for mme in started:
        await mme.server.close()


@pytest.fixture
async def agents(tmp_path):
    """`await agents(config_text)`: a started agent process, SIGKILLed after the test if the
    test left it running."""
    started: list[AgentProcess] = []

    async def start(config_text: str) -> AgentProcess:
        directory = tmp_path / f"agent{len(started)}"
        directory.mkdir()
        agent = await AgentProcess.start(config_text, directory)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        await agent.kill()


@pytest.fixture
async def enbs():
    """`await enbs(port)`: a simulated eNB connected to the agent's S1 port."""
    opened: list[TcpEnb] = []

    async def connect(port: int) -> TcpEnb:
        enb = await TcpEnb.connect(port)
        opened.append(enb)
        return enb

    yield connect
    for enb in opened:
        await enb.close()


async def set_up(enb: TcpEnb, mme_name: str) -> None:
    await enb.send(S1_SETUP_REQUEST, stream=0)
    payload, stream = await enb.receive()
    assert (payload, stream) == (s1_setup_response(mme_name), 0)


# --- relaying ---------------------------------------------------------------------------------


async def test_s1_setup_and_initial_ue_message_go_through_and_back(mmes, agents, enbs):
    mme = await mmes("mme-a")
    agent = await agents(agent_config([("dc1", [mme.endpoint])]))
    enb = await enbs(await agent.s1_port())

    await set_up(enb, "mme-a")
    setup = await mme.next_request()
    assert (setup.kind, setup.ue_id, setup.stream) == (FrameKind.REQUEST, 0, 0)
    assert setup.payload == S1_SETUP_REQUEST

    await enb.send(initial_ue(7, b"\x07\x41\x01"), stream=UE_STREAM)
    assert await enb.receive() == (downlink_nas(7, 107, b"\x07\x41\x01"), UE_STREAM)
    request = await mme.next_request()
    assert request.ue_id != 0 and request.request_id > setup.request_id

    # The MME-UE-S1AP-ID learnt from that downlink routes the UE's next uplink to its queue.
    await enb.send(uplink_nas(7, 107, b"\x07\x43"), stream=UE_STREAM)
    assert await enb.receive() == (downlink_nas(7, 107, b"\x07\x43"), UE_STREAM)
    follow_up = await mme.next_request()
    assert follow_up.ue_id == request.ue_id and follow_up.request_id > request.request_id


async def test_reset_and_enb_configuration_update_go_through_and_back_on_stream_0(
    mmes, agents, enbs
):
    mme = await mmes("mme-a")
    agent = await agents(agent_config([("dc1", [mme.endpoint])]))
    enb = await enbs(await agent.s1_port())
    await set_up(enb, "mme-a")

    update = s1ap.encode(EnbConfigurationUpdate("enb-019b", (), 64))
    await enb.send(update, stream=0)
    assert await enb.receive() == (s1ap.encode(EnbConfigurationUpdateAcknowledge()), 0)
    reset = s1ap.encode(Reset(Cause(CauseGroup.MISC, "om-intervention")))
    await enb.send(reset, stream=0)
    assert await enb.receive() == (s1ap.encode(ResetAcknowledge()), 0)
    frames = [await mme.next_request() for _ in range(3)]
    assert [frame.ue_id for frame in frames] == [0, 0, 0]  # the eNB's own queue, in order
    assert [frame.payload for frame in frames[1:]] == [update, reset]


async def test_an_enb_that_disconnects_has_its_ues_reset_at_the_core(mmes, agents, enbs):
    """The eNB's connection drops with a UE attached: the agent sends the MME a Reset ("reset
    all") for it, keeps the Reset Acknowledge to itself, and the next association starts
    afresh with its own S1 Setup, its UE a new one to the agent."""
    mme = await mmes("mme-a")
    agent = await agents(agent_config([("dc1", [mme.endpoint])]))
    port = await agent.s1_port()
    enb = await enbs(port)
    await set_up(enb, "mme-a")
    await enb.send(initial_ue(7), stream=UE_STREAM)
    assert await enb.receive() == (downlink_nas(7, 107, b"\x07\x41"), UE_STREAM)
    await mme.next_request()
    attach = await mme.next_request()

    await enb.close()
    reset = await mme.next_request()
    assert (reset.kind, reset.ue_id, reset.stream) == (FrameKind.REQUEST, 0, 0)
    assert s1ap.decode(reset.payload) == Reset(Cause(CauseGroup.TRANSPORT, "unspecified"))
    assert reset.request_id > attach.request_id
    await agent.wait_for("enb_lost", reset_queued=True)

    again = await enbs(port)
    await set_up(again, "mme-a")  # first thing it hears: no Reset Acknowledge
    assert (await mme.next_request()).payload == S1_SETUP_REQUEST
    await again.send(initial_ue(7), stream=UE_STREAM)
    assert await again.receive() == (downlink_nas(7, 107, b"\x07\x41"), UE_STREAM)
    assert (await mme.next_request()).ue_id not in (0, attach.ue_id)


async def test_the_agent_serves_one_enb_and_refuses_a_second(mmes, agents, enbs):
    mme = await mmes("mme-a")
    agent = await agents(agent_config([("dc1", [mme.endpoint])]))
    port = await agent.s1_port()
    first = await enbs(port)
    await set_up(first, "mme-a")

    second = await enbs(port)
    assert await second.closed_by_agent()
    await agent.wait_for("second eNB refused: an agent serves one eNB")

    await first.send(initial_ue(1), stream=1)
    assert await first.receive() == (downlink_nas(1, 101, b"\x07\x41"), 1)


async def test_requests_wait_for_the_core_and_go_out_once_an_mme_answers(agents, enbs, mmes):
    port = free_port()
    agent = await agents(agent_config([("dc1", [f"127.0.0.1:{port}"])]))
    enb = await enbs(await agent.s1_port())
    await agent.wait_for("ready")
    await enb.send(S1_SETUP_REQUEST)
    await agent.wait_for("core connect failed", count=2)

    mme = AnsweringMme("late")
    await mme.server.start(port=port)
    try:
        assert await enb.receive() == (s1_setup_response("late"), 0)
    finally:
        await mme.server.close()


# --- failover ---------------------------------------------------------------------------------


@pytest.mark.fault
async def test_mme_killed_mid_request_the_other_completes_it_and_the_enb_sees_each_reply_once(
    tmp_path, agents, enbs
):
    """Two scripted MME processes in one group. The serving one takes the Initial UE Message
    and is SIGKILLed before it answers. The agent moves to the other, restores the eNB's S1
    Setup there itself, resends the request with its ID, and the eNB gets the Downlink NAS
    once and never a second S1 Setup Response; the next request goes through as usual."""
    answer, follow_up = downlink_nas(9, 109, b"\x07\x42"), downlink_nas(9, 109, b"\x07\x44")
    standby_port = free_port()
    serving = await MmeProcess.start(
        "mme-serving",
        {PROCEDURE_S1_SETUP: [s1_setup_response("mme-serving")], INITIAL_UE: IGNORE},
        tmp_path,
    )
    agent = await agents(agent_config([("dc1", [serving.endpoint, f"127.0.0.1:{standby_port}"])]))
    enb = await enbs(await agent.s1_port())
    await agent.wait_for("core_endpoint", new=serving.endpoint)
    standby = await MmeProcess.start(
        "mme-standby",
        {
            PROCEDURE_S1_SETUP: [s1_setup_response("mme-standby")],
            INITIAL_UE: [answer],
            UPLINK_NAS: [follow_up],
        },
        tmp_path,
        port=standby_port,
    )
    try:
        await agent.wait_for("core connected", endpoint=standby.endpoint)
        await set_up(enb, "mme-serving")
        assert (await serving.next_request())[0] == 0

        await enb.send(initial_ue(9), stream=UE_STREAM)
        ue_id, request_id, ignored = await serving.next_request()
        assert ignored
        await serving.kill()

        assert await enb.receive() == (answer, UE_STREAM)
        restore = await standby.next_request()
        assert restore[0] == 0  # the eNB's queue: the S1 Setup replayed by the agent
        assert (await standby.next_request())[:2] == (ue_id, request_id)
        await agent.wait_for("s1_setup_restored", endpoint=standby.endpoint)

        # Nothing else was queued for the eNB: the next message it gets answers the next
        # request (a duplicate downlink or a second S1 Setup Response would come first).
        await enb.send(uplink_nas(9, 109, b"\x07\x43"), stream=UE_STREAM)
        assert await enb.receive() == (follow_up, UE_STREAM)
        assert not agent.matching("eNB detached")
    finally:
        await serving.kill()
        await standby.kill()


@pytest.mark.fault
async def test_an_mme_crash_with_no_other_live_in_the_group_moves_to_the_next_group(
    tmp_path, agents, enbs
):
    """The only instance of the primary group dies mid-request: reconnecting fails, so the
    pool moves to the backup group, where the request completes."""
    answer = downlink_nas(4, 104, b"\x07\x42")
    primary = await MmeProcess.start(
        "mme-primary",
        {PROCEDURE_S1_SETUP: [s1_setup_response("mme-primary")], INITIAL_UE: IGNORE},
        tmp_path,
    )
    backup = await MmeProcess.start(
        "mme-backup",
        {PROCEDURE_S1_SETUP: [s1_setup_response("mme-backup")], INITIAL_UE: [answer]},
        tmp_path,
    )
    try:
        agent = await agents(
            agent_config([("primary", [primary.endpoint]), ("backup", [backup.endpoint])])
        )
        enb = await enbs(await agent.s1_port())
        await set_up(enb, "mme-primary")
        await enb.send(initial_ue(4), stream=1)
        await primary.next_request()
        ue_id, request_id, _ = await primary.next_request()
        await primary.kill()

        assert await enb.receive() == (answer, 1)
        assert (await agent.wait_for("core group", new="backup"))["old"] == "primary"
        assert (await backup.next_request())[0] == 0
        assert (await backup.next_request())[:2] == (ue_id, request_id)
    finally:
        await primary.kill()
        await backup.kill()


async def test_a_group_whose_endpoints_all_refuse_is_left_for_the_next(mmes, agents, enbs):
    backup = await mmes("mme-backup")
    dead = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    agent = await agents(agent_config([("primary", dead), ("backup", [backup.endpoint])]))
    enb = await enbs(await agent.s1_port())

    await set_up(enb, "mme-backup")
    moved = await agent.wait_for("core group", new="backup")
    assert moved["old"] == "primary"
    assert "failed to connect" in moved["reason"]


async def test_timeouts_at_a_live_but_silent_mme_move_requests_to_the_next_group(
    mmes, agents, enbs
):
    stuck = await mmes("mme-stuck", silent=True)
    healthy = await mmes("mme-healthy")
    agent = await agents(
        agent_config(
            [("primary", [stuck.endpoint]), ("backup", [healthy.endpoint])],
            core={"switch_after_timeouts": 2},
            retransmit={"initial_timeout_s": 0.1, "max_timeout_s": 0.2},
        )
    )
    enb = await enbs(await agent.s1_port())

    await enb.send(S1_SETUP_REQUEST)
    first, again = await stuck.next_request(), await stuck.next_request()
    assert first.request_id == again.request_id  # a retransmission, same ID

    assert await enb.receive() == (s1_setup_response("mme-healthy"), 0)
    moved = await agent.wait_for("core group", new="backup")
    assert "timeouts" in moved["reason"]
    resent = await healthy.next_request()
    assert resent.request_id == first.request_id


async def test_core_initiated_messages_arrive_over_any_connection(mmes, agents, enbs):
    one, two = await mmes("mme-1"), await mmes("mme-2")
    agent = await agents(agent_config([("dc1", [one.endpoint, two.endpoint])]))
    enb = await enbs(await agent.s1_port())
    await agent.wait_for("core connected", count=2)
    current = (await agent.wait_for("core_endpoint", reason="connected"))["new"]
    other = two if current == one.endpoint else one

    paging = s1ap.encode(Paging(5, "001010000000001", "ps", (TAI,)))
    connection = other.server.connection_for("enb-test")
    assert connection is not None
    await connection.core_initiated(0, 42, 0, paging, stream=0)
    assert await enb.receive() == (paging, 0)
    # A copy (the core retrying its procedure) is dropped; the next message still comes.
    await connection.core_initiated(0, 42, 0, paging, stream=0)
    second = s1ap.encode(Paging(6, "001010000000002", "ps", (TAI,)))
    await connection.core_initiated(0, 43, 0, second, stream=1)
    assert await enb.receive() == (second, 1)


async def test_a_core_initiated_message_right_behind_the_hello_is_not_lost(agents, enbs):
    """The MME's HELLO and a paging in one TCP segment: the connection counts as up from the
    HELLO on, so the paging reaches the eNB."""
    paging = s1ap.encode(Paging(7, "001010000000007", "ps", (TAI,)))
    greeting = encode(Frame(FrameKind.HELLO, payload=b"eager")) + encode(
        Frame(FrameKind.CORE_INITIATED, request_id=77, payload=paging)
    )

    async def eager(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # the agent's HELLO
        writer.write(greeting)
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass

    port = free_port()
    agent = await agents(agent_config([("dc1", [f"127.0.0.1:{port}"])]))
    enb = await enbs(await agent.s1_port())
    await agent.wait_for("eNB attached")
    server = await asyncio.start_server(eager, "127.0.0.1", port)
    async with server:
        assert await enb.receive() == (paging, 0)
        await agent.kill()


async def test_tls_with_a_client_certificate_and_without_one_refused(tmp_path, mmes, agents, enbs):
    """The MME requires a client certificate signed by its CA: the agent that presents one is
    served; one without is refused in the handshake and keeps retrying, logging each."""
    pki = make_pki(tmp_path)
    mme = await mmes("mme-tls", ssl_context=pki.server_context())
    tls = {"enabled": True, "ca": str(pki.ca_certificate)}
    certificate = {"certificate": str(pki.client_certificate), "key": str(pki.client_key)}
    agent = await agents(agent_config([("dc1", [mme.endpoint])], tls=tls | certificate))
    enb = await enbs(await agent.s1_port())

    await set_up(enb, "mme-tls")
    assert (await agent.wait_for("core connected"))["tls"] is True

    anonymous = await agents(agent_config([("dc1", [mme.endpoint])], tls=tls, identity="anon"))
    await anonymous.wait_for("core connect failed", count=2)
    assert not anonymous.matching("core connected")


async def test_an_mme_that_stops_answering_ping_is_dropped_and_reconnected(agents):
    """A host that dies sends no FIN: the agent finds out by PING."""
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer HELLO, then read everything and answer nothing."""
        frames = FrameReader()
        hello = False
        while not hello:
            data = await reader.read(65536)
            if not data:
                return
            hello = any(frame.kind == FrameKind.HELLO for frame in frames.feed(data))
        writer.write(encode(Frame(FrameKind.HELLO, payload=b"mute")))
        accepted.put_nowait((reader, writer))
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        agent = await agents(
            agent_config(
                [("dc1", [f"127.0.0.1:{port}"])],
                core={"ping_interval_s": 0.1, "ping_timeout_s": 0.3},
            )
        )
        await agent.wait_for("core endpoint silent")
        await agent.wait_for("core connection lost")
        await agent.wait_for("core connected", count=2)
        while not accepted.empty():
            _, writer = accepted.get_nowait()
            writer.close()


# --- bad input ----------------------------------------------------------------------------------


async def test_bad_frames_from_the_core_are_answered_logged_and_survived(agents):
    """An unknown kind: ERROR(UNKNOWN_KIND) back, one log line, the connection stays. Bytes
    that are not ECHO: ERROR(BAD_MAGIC) back, one log line, closed; the agent reconnects."""
    errors: asyncio.Queue[int] = asyncio.Queue()
    modes = ["unknown kind", "garbage"]

    async def rogue(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = modes.pop(0) if modes else "quiet"
        writer.write(encode(Frame(FrameKind.HELLO, payload=b"rogue")))
        if mode == "unknown kind":
            unknown = bytearray(encode(Frame(FrameKind.PONG)))
            unknown[3] = 200
            writer.write(bytes(unknown))
        elif mode == "garbage":
            writer.write(b"GET / HTTP/1.1\r\n\r\n")
        frames = FrameReader()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                for frame in frames.feed(data):
                    if frame.kind == FrameKind.ERROR:
                        errors.put_nowait(frame.sequence)
                if mode == "unknown kind" and errors.qsize():
                    break  # the agent kept the connection; close it to see the next mode
        writer.close()

    server = await asyncio.start_server(rogue, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        agent = await agents(agent_config([("dc1", [f"127.0.0.1:{port}"])]))
        await agent.wait_for("bad frame from core skipped", code="UNKNOWN_KIND")
        assert await asyncio.wait_for(errors.get(), 15) == ErrorCode.UNKNOWN_KIND
        await agent.wait_for("bad frame from core, closing", code="BAD_MAGIC")
        assert await asyncio.wait_for(errors.get(), 15) == ErrorCode.BAD_MAGIC
        await agent.wait_for("core connected", count=3)
        assert agent.process.returncode is None


async def test_bad_enb_input_is_one_log_line_and_never_a_crash(mmes, agents, enbs):
    mme = await mmes("mme-a")
    agent = await agents(agent_config([("dc1", [mme.endpoint])]))
    port = await agent.s1_port()
    enb = await enbs(port)
    await set_up(enb, "mme-a")

    # Not S1AP: the entry point answers with an Error Indication on stream 0.
    await enb.send(b"\xff\xff\xff", stream=1)
    indication, stream = await enb.receive()
    assert stream == 0 and s1ap.peek(indication).procedure_code == 15
    await agent.wait_for("uplink_undecodable")
    # An empty message is skipped; the connection stays.
    await enb.send(b"", stream=1)
    await agent.wait_for("bad eNB frame skipped")
    await enb.send(initial_ue(2), stream=1)
    assert await enb.receive() == (downlink_nas(2, 102, b"\x07\x41"), 1)
    # A length past the limit loses the framing: logged, connection closed.
    await enb.send_bytes(b"\x7f\xff\xff\xff\x00\x01")
    assert await enb.closed_by_agent()
    await agent.wait_for("bad eNB frame, closing")

    again = await enbs(port)
    await set_up(again, "mme-a")
    assert agent.process.returncode is None


# --- start and stop -----------------------------------------------------------------------------


async def test_sigterm_closes_the_enb_side_then_the_core_and_exits_0(mmes, agents, enbs):
    mme = await mmes("mme-a")
    agent = await agents(agent_config([("dc1", [mme.endpoint])]))
    enb = await enbs(await agent.s1_port())
    await set_up(enb, "mme-a")

    assert await agent.terminate() == 0
    phases = [line["phase"] for line in agent.matching("shutdown phase")]
    assert phases == ["stop accepting", "drain"]
    assert await enb.closed_by_agent()
    order = [line["event"] for line in agent.events]
    assert order.index("s1 closed") < order.index("core connections closed")
    assert order[-1] == "stopped"


async def test_a_bad_config_exits_2_naming_the_key(agents):
    agent = await agents(
        agent_config([("dc1", ["127.0.0.1:1"])], core={"switch_after_timeouts": 0})
    )
    assert await agent.wait() == 2
    assert agent.raw_stderr[-1].endswith(
        "core.switch_after_timeouts: expected an integer >= 1, got 0"
    )


async def test_a_bad_endpoint_exits_2_naming_the_group(agents):
    agent = await agents(agent_config([("dc1", ["127.0.0.1:99999"])]))
    assert await agent.wait() == 2
    assert (
        "core.groups[0]: endpoint '127.0.0.1:99999': port must be 1..65535"
        in (agent.raw_stderr[-1])
    )


@pytest.mark.skipif(kernel_has_sctp(), reason="this kernel has SCTP")
async def test_sctp_asked_for_without_kernel_sctp_exits_2_saying_modprobe(agents):
    agent = await agents(agent_config([("dc1", ["127.0.0.1:1"])], transport="sctp"))
    assert await agent.wait() == 2
    message = agent.raw_stderr[-1]
    assert "this kernel has no SCTP" in message and "modprobe sctp" in message
    assert not agent.matching("ready")


async def test_unreadable_tls_files_exit_2_naming_the_key(tmp_path, agents):
    tls = {"enabled": True, "certificate": str(tmp_path / "missing.pem"), "key": "k.pem"}
    agent = await agents(agent_config([("dc1", ["127.0.0.1:1"])], tls=tls))
    assert await agent.wait() == 2
    assert agent.raw_stderr[-1].startswith("core.tls.certificate: cannot load")


def test_importing_the_agent_daemon_loads_no_pycrate():
    """pycrate's S1AP tables cost some 19 MB: the agent loads them only to encode an Error
    Indication for bad input."""
    code = (
        "import sys, echo_agent.__main__, echo_agent.daemon; "
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('pycrate')}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_shipped_config_is_valid():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "echo_agent",
            "--config",
            "configs/echo-agent.toml",
            "--check-config",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
