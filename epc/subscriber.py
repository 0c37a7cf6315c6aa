"""A subscriber's record (what the HSS would hold) and the CSV file that carries many of them.

The same CSV feeds `epcctl subscriber import` (the core's records, stored at
`/<deployment>/subscribers/<imsi>`) and `enbsim` (the USIMs of the simulated phones), so a test
or an operator writes one file for both sides:

    imsi,k,opc,op,amf,sqn,apn,qci,ambr_ul_kbps,ambr_dl_kbps
    001010000000001,465b5ce8b199b49faa5f0a2ee238a6bc,cd63cb71954a9f4e48a5994e37a02baf,,8000,0,internet,9,50000,100000

- `k`, `opc`, `op`, `amf` are hex; exactly one of `opc` and `op` is given (OPc is derived from
  OP and K when only OP is known, TS 35.206 4.1). Only `imsi` and `k` and one of them are
  required; an empty or missing column takes the default below.
- `sqn` is the 48-bit sequence number the network will use next (TS 33.102 C.1), decimal.
- Lines starting with `#` and blank lines are skipped.

A bad file raises `SubscriberFileError` naming the line and the column.

In the store a record is the Subscriber as MessagePack (msgspec), like UE contexts: K and OPc
stay raw octets, and `epcctl subscriber show` is the readable view. This module also owns the
HSS/AuC side of the sequence number (TS 33.102 6.3 and Annex C): `advance_sqn` issues a fresh
SQN for each authentication vector and `resynchronise_sqn` moves past the SQN_MS a USIM
reported in AUTS, each a conditional write retried on VersionConflict, so MME instances
sharing a subscriber never issue the same SQN.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from epc.security.milenage import compute_opc
from epc.store import NoNode, Store, StoreUnavailable, VersionConflict
from epc.store.retry import RetryPolicy

COLUMNS = ("imsi", "k", "opc", "op", "amf", "sqn", "apn", "qci", "ambr_ul_kbps", "ambr_dl_kbps")
DEFAULT_AMF = bytes.fromhex("8000")
"""TS 33.102 Annex H: the AMF separation bit set, as E-UTRAN requires (TS 33.401 6.1.1)."""
DEFAULT_APN = "internet"
DEFAULT_QCI = 9
DEFAULT_AMBR_KBPS = 100_000
SQN_MAX = (1 << 48) - 1


class SubscriberError(Exception):
    """Base of the errors this module raises."""


class SubscriberFileError(SubscriberError, ValueError):
    """A subscriber file or record that cannot be read; the message names where."""


class UnknownSubscriber(SubscriberError, LookupError):
    """No record for this IMSI in the store (the MME's "unknown IMSI" reject)."""

    def __init__(self, imsi: str, deployment: str) -> None:
        super().__init__(f"no subscriber {imsi} in deployment {deployment!r}")
        self.imsi = imsi


class SqnExhausted(SubscriberError):
    """SEQ reached its maximum (2^43 - 1). Wrapping round needs the USIM's cooperation
    (TS 33.102 Annex C), which is not attempted: the subscription needs a new K."""


class SqnContention(SubscriberError, StoreUnavailable):
    """The SQN update lost its conditional write on every try of the retry policy; nothing
    was issued. A StoreUnavailable, so a frontend treats it as it treats an unreachable store."""


class Subscriber(msgspec.Struct, frozen=True, kw_only=True):
    """One subscription. `opc` is always set (derived from OP if that is what was given)."""

    imsi: str
    k: bytes
    opc: bytes
    amf: bytes = DEFAULT_AMF
    sqn: int = 0
    apn: str = DEFAULT_APN
    qci: int = DEFAULT_QCI
    ambr_ul_kbps: int = DEFAULT_AMBR_KBPS
    ambr_dl_kbps: int = DEFAULT_AMBR_KBPS

    def __post_init__(self) -> None:
        if not (self.imsi.isdigit() and 6 <= len(self.imsi) <= 15):
            raise SubscriberFileError(f"imsi: expected 6 to 15 digits, got {self.imsi!r}")
        for name, value, length in (("k", self.k, 16), ("opc", self.opc, 16), ("amf", self.amf, 2)):
            if len(value) != length:
                raise SubscriberFileError(f"{name}: expected {length} octets, got {len(value)}")
        if not 0 <= self.sqn <= SQN_MAX:
            raise SubscriberFileError(f"sqn: expected 0..{SQN_MAX}, got {self.sqn}")
        if not self.apn:
            raise SubscriberFileError("apn: must not be empty")
        if not 1 <= self.qci <= 255:
            raise SubscriberFileError(f"qci: expected 1..255, got {self.qci}")
        for name in ("ambr_ul_kbps", "ambr_dl_kbps"):
            if getattr(self, name) <= 0:
                raise SubscriberFileError(f"{name}: must be positive")

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes) -> Subscriber:
        return msgspec.json.decode(data, type=cls)


