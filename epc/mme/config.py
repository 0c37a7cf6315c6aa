"""The MME's config file: what `epc-mme --config configs/mme.toml` reads, validated once into
frozen msgspec Structs (unknown keys and bad values stop the daemon with one line naming the
key). The procedure core (`epc.mme.procedures`) takes the `MmeConfig` as a plain value.

Tables, beside the shared `deployment`, `[log]`, `[lifecycle]` and `[store]`:

- `[mme]`: who this MME is to eNBs and UEs: the served PLMN, MME group ID and code (the
  GUMMEI, TS 23.003 2.8), the tracking area codes it serves, its name, relative capacity, the
  home PLMNs whose subscribers may attach, and the network names of EMM Information;
- `[security]`: the NAS algorithm priority lists (TS 33.401 5.1.3.2 / 5.1.4.2);
- `[timers]`: T3412 and the mobile reachable / implicit detach timers (TS 24.301 5.3.5,
  5.3.7), and the NAS retransmission timers T3450/T3460/T3470 with their retransmission count
  (TS 24.301 10.2, Table 10.2.1);
- `[[apns]]`: the APNs served and the DNS servers the MME puts in the PCO;
- `[s11]`: the SGW to use and this MME's own S11 address;
- `[agents]`: the listener the ECHO agents connect to, TLS optional.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Annotated, Literal

import msgspec

from epc.daemon.config import DaemonConfig, NonEmptyString, PositiveSeconds, Section

DEFAULT_AGENT_PORT = 36420
"""Where agents connect by default (docs/decisions.md, ECHO agent)."""
GTPC_PORT = 2123
"""TS 29.274 4.2.1: the registered GTPv2-C port."""

Mcc = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{3}$")]
Mnc = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{2,3}$")]
Tac = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)]
IntegrityName = Literal["EIA0", "EIA1", "EIA2", "EIA3"]
CipheringName = Literal["EEA0", "EEA1", "EEA2", "EEA3"]


class PlmnConfig(Section, kw_only=True):
    mcc: Mcc = "001"
    mnc: Mnc = "01"

    @property
    def digits(self) -> str:
        """MCC+MNC, as NAS GUTIs and TAIs carry it ("00101")."""
        return self.mcc + self.mnc


class MmeSection(Section, kw_only=True):
    plmn: PlmnConfig = msgspec.field(default_factory=PlmnConfig)
    """The PLMN served: the GUMMEI's and every TAI's."""
    mme_group_id: Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)] = 2
    mme_code: Annotated[int, msgspec.Meta(ge=0, le=0xFF)] = 1
    tacs: Annotated[tuple[Tac, ...], msgspec.Meta(min_length=1)] = (1,)
    """Tracking area codes served; the TAI list of Attach/TAU Accept lists them all."""
    name: NonEmptyString = "echo-epc"
    """MME name in S1 Setup Response."""
    relative_capacity: Annotated[int, msgspec.Meta(ge=0, le=255)] = 255
    home_plmns: tuple[NonEmptyString, ...] = ()
    """MCC+MNC of the subscribers allowed to attach; empty: only the served PLMN's. Others
    get Attach Reject #11 "PLMN not allowed"."""
    reallocate_guti_on_tau: bool = False
    """Give a new GUTI in every Tracking Area Update Accept (TS 24.301 5.4.1: GUTI
    reallocation implicit in the TAU procedure); the old one is freed on TAU Complete."""
    guti_reallocation_after_service_requests: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Once a UE has made this many Service Requests with one GUTI, the MME gives it a new
    one with a standalone GUTI Reallocation Command (TS 24.301 5.4.1) as soon as its bearer
    is back (the Modify Bearer answered): an S-TMSI sent in the clear on every paging and
    RRC connection then identifies the UE for a bounded time. 0: never."""
    request_imeisv: bool = False
    """Ask each registered UE for its IMEISV with the identification procedure (TS 24.301
    5.4.4, T3470) once its attach is done, and keep it in the context (the ME identity of TS
    23.401 5.3.2.1 step 5b; there is no EIR to check it against)."""
    full_network_name: str = "echo-epc"
    short_network_name: str = "echo"

    def __post_init__(self) -> None:
        if len(set(self.tacs)) != len(self.tacs):
            raise ValueError("tacs lists a TAC twice")
        for plmn in self.home_plmns:
            if not plmn.isdigit() or len(plmn) not in (5, 6):
                raise ValueError(f"home_plmns: {plmn!r} is not MCC+MNC (5 or 6 digits)")

    @property
    def allowed_home_plmns(self) -> tuple[str, ...]:
        return self.home_plmns or (self.plmn.digits,)


class SecuritySection(Section, kw_only=True):
    """First algorithm of each list that the UE supports wins (TS 33.401 7.2.4.3)."""

    integrity: Annotated[tuple[IntegrityName, ...], msgspec.Meta(min_length=1)] = (
        "EIA2",
        "EIA1",
        "EIA3",
    )
    ciphering: Annotated[tuple[CipheringName, ...], msgspec.Meta(min_length=1)] = (
        "EEA0",
        "EEA2",
        "EEA1",
        "EEA3",
    )

    def __post_init__(self) -> None:
        if "EIA0" in self.integrity:
            raise ValueError("integrity: EIA0 is for emergency bearers only (TS 33.401 5.1.4.1)")

    @property
    def integrity_order(self) -> tuple[int, ...]:
        return tuple(int(name[3]) for name in self.integrity)

    @property
    def ciphering_order(self) -> tuple[int, ...]:
        return tuple(int(name[3]) for name in self.ciphering)


class TimersSection(Section, kw_only=True):
    t3412_s: Annotated[int, msgspec.Meta(ge=2, le=31 * 360)] = 3240
    """Periodic TAU timer given to UEs (TS 24.301 10.2: default 54 min)."""
    mobile_reachable_s: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Started when a UE goes idle (TS 24.301 5.3.7); None: T3412 + 4 minutes."""
    implicit_detach_s: Annotated[int, msgspec.Meta(ge=0)] = 240
    """Started when the mobile reachable timer expires; on expiry the UE is implicitly
    detached. 0: detach as soon as the mobile reachable timer expires."""
    t3450_s: PositiveSeconds = 6.0
    """Attach Accept, TAU Accept with a GUTI, GUTI Reallocation Command (TS 24.301 10.2)."""
    t3460_s: PositiveSeconds = 6.0
    """Authentication Request, Security Mode Command."""
    t3470_s: PositiveSeconds = 6.0
    """Identity Request."""
    nas_retransmissions: Annotated[int, msgspec.Meta(ge=0, le=10)] = 4
    """Retransmissions before the procedure is aborted on the next expiry (TS 24.301: 4)."""
    t3413_s: PositiveSeconds = 2.0
    """Paging for a Downlink Data Notification (TS 24.301 10.2, network dependent; Open5GS's
    2 s). It runs in the MME instance that paged (docs/decisions.md, MME)."""
    paging_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 2
    """Paging messages sent, T3413 apart, before the SGW gets a Failure Indication."""

    @property
    def mobile_reachable(self) -> int:
        return self.mobile_reachable_s or self.t3412_s + 240


