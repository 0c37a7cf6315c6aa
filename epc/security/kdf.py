"""The EPS key hierarchy below CK/IK: the KDF of TS 33.220 B.2 and its uses in TS 33.401 A.

KDF(Key, S) = HMAC-SHA-256(Key, S) with S = FC || P0 || L0 || P1 || L1 || ..., where FC is
one octet naming the derivation and Li is the length of Pi in octets as two octets, big endian
(TS 33.220 B.2.0). KASME is the key the MME holds (Access Security Management Entity); KeNB
is handed to the eNB; NH ("next hop") feeds forward security on handover; KNASenc/KNASint
protect NAS.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import IntEnum

# TS 33.401 Annex A: the FC value of each derivation.
FC_KASME = 0x10  # A.2
FC_KENB = 0x11  # A.3
FC_NH = 0x12  # A.4
FC_ALGORITHM_KEY = 0x15  # A.7

KASME_LENGTH = 32
NAS_KEY_LENGTH = 16  # A.7: the 128 least significant bits of the 256-bit KDF output


class AlgorithmTypeDistinguisher(IntEnum):
    """TS 33.401 A.7, Table A.7-1."""

    NAS_ENCRYPTION = 0x01
    NAS_INTEGRITY = 0x02
    RRC_ENCRYPTION = 0x03
    RRC_INTEGRITY = 0x04
    UP_ENCRYPTION = 0x05
    UP_INTEGRITY = 0x06


def kdf(key: bytes, fc: int, *parameters: bytes) -> bytes:
    """The generic KDF of TS 33.220 B.2.0: HMAC-SHA-256 over FC || P0 || L0 || ... ."""
    parts = [fc.to_bytes(1)]
    for parameter in parameters:
        parts.append(parameter)
        parts.append(len(parameter).to_bytes(2))
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def encode_plmn_identity(mcc: str, mnc: str) -> bytes:
    """The three octets of a PLMN identity (TS 24.008 10.5.1.13, the SN id of TS 33.401
    A.2): MCC2 MCC1 | MNC3 MCC3 | MNC2 MNC1, with MNC3 = 0xF for a two-digit MNC."""
    if len(mcc) != 3 or not mcc.isdigit() or len(mnc) not in (2, 3) or not mnc.isdigit():
        raise ValueError(f"PLMN {mcc}/{mnc}: MCC needs 3 digits and MNC 2 or 3")
    d = [int(c) for c in mcc]
    n = [int(c) for c in mnc]
    mnc3 = n[2] if len(n) == 3 else 0xF
    return bytes(((d[1] << 4) | d[0], (mnc3 << 4) | d[2], (n[1] << 4) | n[0]))


def derive_kasme(ck: bytes, ik: bytes, serving_network_id: bytes, sqn_xor_ak: bytes) -> bytes:
    """KASME from CK || IK (TS 33.401 A.2): P0 = SN id (3 octets), P1 = SQN xor AK."""
    if len(serving_network_id) != 3 or len(sqn_xor_ak) != 6:
        raise ValueError("SN id must be 3 octets and SQN xor AK 6 octets")
    return kdf(ck + ik, FC_KASME, serving_network_id, sqn_xor_ak)


def derive_kenb(kasme: bytes, uplink_nas_count: int) -> bytes:
    """KeNB (TS 33.401 A.3): P0 = the 32-bit uplink NAS COUNT."""
    return kdf(kasme, FC_KENB, uplink_nas_count.to_bytes(4))


def derive_nh(kasme: bytes, sync_input: bytes) -> bytes:
    """NH (TS 33.401 A.4): SYNC-input is KeNB for the first NH, then the previous NH."""
    if len(sync_input) != 32:
        raise ValueError("SYNC-input must be 32 octets")
    return kdf(kasme, FC_NH, sync_input)


def derive_algorithm_key(
    kasme_or_kenb: bytes, distinguisher: AlgorithmTypeDistinguisher, algorithm_identity: int
) -> bytes:
    """A 128-bit algorithm key (TS 33.401 A.7): P0 = algorithm type distinguisher, P1 = the
    algorithm identity; the key is the 128 least significant bits of the KDF output."""
    output = kdf(
        kasme_or_kenb, FC_ALGORITHM_KEY, bytes((distinguisher,)), bytes((algorithm_identity,))
    )
    return output[-NAS_KEY_LENGTH:]


@dataclass(frozen=True, slots=True)
class NasKeys:
    encryption: bytes
    """KNASenc."""
    integrity: bytes
    """KNASint."""


def derive_nas_keys(kasme: bytes, ciphering_algorithm: int, integrity_algorithm: int) -> NasKeys:
    """KNASenc and KNASint for the selected NAS algorithms (TS 33.401 A.7)."""
    return NasKeys(
        encryption=derive_algorithm_key(
            kasme, AlgorithmTypeDistinguisher.NAS_ENCRYPTION, ciphering_algorithm
        ),
        integrity=derive_algorithm_key(
            kasme, AlgorithmTypeDistinguisher.NAS_INTEGRITY, integrity_algorithm
        ),
    )