def subscriber_from_row(row: dict[str, str]) -> Subscriber:
    """One CSV row (column -> text) as a Subscriber; SubscriberFileError naming the column."""
    values = {name: (row.get(name) or "").strip() for name in COLUMNS}
    unknown = set(row) - set(COLUMNS) - {None}
    if unknown:
        raise SubscriberFileError(f"unknown column {sorted(unknown)[0]!r}")
    for required in ("imsi", "k"):
        if not values[required]:
            raise SubscriberFileError(f"{required}: missing")
    if bool(values["opc"]) == bool(values["op"]):
        raise SubscriberFileError("opc/op: give exactly one of them")
    k = _hex(values, "k")
    opc = _hex(values, "opc") if values["opc"] else compute_opc(k, _hex(values, "op"))
    fields: dict[str, object] = {"imsi": values["imsi"], "k": k, "opc": opc}
    if values["amf"]:
        fields["amf"] = _hex(values, "amf")
    if values["apn"]:
        fields["apn"] = values["apn"]
    for name in ("sqn", "qci", "ambr_ul_kbps", "ambr_dl_kbps"):
        if values[name]:
            fields[name] = _integer(values, name)
    return Subscriber(**fields)


def read_csv(path: str | Path) -> list[Subscriber]:
    """Every subscriber in a CSV file, in file order; duplicate IMSIs are an error."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise SubscriberFileError(f"{path}: {error.strerror}") from None
    return parse_csv(text, str(path))


def parse_csv(text: str, name: str = "<csv>") -> list[Subscriber]:
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise SubscriberFileError(f"{name}: no header line")
    header_number, header = lines[0]
    columns = next(csv.reader([header]))
    if "imsi" not in columns:
        raise SubscriberFileError(f"{name}:{header_number}: header has no 'imsi' column")
    subscribers: list[Subscriber] = []
    seen: set[str] = set()
    for number, line in lines[1:]:
        cells = next(csv.reader([line]))
        if len(cells) > len(columns):
            raise SubscriberFileError(f"{name}:{number}: more cells than header columns")
        try:
            subscriber = subscriber_from_row(dict(zip(columns, cells, strict=False)))
        except SubscriberFileError as error:
            raise SubscriberFileError(f"{name}:{number}: {error}") from None
        if subscriber.imsi in seen:
            raise SubscriberFileError(f"{name}:{number}: imsi {subscriber.imsi} appears twice")
        seen.add(subscriber.imsi)
        subscribers.append(subscriber)
    return subscribers


def format_csv(subscribers: Iterable[Subscriber]) -> str:
    """The CSV text for these subscribers (always with `opc`, never `op`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in subscribers:
        writer.writerow(
            (s.imsi, s.k.hex(), s.opc.hex(), "", s.amf.hex(), s.sqn, s.apn, s.qci,
             s.ambr_ul_kbps, s.ambr_dl_kbps)
        )  # fmt: skip
    return out.getvalue()


def generate(
    first_imsi: str, count: int, k: bytes, opc: bytes, **fields: object
) -> list[Subscriber]:
    """`count` subscribers with consecutive IMSIs from `first_imsi`, sharing K and OPc: the
    quick way to provision a load test."""
    width = len(first_imsi)
    start = int(first_imsi)
    return [
        Subscriber(imsi=f"{start + offset:0{width}d}", k=k, opc=opc, **fields)
        for offset in range(count)
    ]


# --- records in the store ------------------------------------------------------------------

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Subscriber)


def subscribers_path(deployment: str) -> str:
    """The parent node of every subscriber record of a deployment."""
    return f"/{deployment}/subscribers"


def subscriber_path(deployment: str, imsi: str) -> str:
    return f"{subscribers_path(deployment)}/{imsi}"


def encode_subscriber(subscriber: Subscriber) -> bytes:
    return _ENCODER.encode(subscriber)


def decode_subscriber(data: bytes, where: str) -> Subscriber:
    """The record stored at `where`; SubscriberFileError naming `where` if it is not one."""
    try:
        return _DECODER.decode(data)
    except msgspec.DecodeError as error:  # ValidationError included
        raise SubscriberFileError(f"{where}: not a subscriber record: {error}") from None


@dataclass(frozen=True, slots=True)
class StoredSubscriber:
    """A record as read, with the node version a conditional write must name."""

    subscriber: Subscriber
    version: int


async def read_subscriber(store: Store, deployment: str, imsi: str) -> StoredSubscriber | None:
    """The subscriber's record and its version, or None when the IMSI has none."""
    path = subscriber_path(deployment, imsi)
    node = await store.get(path)
    if node is None:
        return None
    return StoredSubscriber(decode_subscriber(node.value, path), node.version)


# --- the sequence number (the HSS/AuC side) -------------------------------------------------

IND_BITS = 5
"""SQN = SEQ || IND (TS 33.102 Annex C); 5 bits of IND, the length Annex C takes as its
example and Open5GS and hostapd's HLR use, so USIMs with an IND array accept our SQNs."""
IND_MASK = (1 << IND_BITS) - 1
SEQ_MAX = SQN_MAX >> IND_BITS

