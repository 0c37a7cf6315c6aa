"""The gateways as test subjects, and what plays their peers.

- `TestMme`: a GTP-C node playing the MME on S11: it sends stamped requests the way the MME's
  Algorithm 1 steps do, and answers what the SGW starts (Downlink Data Notification, Create /
  Update / Delete Bearer), recording every request it got;
- builders of the S11 messages an MME sends;
- `UdpRelay`: a UDP relay put on a hop to see (and record, for tshark) every datagram both
  ways, and to hold a response back while a test kills the node waiting for it;
- `GatewayProcess`: `python -m epc.sgw` / `epc.pgw` in a subprocess with a config the test
  writes and its JSON log read as it comes (the agent harness's reader);
- `gateway_config`: that config's text.

Tests wait on log events, queues and futures with timeouts, never on sleeps.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from harness.agent_process import REPO, AgentProcess

from epc.codec import gtpv2c
from epc.codec.gtpv2c import (
    Ambr,
    Arp,
    BearerContextResult,
    BearerContextToBeCreated,
    BearerContextToBeModified,
    BearerQos,
    Cause,
    CauseValue,
    CreateBearerRequest,
    CreateBearerResponse,
    CreateBearerResponseContext,
    CreateSessionRequest,
    DeleteBearerRequest,
    DeleteBearerResponse,
    DeleteSessionRequest,
    DownlinkDataNotification,
    DownlinkDataNotificationAcknowledge,
    Ecgi,
    EchoStamp,
    Fteid,
    FteidInterface,
    GtpcMessage,
    ModifyBearerRequest,
    ReleaseAccessBearersRequest,
    Tai,
    UpdateBearerRequest,
    UpdateBearerResponse,
    UserLocation,
)
from epc.gtpc import Peer
from epc.gtpc.node import GtpcNode, IncomingRequest
from epc.gtpc.transactions import Timers

TIMEOUT_S = 30.0
IMSI = "001010000000001"
LOOPBACK = "127.0.0.1"
ACCEPTED = Cause(CauseValue.REQUEST_ACCEPTED)
# A UE's PCO asking for DNS (container 0x000D) and with an IPCP Configure-Request for DNS.
PCO_ASKING_DNS = bytes.fromhex("80000d0080211001000010810600000000830600000000")
FAST_TIMERS = Timers(t3_response_s=0.3, n3_requests=2, echo_interval_s=3600.0)


def free_udp_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


# --- what an MME sends -------------------------------------------------------------------------

_stamps = itertools.count(1_000_000)


def stamp(request_number: int, k: int = 0, ue_id: bytes = IMSI.encode()) -> EchoStamp:
    """An MME's side-effect stamp: request (n,) of the UE, k-th S11 request of the step."""
    return EchoStamp((request_number, k), ue_id)


def next_request_number() -> int:
    return next(_stamps)


def create_session_request(
    *,
    mme_teid: int = 0x100,
    pgw_address: str = LOOPBACK,
    imsi: str | None = IMSI,
    apn: str = "internet",
    ebi: int = 5,
    pco: bytes | None = PCO_ASKING_DNS,
    **changes: Any,
) -> CreateSessionRequest:
    return CreateSessionRequest(
        imsi=imsi,
        msisdn="33600000001",
        mei="3534900698733190",
        user_location=UserLocation(Tai("00101", 1), Ecgi("00101", 0x19B01)),
        serving_network="00101",
        rat_type=gtpv2c.RatType.EUTRAN,
        sender_fteid=Fteid(FteidInterface.S11_MME_GTPC, mme_teid, IPv4Address(LOOPBACK)),
        pgw_s5s8_fteid=Fteid(FteidInterface.S5S8_PGW_GTPC, 0, IPv4Address(pgw_address)),
        apn=apn,
        selection_mode=0,
        pdn_type=gtpv2c.PdnType.IPV4,
        paa=gtpv2c.Paa(gtpv2c.PdnType.IPV4, ipv4=IPv4Address("0.0.0.0")),
        apn_ambr=Ambr(50_000, 100_000),
        pco=pco,
        bearer_contexts=(
            BearerContextToBeCreated(ebi=ebi, bearer_qos=BearerQos(9, Arp(8, False, True))),
        ),
        **changes,
    )