class ApnConfig(Section, kw_only=True):
    name: NonEmptyString
    dns: tuple[NonEmptyString, ...] = ()
    """DNS server addresses (IPv4 or IPv6) answered in the PCO."""

    def __post_init__(self) -> None:
        for server in self.dns:
            try:
                ipaddress.ip_address(server)
            except ValueError:
                raise ValueError(f"dns: {server!r} is not an IP address") from None


def _default_apns() -> tuple[ApnConfig, ...]:
    return (ApnConfig(name="internet", dns=("8.8.8.8", "8.8.4.4")),)


class S11Section(Section, kw_only=True):
    sgw: NonEmptyString = f"127.0.0.1:{GTPC_PORT}"
    """The SGW's S11 GTPv2-C endpoint, host:port."""
    address: NonEmptyString = "127.0.0.1"
    """This MME's S11 IPv4 address: bound, and sent as the MME's S11 F-TEID."""
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    """Local UDP port; 0: any free one (responses come back to it; 2123 if SGWs will send
    requests such as Downlink Data Notification)."""
    pgw: NonEmptyString = "127.0.0.1"
    """The PGW's S5/S8 control plane IPv4 address, given to the SGW in Create Session (the
    MME selects the PGW, TS 23.401 4.3.8.1)."""
    timeout_s: PositiveSeconds = 1.0
    """Before a GTPv2-C request is sent again (TS 29.274 7.6, T3-RESPONSE)."""
    tries: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    """Transmissions of one request (N3-REQUESTS + 1)."""

    def __post_init__(self) -> None:
        for key, value in (("address", self.address), ("pgw", self.pgw)):
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                raise ValueError(f"{key}: {value!r} is not an IPv4 address") from None
        split_host_port(self.sgw, GTPC_PORT)

    @property
    def sgw_endpoint(self) -> tuple[str, int]:
        return split_host_port(self.sgw, GTPC_PORT)


class TlsSection(Section, kw_only=True):
    enabled: bool = False
    certificate: str = ""
    """PEM certificate of this MME; with `key`."""
    key: str = ""
    client_ca: str = ""
    """PEM CA bundle; when set, agents must present a certificate it signs (mutual TLS)."""

    def __post_init__(self) -> None:
        if self.enabled and not (self.certificate and self.key):
            raise ValueError("enabled needs certificate and key")


class AgentsSection(Section, kw_only=True):
    host: NonEmptyString = "0.0.0.0"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = DEFAULT_AGENT_PORT
    instance_name: str = ""
    """Sent to agents in HELLO and logged; empty: host name and process ID."""
    tls: TlsSection = msgspec.field(default_factory=TlsSection)

    def resolved_instance_name(self) -> str:
        return self.instance_name or f"{socket.gethostname()}-{os.getpid()}"


class MmeConfig(DaemonConfig, kw_only=True):
    """The MME's whole config file."""

    mme: MmeSection = msgspec.field(default_factory=MmeSection)
    security: SecuritySection = msgspec.field(default_factory=SecuritySection)
    timers: TimersSection = msgspec.field(default_factory=TimersSection)
    apns: tuple[ApnConfig, ...] = msgspec.field(default_factory=_default_apns)
    s11: S11Section = msgspec.field(default_factory=S11Section)
    agents: AgentsSection = msgspec.field(default_factory=AgentsSection)

    def __post_init__(self) -> None:
        names = [apn.name.lower() for apn in self.apns]
        if len(set(names)) != len(names):
            raise ValueError("apns: two entries share a name")

    def apn(self, name: str) -> ApnConfig | None:
        return next((apn for apn in self.apns if apn.name.lower() == name.lower()), None)


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    """ "host:port", "[v6]:port" or a bare host; ValueError naming the text."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or str(default_port)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    return host, int(port)
