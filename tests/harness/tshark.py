"""Wireshark as an independent judge of our bytes: write packets to a pcap, let tshark
dissect them, and hand back the fields it saw and any malformed-packet or expert complaint.

Three framings:
- `sctp(payload, ppid)`: IPv4 + SCTP with one DATA chunk, dissected by PPID as an eNB's S1AP
  reaches the MME (PPID 18, port 36412);
- `udp(payload, port)`: IPv4 + UDP on loopback, dissected by port (GTPv2-C 2123, GTP-U 2152);
- `exported_pdu(dissector, payload)`: Wireshark's "exported PDU" link type, which names the
  dissector to call (e.g. "nas-eps": NAS travels inside S1AP, never on its own transport).
"""

from __future__ import annotations

import itertools
import json
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LINKTYPE_WIRESHARK_UPPER_PDU = 252
LINKTYPE_IPV4 = 228
_EXP_PDU_TAG_PROTO_NAME = 12
_EXP_PDU_TAG_END = 0
_verification_tags = itertools.count(1)


@dataclass(frozen=True)
class Frame:
    linktype: int
    data: bytes


def exported_pdu(dissector: str, payload: bytes) -> Frame:
    name = dissector.encode()
    padded = name + b"\0" * (-len(name) % 4 or 0)
    tags = struct.pack("!HH", _EXP_PDU_TAG_PROTO_NAME, len(padded)) + padded
    tags += struct.pack("!HH", _EXP_PDU_TAG_END, 0)
    return Frame(LINKTYPE_WIRESHARK_UPPER_PDU, tags + payload)


def sctp(payload: bytes, ppid: int, *, port: int = 36412, stream: int = 0) -> Frame:
    """One SCTP packet with one unfragmented DATA chunk (RFC 9260 3.3.1). The CRC32c is left
    zero: Wireshark does not verify SCTP checksums unless asked to. Every frame gets its own
    verification tag, so Wireshark never takes one for a retransmission of another."""
    chunk_length = 16 + len(payload)
    data_chunk = struct.pack("!BBHIHHI", 0, 0x03, chunk_length, 1, stream, 0, ppid) + payload
    data_chunk += b"\0" * (-chunk_length % 4)
    common_header = struct.pack("!HHII", port, port, next(_verification_tags), 0)
    return _ipv4(132, common_header + data_chunk)


def udp(payload: bytes, port: int, *, source_port: int | None = None) -> Frame:
    source_port = port if source_port is None else source_port
    udp_header = struct.pack("!HHHH", source_port, port, 8 + len(payload), 0)
    return _ipv4(17, udp_header + payload)


def _ipv4(protocol: int, segment: bytes) -> Frame:
    total = 20 + len(segment)
    ip_header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        total,
        0,
        0,
        64,
        protocol,
        0,
        bytes([127, 0, 0, 1]),
        bytes([127, 0, 0, 2]),
    )
    ip_header = ip_header[:10] + struct.pack("!H", _ip_checksum(ip_header)) + ip_header[12:]
    return Frame(LINKTYPE_IPV4, ip_header + segment)


@dataclass(frozen=True)
class Dissection:
    layers: dict
    """tshark's `-T json` layers of the packet: {"s1ap": {...}, ...}."""
    problems: list[str]
    """Malformed-packet reports and expert infos of severity warning or error."""

    def fields(self, name: str) -> list[str]:
        """Every value tshark shows for a field name (e.g. "s1ap.procedureCode"), anywhere."""
        found: list[str] = []
        _collect(self.layers, name, found)
        return found


def dissect(frames: list[Frame]) -> list[Dissection]:
    """Dissect the frames (all of one link type) with tshark; one Dissection per frame."""
    tshark = shutil.which("tshark")
    if tshark is None:
        raise RuntimeError("tshark is not installed; run `make setup`")
    (linktype,) = {frame.linktype for frame in frames}
    with tempfile.TemporaryDirectory(prefix="tshark-") as directory:
        pcap = Path(directory) / "golden.pcap"
        pcap.write_bytes(_pcap(linktype, [frame.data for frame in frames]))
        result = subprocess.run(
            [tshark, "-r", str(pcap), "-T", "json", "--no-duplicate-keys", "-V"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    if result.returncode != 0:
        raise RuntimeError(f"tshark failed: {result.stderr.strip()}")
    layers = [packet["_source"]["layers"] for packet in json.loads(result.stdout)]
    return [Dissection(packet, _problems(packet)) for packet in layers]


def _pcap(linktype: int, packets: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    for index, data in enumerate(packets):
        out += struct.pack("<IIII", 1_700_000_000 + index, 0, len(data), len(data)) + data
    return out


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _collect(node, name: str, found: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == name:
                found.extend(value if isinstance(value, list) else [value])
            _collect(value, name, found)
    elif isinstance(node, list):
        for item in node:
            _collect(item, name, found)


# Expert info severities (epan/proto.h): PI_WARN and PI_ERROR; notes and chats are fine.
_WARNING = 0x00600000


def _problems(layers: dict) -> list[str]:
    """The packet's expert infos of severity warning or error (malformed packets included)."""
    experts: list[dict] = []
    _collect(layers, "_ws.expert", experts)
    return [
        expert.get("_ws.expert.message", "expert info")
        for expert in experts
        if isinstance(expert, dict) and int(expert.get("_ws.expert.severity", 0)) >= _WARNING
    ]
