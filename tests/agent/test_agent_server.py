"""The MME side of the agent protocol, over real TCP on loopback: HELLO, requests to the
handler and its answers back, per-UE order with concurrency across UEs, timers, core-initiated
messages by eNB identity, PING, TLS with client certificates, and bad frames answered per the
wire's error rule without disturbing other connections."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from harness.tls import make_pki
from harness.wire_client import WireClient
from structlog.testing import capture_logs

from echo_agent.wire import HEADER, MAGIC, VERSION, ErrorCode, Frame, FrameKind, encode
from epc.agent_server import AgentConnection, AgentServer

pytestmark = pytest.mark.agent

NAS = bytes.fromhex("000d40370000050000000200010008000200010017")


def request(ue_id: int, request_id: int, payload: bytes = NAS) -> Frame:
    return Frame(FrameKind.REQUEST, ue_id=ue_id, request_id=request_id, payload=payload)


async def echo(connection: AgentConnection, frame: Frame) -> None:
    """Answer a request with its own payload as the one reply, then ACK."""
    await connection.reply(frame.ue_id, frame.request_id, 0, frame.payload, stream=frame.stream)
    await connection.ack(frame.ue_id, frame.request_id, 1)


@pytest.fixture
async def serve():
    """`await serve(handler, **options)`: a started AgentServer, closed after the test."""
    servers: list[AgentServer] = []

    async def start(handler=echo, **options) -> AgentServer:
        server = AgentServer(handler, name="mme-test", **options)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def clients():
    """`await clients(port, enb)`: a greeted WireClient, closed after the test."""
    opened: list[WireClient] = []

    async def connect(port: int, enb: str = "enb-1", **options) -> WireClient:
        client = await WireClient.greeted(port, enb, **options)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        await client.close()


async def test_hello_is_answered_with_the_instance_name_and_tracked_by_enb(serve) -> None:
    server = await serve()
    client = await WireClient.connect(server.port)
    await client.send(Frame(FrameKind.HELLO, payload=b"enb-00101-1a2b3"))
    assert await client.receive() == Frame(FrameKind.HELLO, payload=b"mme-test")
    connection = server.connection_for("enb-00101-1a2b3")
    assert connection is not None and connection.enb == "enb-00101-1a2b3"
    await client.close()


async def test_a_request_reaches_the_handler_and_its_replies_and_ack_reach_the_agent(
    serve, clients
) -> None:
    seen = []

    async def handle(connection: AgentConnection, frame: Frame) -> None:
        seen.append((connection.enb, frame))
        await connection.reply(frame.ue_id, frame.request_id, 0, b"first", stream=1)
        await connection.reply(frame.ue_id, frame.request_id, 1, b"second", stream=1)
        await connection.ack(frame.ue_id, frame.request_id, 2)

    server = await serve(handle)
    client = await clients(server.port, "enb-7")
    await client.send(Frame(FrameKind.REQUEST, ue_id=3, request_id=100, stream=1, payload=NAS))
    assert [await client.receive() for _ in range(3)] == [
        Frame(FrameKind.REPLY, ue_id=3, request_id=100, sequence=0, stream=1, payload=b"first"),
        Frame(FrameKind.REPLY, ue_id=3, request_id=100, sequence=1, stream=1, payload=b"second"),
        Frame(FrameKind.ACK, ue_id=3, request_id=100, sequence=2),
    ]
    assert seen == [
        ("enb-7", Frame(FrameKind.REQUEST, ue_id=3, request_id=100, stream=1, payload=NAS))
    ]


async def test_one_ues_requests_run_in_arrival_order_while_other_ues_run_concurrently(
    serve, clients
) -> None:
    release_first = asyncio.Event()
    events = []

    async def handle(connection: AgentConnection, frame: Frame) -> None:
        events.append(("start", frame.ue_id, frame.request_id))
        if (frame.ue_id, frame.request_id) == (1, 10):
            await release_first.wait()
        events.append(("end", frame.ue_id, frame.request_id))
        await connection.ack(frame.ue_id, frame.request_id, 0)

    server = await serve(handle)
    client = await clients(server.port)
    await client.send(request(1, 10), request(1, 11), request(2, 20))
    # UE 2 completes while UE 1's first request is still running...
    assert await client.receive() == Frame(FrameKind.ACK, ue_id=2, request_id=20)
    assert ("start", 1, 11) not in events
    release_first.set()
    # ...and UE 1's second request starts only after its first has ended.
    assert [await client.receive() for _ in range(2)] == [
        Frame(FrameKind.ACK, ue_id=1, request_id=10),
        Frame(FrameKind.ACK, ue_id=1, request_id=11),
    ]
    ue_1 = [event for event in events if event[1] == 1]
    assert ue_1 == [("start", 1, 10), ("end", 1, 10), ("start", 1, 11), ("end", 1, 11)]


async def test_timer_frames_go_out_and_a_fired_timer_comes_back_to_the_handler(
    serve, clients
) -> None:
    async def handle(connection: AgentConnection, frame: Frame) -> None:
        if frame.kind == FrameKind.REQUEST:
            await connection.set_timer(frame.ue_id, frame.request_id, timer_id=3450, timer_ms=6000)
        else:
            await connection.cancel_timer(frame.ue_id, frame.request_id, timer_id=3413)
        await connection.ack(frame.ue_id, frame.request_id, 0)

    server = await serve(handle)
    client = await clients(server.port)
    await client.send(request(5, 1))
    assert await client.receive() == Frame(
        FrameKind.SET_TIMER, ue_id=5, request_id=1, timer_id=3450, timer_ms=6000
    )
    assert await client.receive() == Frame(FrameKind.ACK, ue_id=5, request_id=1)
    await client.send(Frame(FrameKind.TIMER_FIRED, ue_id=5, request_id=2, timer_id=3450))
    assert await client.receive() == Frame(
        FrameKind.CANCEL_TIMER, ue_id=5, request_id=2, timer_id=3413
    )
    assert await client.receive() == Frame(FrameKind.ACK, ue_id=5, request_id=2)


async def test_a_core_initiated_message_reaches_an_agent_of_the_named_enb(serve, clients) -> None:
    server = await serve()
    agent_a = await clients(server.port, "enb-a")
    agent_b = await clients(server.port, "enb-b")
    connection = server.connection_for("enb-b")
    assert connection is not None
    assert await connection.core_initiated(0, 77, 0, b"paging")
    paging = Frame(FrameKind.CORE_INITIATED, request_id=77, payload=b"paging")
    assert await agent_b.receive() == paging
    assert await server.send_to_enb("enb-a", paging)
    assert await agent_a.receive() == paging
    assert not await server.send_to_enb("enb-unknown", paging)
    assert {connection.enb for connection in server.connections()} == {"enb-a", "enb-b"}


async def test_a_ping_is_answered_with_a_pong_echoing_its_request_id(serve, clients) -> None:
    server = await serve()
    client = await clients(server.port)
    await client.send(Frame(FrameKind.PING, request_id=42))
    assert await client.receive() == Frame(FrameKind.PONG, request_id=42)


async def test_garbage_gets_error_and_close_while_other_connections_keep_serving(
    serve, clients
) -> None:
    server = await serve()
    good = await clients(server.port)
    bad = await WireClient.connect(server.port)
    with capture_logs() as logs:
        await bad.send_bytes(b"GET / HTTP/1.1\r\nHost: mme\r\n\r\n")
        [answer] = await bad.receive_until_closed()
    assert (answer.kind, answer.sequence) == (FrameKind.ERROR, ErrorCode.BAD_MAGIC)
    assert [log["code"] for log in logs if "bad frame" in log["event"]] == ["BAD_MAGIC"]
    await good.send(request(1, 1))
    assert (await good.receive()).kind == FrameKind.REPLY
    await bad.close()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (HEADER.pack(MAGIC, VERSION + 1, 2, 0, 0, 0, 0, 0, 0, 0), ErrorCode.UNSUPPORTED_VERSION),
        (HEADER.pack(MAGIC, VERSION, 2, 2**31, 0, 0, 0, 0, 0, 0), ErrorCode.OVERSIZED),
    ],
    ids=["bad version", "oversized"],
)
async def test_a_broken_stream_after_hello_is_answered_and_closed(
    serve, clients, data, code
) -> None:
    server = await serve()
    client = await clients(server.port)
    await client.send_bytes(data)
    [answer] = await client.receive_until_closed()
    assert (answer.kind, answer.sequence) == (FrameKind.ERROR, code)
    assert server.connection_for("enb-1") is None


async def test_an_unknown_kind_and_a_kind_not_for_the_mme_are_answered_and_skipped(
    serve, clients
) -> None:
    server = await serve()
    client = await clients(server.port)
    with capture_logs() as logs:
        await client.send_bytes(HEADER.pack(MAGIC, VERSION, 99, 3, 1, 2, 0, 0, 0, 0) + b"abc")
        await client.send(Frame(FrameKind.ACK, ue_id=1, request_id=2), request(1, 3))
        unknown, unexpected, reply = [await client.receive() for _ in range(3)]
    assert (unknown.kind, unknown.sequence) == (FrameKind.ERROR, ErrorCode.UNKNOWN_KIND)
    assert (unexpected.kind, unexpected.sequence) == (FrameKind.ERROR, ErrorCode.UNEXPECTED_KIND)
    assert (reply.kind, reply.request_id) == (FrameKind.REPLY, 3)
    assert len([log for log in logs if "bad frame" in log["event"]]) == 2


async def test_anything_before_hello_is_refused(serve) -> None:
    server = await serve()
    client = await WireClient.connect(server.port)
    await client.send(request(1, 1))
    [answer] = await client.receive_until_closed()
    assert (answer.kind, answer.sequence) == (FrameKind.ERROR, ErrorCode.UNEXPECTED_KIND)
    await client.close()


@pytest.mark.parametrize("identity", [b"", b"\xff\xfe", b"enb\n1", b"x" * 256])
async def test_a_hello_without_a_usable_enb_identity_is_refused(serve, identity) -> None:
    server = await serve()
    client = await WireClient.connect(server.port)
    await client.send(Frame(FrameKind.HELLO, payload=identity))
    [answer] = await client.receive_until_closed()
    assert (answer.kind, answer.sequence) == (FrameKind.ERROR, ErrorCode.BAD_HELLO)
    assert server.connections() == []
    await client.close()


async def test_a_peer_that_never_says_hello_is_closed(serve) -> None:
    server = await serve(hello_timeout_s=0.05)
    client = await WireClient.connect(server.port)
    assert await client.receive_until_closed() == []
    await client.close()


async def test_a_stream_ending_inside_a_frame_is_logged_once(serve, clients) -> None:
    server = await serve()
    client = await clients(server.port)
    with capture_logs() as logs:
        await client.send_bytes(encode(request(1, 1))[:-2])
        client._writer.write_eof()
        assert await client.receive_until_closed() == []
    assert [log["code"] for log in logs if "bad frame" in log["event"]] == ["TRUNCATED"]


async def test_a_handler_that_raises_is_logged_and_the_next_request_is_served(
    serve, clients
) -> None:
    async def handle(connection: AgentConnection, frame: Frame) -> None:
        if frame.request_id == 1:
            raise RuntimeError("bug in the MME")
        await echo(connection, frame)

    server = await serve(handle)
    client = await clients(server.port)
    with capture_logs() as logs:
        await client.send(request(1, 1), request(1, 2))
        assert (await client.receive()).request_id == 2
    assert [log["event"] for log in logs if log["log_level"] == "error"] == [
        "agent request handler failed"
    ]


async def test_at_most_max_pending_frames_wait_or_run_per_connection(serve, clients) -> None:
    two_started, release = asyncio.Event(), asyncio.Event()
    started = []

    async def handle(connection: AgentConnection, frame: Frame) -> None:
        started.append(frame.ue_id)
        if len(started) == 2:
            two_started.set()
        await release.wait()
        await connection.ack(frame.ue_id, frame.request_id, 0)

    server = await serve(handle, max_pending=2)
    client = await clients(server.port)
    await client.send(*(request(ue_id, 1) for ue_id in range(5)), Frame(FrameKind.PING))
    await two_started.wait()
    assert started == [0, 1]
    release.set()
    answers = [await client.receive() for _ in range(6)]
    # Reading stopped while two frames were pending, so the PING behind the five requests was
    # read only once UE 4's request had a place: after the ACKs of UEs 0, 1 and 2 or 3.
    assert answers.index(Frame(FrameKind.PONG)) >= 3
    acknowledged = sorted(frame.ue_id for frame in answers if frame.kind == FrameKind.ACK)
    assert acknowledged == [0, 1, 2, 3, 4]


async def test_close_lets_running_handlers_finish_then_closes_the_connections(
    serve, clients
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def handle(connection: AgentConnection, frame: Frame) -> None:
        started.set()
        await release.wait()
        await echo(connection, frame)

    server = await serve(handle)
    port = server.port
    client = await clients(port)
    await client.send(request(1, 1))
    await started.wait()
    closing = asyncio.create_task(server.close())
    release.set()
    await closing
    frames = await client.receive_until_closed()
    assert [frame.kind for frame in frames] == [FrameKind.REPLY, FrameKind.ACK]
    assert server.connections() == []
    with pytest.raises(OSError):
        await WireClient.connect(port)


async def test_tls_with_a_client_certificate_serves_and_without_one_is_refused(
    serve, clients, tmp_path
) -> None:
    pki = make_pki(tmp_path)
    server = await serve(ssl_context=pki.server_context())
    client = await clients(server.port, ssl_context=pki.client_context())
    await client.send(request(1, 1))
    assert (await client.receive()).kind == FrameKind.REPLY
    assert server.connection_for("enb-1") is not None
    with pytest.raises((ssl.SSLError, ConnectionError, EOFError)):
        await say_hello(server.port, "enb-2", pki.client_context(with_certificate=False))
    assert server.connection_for("enb-2") is None


async def say_hello(port: int, enb: str, ssl_context: ssl.SSLContext) -> Frame:
    """The answer to a HELLO on a fresh connection; the connection is closed either way."""
    client = await WireClient.connect(port, ssl_context=ssl_context)
    try:
        await client.send(Frame(FrameKind.HELLO, payload=enb.encode()))
        return await client.receive()
    finally:
        await client.close()