def modify_bearer_request(
    sgw_teid: int, *, ebi: int = 5, enb_teid: int = 0xE0B, cell: int = 0x19B01, **changes: Any
) -> ModifyBearerRequest:
    return ModifyBearerRequest(
        teid=sgw_teid,
        user_location=UserLocation(Tai("00101", 1), Ecgi("00101", cell)),
        bearer_contexts_to_be_modified=(
            BearerContextToBeModified(
                ebi=ebi,
                s1u_enodeb_fteid=Fteid(
                    FteidInterface.S1U_ENODEB_GTPU, enb_teid, IPv4Address("127.0.0.9")
                ),
            ),
        ),
        **changes,
    )


def delete_session_request(sgw_teid: int, *, ebi: int = 5, **changes: Any) -> DeleteSessionRequest:
    return DeleteSessionRequest(teid=sgw_teid, linked_ebi=ebi, **changes)


def release_access_bearers_request(sgw_teid: int, **changes: Any) -> ReleaseAccessBearersRequest:
    return ReleaseAccessBearersRequest(teid=sgw_teid, **changes)


# --- the MME playing peer ----------------------------------------------------------------------


@dataclass
class TestMme:
    """A GTP-C node on S11 standing in for the MME. It answers requests the SGW starts:
    Downlink Data Notification -> Acknowledge (cause `ddn_cause`); Create Bearer -> each
    bearer accepted with the next EBI from 6 and an eNB F-TEID; Update / Delete Bearer ->
    accepted. `requests` gets every request, in order."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    node: GtpcNode | None = None
    requests: asyncio.Queue[IncomingRequest] = field(default_factory=asyncio.Queue)
    ddn_cause: int = CauseValue.REQUEST_ACCEPTED
    next_ebi: int = 6

    @classmethod
    async def open(cls, timers: Timers = FAST_TIMERS, host: str = LOOPBACK) -> TestMme:
        mme = cls()
        mme.node = await GtpcNode.open((host, 0), recovery=1, handler=mme._answer, timers=timers)
        return mme

    @property
    def address(self) -> Peer:
        assert self.node is not None
        return self.node.address

    async def request(self, peer: Peer, message: GtpcMessage) -> GtpcMessage:
        assert self.node is not None
        return await self.node.request(peer, message)

    async def next_request(self, timeout_s: float = TIMEOUT_S) -> IncomingRequest:
        async with asyncio.timeout(timeout_s):
            return await self.requests.get()

    async def _answer(self, request: IncomingRequest) -> GtpcMessage | None:
        self.requests.put_nowait(request)
        message = request.message
        match message:
            case DownlinkDataNotification():
                return DownlinkDataNotificationAcknowledge(teid=0x100, cause=Cause(self.ddn_cause))
            case CreateBearerRequest():
                contexts = []
                for context in message.bearer_contexts:
                    enb = Fteid(
                        FteidInterface.S1U_ENODEB_GTPU,
                        0xE0B0 + self.next_ebi,
                        IPv4Address("127.0.0.9"),
                    )
                    contexts.append(
                        CreateBearerResponseContext(
                            ebi=self.next_ebi,
                            cause=ACCEPTED,
                            s1u_enodeb_fteid=enb,
                            s1u_sgw_fteid=context.s1u_sgw_fteid,
                        )
                    )
                    self.next_ebi += 1
                return CreateBearerResponse(
                    teid=0x100, cause=ACCEPTED, bearer_contexts=tuple(contexts)
                )
            case UpdateBearerRequest():
                results = tuple(
                    BearerContextResult(ebi=context.ebi, cause=ACCEPTED)
                    for context in message.bearer_contexts
                )
                return UpdateBearerResponse(teid=0x100, cause=ACCEPTED, bearer_contexts=results)
            case DeleteBearerRequest():
                results = tuple(
                    BearerContextResult(ebi=ebi, cause=ACCEPTED) for ebi in message.ebis
                )
                return DeleteBearerResponse(
                    teid=0x100,
                    cause=ACCEPTED,
                    linked_ebi=message.linked_ebi,
                    bearer_contexts=results,
                )
        return None

    async def close(self) -> None:
        if self.node is not None:
            await self.node.close()


# --- a relay on a hop --------------------------------------------------------------------------


class UdpRelay:
    """Listens on a loopback port and relays to `target`, each client through its own
    upstream socket so answers find their way back. `datagrams` records (source port,
    destination port, payload) in order. `hold` (a predicate on a target -> client datagram)
    makes the relay keep such a datagram back and set `held`."""

    def __init__(self, target: Peer) -> None:
        self.target = target
        self.datagrams: list[bytes] = []
        self.hold: Callable[[bytes], bool] | None = None
        self.held = asyncio.Event()
        self._listener: asyncio.DatagramTransport | None = None
        self._upstreams: dict[Peer, asyncio.Future[asyncio.DatagramTransport]] = {}

    @classmethod
    async def open(cls, target: Peer) -> UdpRelay:
        relay = cls(target)
        loop = asyncio.get_running_loop()
        relay._listener, _ = await loop.create_datagram_endpoint(
            lambda: _Listener(relay), local_addr=(LOOPBACK, 0)
        )
        return relay

    @property
    def port(self) -> int:
        assert self._listener is not None
        return self._listener.get_extra_info("sockname")[1]

    async def _from_client(self, data: bytes, client: Peer) -> None:
        self.datagrams.append(data)
        upstream = self._upstreams.get(client)
        if upstream is None:
            upstream = self._upstreams[client] = asyncio.ensure_future(self._connect(client))
        (await upstream).sendto(data)

    async def _connect(self, client: Peer) -> asyncio.DatagramTransport:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Upstream(self, client), remote_addr=self.target
        )
        return transport

    def _from_target(self, data: bytes, client: Peer) -> None:
        self.datagrams.append(data)
        if self.hold is not None and self.hold(data):
            self.held.set()
            return
        if self._listener is not None:
            self._listener.sendto(data, client)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for upstream in self._upstreams.values():
            if upstream.done() and not upstream.exception():
                upstream.result().close()
            else:
                upstream.cancel()


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, relay: UdpRelay) -> None:
        self._relay = relay
        self._tasks: set[asyncio.Task] = set()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        task = asyncio.ensure_future(self._relay._from_client(data, (addr[0], addr[1])))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay: UdpRelay, client: Peer) -> None:
        self._relay = relay
        self._client = client

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self._relay._from_target(data, self._client)

    def error_received(self, exc: Exception) -> None:
        pass


# --- daemons -----------------------------------------------------------------------------------


def gateway_config(
    *,
    deployment: str,
    zookeeper: str,
    gtpc: dict[str, Any],
    sections: dict[str, dict[str, Any]] | None = None,
    arrays: dict[str, list[dict[str, Any]]] | None = None,
    store_path: Path | None = None,
) -> str:
    """A gateway config file's text: JSON logs, the ZooKeeper store (or the SQLite file at
    `store_path`), `[gtpc]` as given."""
    if store_path is not None:
        path = json.dumps(str(store_path))
        store = ["[store.sqlite]", f"path = {path}", 'synchronous = "normal"']
    else:
        hosts = json.dumps(zookeeper.split(","))
        store = ["[store]", 'backend = "zookeeper"', "[store.zookeeper]", f"hosts = {hosts}"]
    lines = [
        f'deployment = "{deployment}"',
        "[log]",
        'format = "json"',
        'level = "info"',
        "[lifecycle]",
        "drain_timeout_s = 5.0",
        *store,
        "[gtpc]",
        *_table(gtpc),
    ]
    for name, values in (sections or {}).items():
        lines += [f"[{name}]", *_table(values)]
    for name, tables in (arrays or {}).items():
        for values in tables:
            lines += [f"[[{name}]]", *_table(values)]
    return "\n".join(lines) + "\n"


def _table(values: dict[str, Any]) -> list[str]:
    out = []
    for key, value in values.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            inline = ", ".join(
                "{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in item.items()) + "}"
                for item in value
            )
            out.append(f"{key} = [{inline}]")
        else:
            out.append(f"{key} = {json.dumps(value)}")
    return out


class GatewayProcess(AgentProcess):
    """`python -m epc.sgw` or `epc.pgw` with its JSON log lines in `events`."""

    @classmethod
    async def start_module(
        cls, module: str, config_text: str, directory: Path, name: str
    ) -> GatewayProcess:
        config = directory / f"{name}.toml"
        config.write_text(config_text)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            "--config",
            str(config),
            cwd=REPO,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def listening(self) -> dict[str, Any]:
        """The "gtpc listening" line (address, port, recovery), once the daemon is ready."""
        line = await self.wait_for("gtpc listening", timeout_s=120.0)
        await self.wait_for("ready", timeout_s=120.0)
        return line
