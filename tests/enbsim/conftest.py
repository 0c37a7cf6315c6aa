"""Fixtures that put enbsim in front of a test MME (harness/nas_mme.py): through the real
echo-agent process over TCP (`through_agent`, the e2e path), or straight on the eNB's TCP
framing (`direct`, no agent: fast tests of the runtime). Both yield a started `Core`: the
NasMme (to arm faults and read what it saw), its front end, and one connected
`SimulatedEnb` holding every subscriber of `SUBSCRIBERS` as a UE (`direct(record=True)`: on
a `RecordingLink`). Options go to NasMme (`subscribers=` gives the MME other records than
the UEs' cards, e.g. another SQN)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from harness.agent_process import AgentProcess, agent_config
from harness.nas_mme import AgentMme, DirectMme, NasMme

from enbsim import s1_connection
from enbsim.enb import EnbConfig
from enbsim.s1_connection import S1Link
from enbsim.simulator import ProcedureResult, SimulatedEnb, Simulator, UserPlaneSettings
from epc.codec.s1ap_messages import PlmnIdentity
from epc.subscriber import Subscriber

K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
"""TS 35.208 test set 1 (the project's security tests check Milenage against it)."""
SQN = 0x40
SUBSCRIBERS = tuple(
    Subscriber(imsi=f"0010100000{number:05d}", k=K, opc=OPC, sqn=SQN) for number in range(1, 9)
)
IMSI = SUBSCRIBERS[0].imsi
PLMN = PlmnIdentity("001", "01")
ENB = EnbConfig("enb-test", PLMN, 0x19B, tacs=(1, 2))
AGENT_IDENTITY = "enb-test"


class RecordingLink:
    """An S1 link that keeps a copy of every PDU sent through it, with its stream."""

    def __init__(self, link: S1Link) -> None:
        self._link = link
        self.peer = link.peer
        self.outbound_streams = link.outbound_streams
        self.sent: list[tuple[bytes, int]] = []

    async def send(self, pdu: bytes, stream: int) -> None:
        self.sent.append((pdu, stream))
        await self._link.send(pdu, stream)

    async def receive(self) -> tuple[bytes, int]:
        return await self._link.receive()

    async def close(self) -> None:
        await self._link.close()


@dataclass
class Core:
    mme: NasMme
    front: AgentMme | DirectMme
    enb: SimulatedEnb
    agent: AgentProcess | None = None
    link: RecordingLink | None = None

    async def attached(self, imsi: str = IMSI) -> ProcedureResult:
        result = await self.enb.attach(imsi)
        assert result.ok, result.reason
        return result

    async def page(self, imsi: str) -> None:
        assert await self.front.page(imsi)


CoreFactory = Callable[..., Awaitable[Core]]


@pytest.fixture
async def through_agent(tmp_path) -> AsyncIterator[CoreFactory]:
    """`await through_agent(**nas_mme_options)`: enbsim -> echo-agent process -> NasMme;
    `transport="sctp"` for kernel SCTP between enbsim and the agent (the VM tier)."""
    cleanups: list[Callable[[], Awaitable[Any]]] = []

    async def start(*, enb: EnbConfig = ENB, transport: str = "tcp", **options: Any) -> Core:
        mme = NasMme(options.pop("subscribers", SUBSCRIBERS), **options)
        front = await AgentMme(mme).start()
        cleanups.append(front.close)
        text = agent_config(
            [("dc1", [front.endpoint])], identity=AGENT_IDENTITY, transport=transport
        )
        agent = await AgentProcess.start(text, tmp_path)
        cleanups.append(agent.kill)
        port = await agent.s1_port()
        core_enb = await _connected_enb(cleanups, enb, port, transport=transport)
        return Core(mme, front, core_enb, agent)

    yield start
    for cleanup in reversed(cleanups):
        await cleanup()


@pytest.fixture
async def direct() -> AsyncIterator[CoreFactory]:
    """`await direct(**nas_mme_options)`: enbsim -> NasMme on the eNB's TCP framing."""
    cleanups: list[Callable[[], Awaitable[Any]]] = []

    async def start(
        *,
        enb: EnbConfig = ENB,
        user_plane: UserPlaneSettings | None = None,
        record: bool = False,
        **options: Any,
    ) -> Core:
        mme = NasMme(options.pop("subscribers", SUBSCRIBERS), **options)
        front = await DirectMme(mme).start()
        cleanups.append(front.close)
        link = None
        if record:
            link = RecordingLink(await s1_connection.connect("tcp", "127.0.0.1", front.port))
        core_enb = await _connected_enb(cleanups, enb, front.port, user_plane, link)
        return Core(mme, front, core_enb, link=link)

    yield start
    for cleanup in reversed(cleanups):
        await cleanup()


async def _connected_enb(
    cleanups: list[Callable[[], Awaitable[Any]]],
    config: EnbConfig,
    port: int,
    user_plane: UserPlaneSettings | None = None,
    link: S1Link | None = None,
    *,
    transport: str = "tcp",
) -> SimulatedEnb:
    simulator = Simulator()
    await simulator.__aenter__()
    cleanups.append(lambda: simulator.__aexit__(None, None, None))
    enb = simulator.enb(
        config,
        mme=("127.0.0.1", port),
        transport=transport,  # type: ignore[arg-type]
        user_plane=user_plane,
    )
    await enb.connect(link=link)
    for subscriber in SUBSCRIBERS:
        enb.add_ue(subscriber)
    return enb
