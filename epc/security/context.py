"""The NAS security context of one UE, and the protection of NAS messages with it.

A security-protected NAS message (TS 24.301 9.1, Figure 9.1.1) is

    octet 1     security header type (4 bits) | protocol discriminator 0111 (EMM)
    octets 2-5  NAS-MAC (message authentication code, 9.5)
    octet 6     sequence number: the 8 least significant bits of the NAS COUNT (9.6)
    octets 7-   the plain NAS message, ciphered for security header types 2 and 4 (9.7)

The NAS-MAC covers octets 6 onward, after ciphering (TS 24.301 4.4.4/4.4.5). Both use KEY =
KNASint/KNASenc, BEARER = 0, DIRECTION = 0 uplink / 1 downlink and the 32-bit COUNT = 0x00 ||
NAS overflow (16 bits) || NAS sequence number (8 bits) (TS 33.401 8.1.1, 8.2).

Each direction has its own NAS COUNT (TS 24.301 4.4.3.1). The context stores, per direction,
the NAS COUNT of the *next* message: the sender uses it and steps it; the receiver takes it
as the lowest COUNT it will still accept. A received COUNT is estimated from the sequence
number: the last accepted COUNT with its overflow stepped if the sequence number went down
(4.4.3.1). A repeat of the last sequence number thus lands on the last accepted COUNT and is
rejected as a replay (4.4.3.2); an older message lands in the future and fails its MAC. Once
the MAC verifies, the receiver's next COUNT moves past the accepted one.
An MME sends downlink and receives uplink, a UE the reverse; the same class serves both.

The SERVICE REQUEST (8.2.25) is a 4-octet message of its own: security header type 1100,
the KSI and the 5 least significant bits of the uplink NAS COUNT (9.9.3.19), and a short MAC
(9.9.3.28): the 2 least significant octets of the NAS-MAC computed over its first 2 octets.

The context is a frozen msgspec Struct of bytes and ints, so the MME can store it in the UE
context as it is; every operation returns the updated context instead of changing this one.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import IntEnum

import msgspec

from epc.security.algorithms import Direction, cipher, compute_mac
from epc.security.errors import (
    CountExhausted,
    IntegrityCheckFailed,
    KeySetIdentifierMismatch,
    MalformedSecurityHeader,
    NotSecurityProtected,
    ReplayDetected,
)
from epc.security.kdf import derive_nas_keys

# TS 24.007 11.2.3.1.1: protocol discriminator of EPS mobility management messages.
PROTOCOL_DISCRIMINATOR_EMM = 0x7
# TS 33.401 8.1.1/8.2: the BEARER input for NAS is the constant 0.
NAS_BEARER = 0
# TS 24.301 4.4.3.1: a NAS COUNT is 24 bits, overflow (16) || sequence number (8).
NAS_COUNT_MAX = 0xFFFFFF
SEQUENCE_NUMBER_BITS = 8
# TS 24.301 9.9.3.19: the SERVICE REQUEST carries the 5 least significant bits of the COUNT.
SERVICE_REQUEST_SEQUENCE_NUMBER_BITS = 5
SERVICE_REQUEST_LENGTH = 4
# TS 24.301 9.9.3.21: KSI 7 means "no key is available".
NO_KEY_AVAILABLE = 7
# Octets 1-6 of a protected message, followed by at least a protocol discriminator / security
# header octet and a message type.
_HEADER_LENGTH = 6
_MINIMUM_LENGTH = _HEADER_LENGTH + 2


class SecurityHeaderType(IntEnum):
    """TS 24.301 9.3.1, Table 9.3.1."""

    PLAIN = 0
    INTEGRITY_PROTECTED = 1
    INTEGRITY_PROTECTED_AND_CIPHERED = 2
    INTEGRITY_PROTECTED_WITH_NEW_CONTEXT = 3
    """Only for SECURITY MODE COMMAND."""
    INTEGRITY_PROTECTED_AND_CIPHERED_WITH_NEW_CONTEXT = 4
    """Only for SECURITY MODE COMPLETE."""
    SERVICE_REQUEST = 12
    """1100; 1101-1111 are read as 1100."""


_CIPHERED = frozenset(
    (
        SecurityHeaderType.INTEGRITY_PROTECTED_AND_CIPHERED,
        SecurityHeaderType.INTEGRITY_PROTECTED_AND_CIPHERED_WITH_NEW_CONTEXT,
    )
)
_PROTECTED = frozenset(
    (
        SecurityHeaderType.INTEGRITY_PROTECTED,
        SecurityHeaderType.INTEGRITY_PROTECTED_WITH_NEW_CONTEXT,
        *_CIPHERED,
    )
)


def security_header_type(pdu: bytes) -> int:
    """The security header type of a NAS message from the EMM protocol (octet 1, bits 5-8);
    types 13-15 are returned as 12 (TS 24.301 9.3.1)."""
    if not pdu:
        raise MalformedSecurityHeader("empty NAS message")
    header_type = pdu[0] >> 4
    return SecurityHeaderType.SERVICE_REQUEST if header_type >= 12 else header_type


@dataclass(frozen=True, slots=True)
class Protected:
    """A message protected for sending, and the context with the sending COUNT stepped."""

    pdu: bytes
    count: int
    context: NasSecurityContext


@dataclass(frozen=True, slots=True)
class Unprotected:
    """A received message that verified, and the context with its COUNT accepted."""

    message: bytes
    """The plain NAS message (octets 7 onward, deciphered)."""
    security_header_type: SecurityHeaderType
    count: int
    """The estimated NAS COUNT it was accepted with."""
    context: NasSecurityContext


@dataclass(frozen=True, slots=True)
class ServiceRequestVerified:
    """A SERVICE REQUEST whose short MAC verified."""

    key_set_identifier: int
    count: int
    """The estimated uplink NAS COUNT: the input to KeNB (TS 33.401 A.3)."""
    context: NasSecurityContext


def _estimate_count(next_count: int, sequence_number: int, bits: int) -> int:
    """The smallest NAS COUNT not below the last accepted one (`next_count` - 1) whose `bits`
    low bits are `sequence_number`: the last COUNT with the overflow stepped when the sequence
    number wrapped (TS 24.301 4.4.3.1). A repeat of the last accepted sequence number maps to
    that COUNT again, below `next_count`: a replay."""
    if next_count == 0:
        return sequence_number
    modulus = 1 << bits
    last = next_count - 1
    estimate = (last & ~(modulus - 1)) | sequence_number
    if sequence_number < last & (modulus - 1):
        estimate += modulus
    return estimate


class NasSecurityContext(msgspec.Struct, frozen=True, kw_only=True):
    """A current EPS security context (TS 33.401 3.1, TS 24.301 4.4.2) as seen by NAS."""

    key_set_identifier: int
    """KSI, 0-6 (TS 24.301 9.9.3.21); native context."""
    kasme: bytes
    ciphering_algorithm: int
    """EEA0-3 (TS 33.401 5.1.3.2)."""
    integrity_algorithm: int
    """EIA0-3 (TS 33.401 5.1.4.2)."""
    encryption_key: bytes
    """KNASenc (TS 33.401 A.7)."""
    integrity_key: bytes
    """KNASint (TS 33.401 A.7)."""
    uplink_count: int = 0
    """NAS COUNT of the next uplink message."""
    downlink_count: int = 0
    """NAS COUNT of the next downlink message."""

    def __post_init__(self) -> None:
        if not 0 <= self.key_set_identifier < NO_KEY_AVAILABLE:
            raise ValueError(f"key set identifier {self.key_set_identifier} outside 0..6")
        # ValueError rather than UnsupportedAlgorithm: a stored context is data we wrote, and
        # msgspec turns ValueError into a ValidationError when decoding one.
        if not 0 <= self.ciphering_algorithm <= 3 or not 0 <= self.integrity_algorithm <= 3:
            raise ValueError(
                f"algorithms EEA{self.ciphering_algorithm}/EIA{self.integrity_algorithm} "
                "outside EEA0-3/EIA0-3"
            )
        if len(self.kasme) != 32 or len(self.encryption_key) != 16 or len(self.integrity_key) != 16:
            raise ValueError("KASME must be 32 octets, KNASenc and KNASint 16")
        for count in (self.uplink_count, self.downlink_count):
            if not 0 <= count <= NAS_COUNT_MAX + 1:
                raise ValueError(f"NAS COUNT {count} outside 0..2**24")

    @classmethod
    def create(
        cls,
        *,
        kasme: bytes,
        key_set_identifier: int,
        ciphering_algorithm: int,
        integrity_algorithm: int,
    ) -> NasSecurityContext:
        """A new context with the NAS keys derived for the selected algorithms (TS 33.401
        A.7) and both NAS COUNTs at 0, as for a fresh native context after authentication."""
        keys = derive_nas_keys(kasme, ciphering_algorithm, integrity_algorithm)
        return cls(
            key_set_identifier=key_set_identifier,
            kasme=kasme,
            ciphering_algorithm=ciphering_algorithm,
            integrity_algorithm=integrity_algorithm,
            encryption_key=keys.encryption,
            integrity_key=keys.integrity,
        )

    # --- counts -----------------------------------------------------------------------------

    def next_count(self, direction: Direction) -> int:
        return self.uplink_count if direction == Direction.UPLINK else self.downlink_count

    def _with_next_count(self, direction: Direction, count: int) -> NasSecurityContext:
        if direction == Direction.UPLINK:
            return msgspec.structs.replace(self, uplink_count=count)
        return msgspec.structs.replace(self, downlink_count=count)

    def _sending_count(self, direction: Direction) -> int:
        count = self.next_count(direction)
        if count > NAS_COUNT_MAX:
            raise CountExhausted(f"{direction.name.lower()} NAS COUNT exhausted")
        return count

    def _accept_count(self, direction: Direction, sequence_number: int, bits: int) -> int:
        next_count = self.next_count(direction)
        count = _estimate_count(next_count, sequence_number, bits)
        if count > NAS_COUNT_MAX:
            raise CountExhausted(f"{direction.name.lower()} NAS COUNT exhausted")
        # TS 33.401 8.1.1: no replay protection with EIA0.
        if count < next_count and self.integrity_algorithm != 0:
            raise ReplayDetected(
                f"{direction.name.lower()} NAS COUNT {count:#x} already accepted "
                f"(next expected {next_count:#x})"
            )
        return count

    def _mac(self, count: int, direction: Direction, data: bytes) -> bytes:
        return compute_mac(
            self.integrity_algorithm, self.integrity_key, count, NAS_BEARER, direction, data
        )

    def _mac_matches(self, expected: bytes, received: bytes) -> bool:
        # EIA0 carries an all-zero MAC that protects nothing; it is not checked.
        return self.integrity_algorithm == 0 or hmac.compare_digest(expected, received)

    # --- security-protected NAS messages ------------------------------------------------------

    def protect(
        self,
        message: bytes,
        direction: Direction,
        header_type: SecurityHeaderType = SecurityHeaderType.INTEGRITY_PROTECTED_AND_CIPHERED,
    ) -> Protected:
        """Wrap a plain NAS message for sending in `direction` (TS 24.301 4.4.4, 4.4.5)."""
        if header_type not in _PROTECTED:
            raise ValueError(f"cannot protect with security header type {header_type}")
        count = self._sending_count(direction)
        body = message
        if header_type in _CIPHERED:
            body = cipher(
                self.ciphering_algorithm, self.encryption_key, count, NAS_BEARER, direction, message
            )
        signed = bytes((count & 0xFF,)) + body
        mac = self._mac(count, direction, signed)
        pdu = bytes(((header_type << 4) | PROTOCOL_DISCRIMINATOR_EMM,)) + mac + signed
        return Protected(pdu, count, self._with_next_count(direction, count + 1))

    def unprotect(self, pdu: bytes, direction: Direction) -> Unprotected:
        """Verify and decipher a security-protected NAS message received in `direction`.
        Raises a `SecurityError` subclass for anything that must be discarded."""
        header_type = self._check_header(pdu)
        received_mac, sequence_number, signed = pdu[1:5], pdu[5], pdu[5:]
        count = self._accept_count(direction, sequence_number, SEQUENCE_NUMBER_BITS)
        if not self._mac_matches(self._mac(count, direction, signed), received_mac):
            raise IntegrityCheckFailed(
                f"NAS-MAC mismatch on {direction.name.lower()} message, NAS COUNT {count:#x}"
            )
        message = pdu[_HEADER_LENGTH:]
        if header_type in _CIPHERED:
            message = cipher(
                self.ciphering_algorithm, self.encryption_key, count, NAS_BEARER, direction, message
            )
        return Unprotected(message, header_type, count, self._with_next_count(direction, count + 1))

    @staticmethod
    def _check_header(pdu: bytes) -> SecurityHeaderType:
        header_type = security_header_type(pdu)
        if pdu[0] & 0x0F != PROTOCOL_DISCRIMINATOR_EMM:
            raise MalformedSecurityHeader(
                f"protocol discriminator {pdu[0] & 0x0F} is not EMM: not security protected"
            )
        if header_type == SecurityHeaderType.PLAIN:
            raise NotSecurityProtected("security header type 0: plain NAS message")
        if header_type not in _PROTECTED:
            raise MalformedSecurityHeader(f"security header type {header_type} not handled here")
        if len(pdu) < _MINIMUM_LENGTH:
            raise MalformedSecurityHeader(f"security-protected NAS message of {len(pdu)} octets")
        return SecurityHeaderType(header_type)

    # --- SERVICE REQUEST ---------------------------------------------------------------------

    def protect_service_request(self) -> Protected:
        """The UE's SERVICE REQUEST for this context (TS 24.301 8.2.25)."""
        count = self._sending_count(Direction.UPLINK)
        head = bytes(
            (
                (SecurityHeaderType.SERVICE_REQUEST << 4) | PROTOCOL_DISCRIMINATOR_EMM,
                (self.key_set_identifier << 5) | (count & 0x1F),
            )
        )
        short_mac = self._mac(count, Direction.UPLINK, head)[2:]
        return Protected(
            head + short_mac, count, self._with_next_count(Direction.UPLINK, count + 1)
        )

    def verify_service_request(self, pdu: bytes) -> ServiceRequestVerified:
        """Check the KSI and short MAC of a SERVICE REQUEST and estimate its uplink NAS COUNT
        (TS 24.301 4.4.3.1, 9.9.3.19, 9.9.3.28)."""
        if len(pdu) != SERVICE_REQUEST_LENGTH:
            raise MalformedSecurityHeader(f"SERVICE REQUEST of {len(pdu)} octets, not 4")
        if (
            security_header_type(pdu) != SecurityHeaderType.SERVICE_REQUEST
            or pdu[0] & 0x0F != PROTOCOL_DISCRIMINATOR_EMM
        ):
            raise MalformedSecurityHeader(f"octet 1 {pdu[0]:#04x} is not a SERVICE REQUEST header")
        key_set_identifier, sequence_number = pdu[1] >> 5, pdu[1] & 0x1F
        if key_set_identifier != self.key_set_identifier:
            raise KeySetIdentifierMismatch(
                f"SERVICE REQUEST with KSI {key_set_identifier}, context has "
                f"{self.key_set_identifier}"
            )
        count = self._accept_count(
            Direction.UPLINK, sequence_number, SERVICE_REQUEST_SEQUENCE_NUMBER_BITS
        )
        expected = self._mac(count, Direction.UPLINK, pdu[:2])[2:]
        if not self._mac_matches(expected, pdu[2:4]):
            raise IntegrityCheckFailed(
                f"short MAC mismatch on SERVICE REQUEST, NAS COUNT {count:#x}"
            )
        return ServiceRequestVerified(
            key_set_identifier, count, self._with_next_count(Direction.UPLINK, count + 1)
        )