SQN_RETRY = RetryPolicy(
    tries=40, initial_delay_s=0.001, multiplier=2.0, max_delay_s=0.05, jitter=1.0, deadline_s=5.0
)
"""Conflicts on one subscriber's SQN come from instances authenticating the same UE at once:
rare and brief, so many quick tries, with full jitter to spread the contenders."""


def sqn_after(sqn: int) -> int:
    """The SQN to issue after `sqn`: SEQ + 1 and IND + 1 (mod 2^5). SEQ grows with every
    vector, so the USIM accepts it whether it checks SQN > SQN_MS or keeps Annex C's array
    of SEQ per IND. SqnExhausted at the top of SEQ (no wrap-around)."""
    seq, ind = sqn >> IND_BITS, sqn & IND_MASK
    if seq >= SEQ_MAX:
        raise SqnExhausted(f"SQN {sqn:#x}: SEQ is at its maximum")
    return ((seq + 1) << IND_BITS) | ((ind + 1) & IND_MASK)


def sqn_after_resynchronisation(sqn_he: int, sqn_ms: int) -> int:
    """The SQN to issue after a USIM reported SQN_MS in AUTS (TS 33.102 6.3.5): SEQ_MS + 1
    (SQN_HE is reset past SQN_MS), keeping the IND the network would have used next, unless
    the stored SQN_HE is already beyond it. Never backwards, so a replayed old AUTS cannot
    make the network issue an SQN a second time."""
    seq_ms = sqn_ms >> IND_BITS
    if seq_ms >= SEQ_MAX:
        raise SqnExhausted(f"SQN_MS {sqn_ms:#x}: SEQ is at its maximum")
    return max(sqn_he, ((seq_ms + 1) << IND_BITS) | (sqn_he & IND_MASK))


@dataclass(frozen=True, slots=True)
class IssuedSqn:
    """A fresh SQN for one authentication vector, and the record as stored after issuing it
    (its `sqn` is the next one to issue; K, OPc and AMF are what the vector needs)."""

    sqn: int
    subscriber: Subscriber
    version: int


async def advance_sqn(
    store: Store,
    deployment: str,
    imsi: str,
    *,
    retry: RetryPolicy = SQN_RETRY,
    rng: random.Random | None = None,
) -> IssuedSqn:
    """Issue the subscriber's next SQN with a conditional write (TS 33.102 6.3.2): no two
    callers, in any MME instance, get the same one. UnknownSubscriber when the IMSI has no
    record; SqnContention when every try lost its write.

    Deliberately not part of a UE context's multi-op: an Algorithm 1 attempt that loses its
    context write has only skipped an SQN no UE will see; the vector that counts is the one
    recorded in the context with the reply."""
    return await _issue_sqn(store, deployment, imsi, lambda sqn_he: sqn_he, retry, rng)


async def resynchronise_sqn(
    store: Store,
    deployment: str,
    imsi: str,
    sqn_ms: int,
    *,
    retry: RetryPolicy = SQN_RETRY,
    rng: random.Random | None = None,
) -> IssuedSqn:
    """After an AUTS whose MAC-S verified (`Milenage.resynchronise` gives SQN_MS), issue an
    SQN the USIM will accept, from `sqn_after_resynchronisation`, with the same conditional
    write and errors as `advance_sqn`."""

    def first(sqn_he: int) -> int:
        return sqn_after_resynchronisation(sqn_he, sqn_ms)

    return await _issue_sqn(store, deployment, imsi, first, retry, rng)


async def _issue_sqn(
    store: Store,
    deployment: str,
    imsi: str,
    issue_from: Callable[[int], int],
    retry: RetryPolicy,
    rng: random.Random | None,
) -> IssuedSqn:
    """Read, issue `issue_from(stored SQN)`, store the one after it at the version read;
    on a lost write read again, within the retry policy."""
    path = subscriber_path(deployment, imsi)
    loop = asyncio.get_running_loop()
    started = loop.time()
    attempt = 1
    while True:
        stored = await read_subscriber(store, deployment, imsi)
        if stored is None:
            raise UnknownSubscriber(imsi, deployment)
        issued = issue_from(stored.subscriber.sqn)
        updated = msgspec.structs.replace(stored.subscriber, sqn=sqn_after(issued))
        try:
            version = await store.put(path, encode_subscriber(updated), stored.version)
        except (VersionConflict, NoNode):  # NoNode: removed meanwhile; the next read says so
            elapsed = loop.time() - started
            if not retry.allows(attempt, elapsed):
                raise SqnContention(
                    f"{path}: SQN update lost {attempt} conditional writes in {elapsed:.2f} s"
                ) from None
            await asyncio.sleep(retry.delay_s(attempt, rng))
            attempt += 1
            continue
        return IssuedSqn(issued, updated, version)


def _hex(values: dict[str, str], name: str) -> bytes:
    try:
        return bytes.fromhex(values[name])
    except ValueError:
        raise SubscriberFileError(f"{name}: not hex: {values[name]!r}") from None


def _integer(values: dict[str, str], name: str) -> int:
    try:
        return int(values[name])
    except ValueError:
        raise SubscriberFileError(f"{name}: not an integer: {values[name]!r}") from None
