"""MILENAGE: the example authentication and key generation functions of TS 35.206.

Abbreviations used once here and then as names: K is the subscriber key; OP the operator
variant configuration field and OPc = OP xor E_K(OP) its per-subscriber form (35.206 4.1);
RAND the network challenge; SQN the 48-bit sequence number; AMF the authentication management
field; AK the anonymity key; RES/XRES the (expected) response; CK/IK the cipher and integrity
keys; AUTN = SQN xor AK || AMF || MAC-A and AUTS = SQN_MS xor AK* || MAC-S (TS 33.102 6.3).

The kernel E_K is AES-128 (35.206 clause 3, "Rijndael"), from `cryptography`. The functions
are (35.206 4.1):

    TEMP = E_K(RAND xor OPc)
    OUT1 = E_K(TEMP xor rot(IN1 xor OPc, r1) xor c1) xor OPc,  IN1 = SQN || AMF || SQN || AMF
    OUTi = E_K(rot(TEMP xor OPc, ri) xor ci) xor OPc,          i = 2..5
    f1 = OUT1[0..63]   f1* = OUT1[64..127]   f5 = OUT2[0..47]   f2 = OUT2[64..127]
    f3 = OUT3          f4 = OUT4             f5* = OUT5[0..47]
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from epc.security.errors import AuthenticationFailure

# TS 35.206 4.1: the rotation amounts r1..r5 (bits) and constants c1..c5 (128-bit).
ROTATIONS = (64, 0, 32, 64, 96)
CONSTANTS = (0, 1, 2, 4, 8)

KEY_LENGTH = 16
RAND_LENGTH = 16
SQN_LENGTH = 6
AMF_LENGTH = 2
SQN_MAX = (1 << 48) - 1

# TS 33.102 6.3.3: MAC-S is computed with a dummy AMF of all zeros.
RESYNCHRONISATION_AMF = b"\x00\x00"

_MASK_128 = (1 << 128) - 1


def _check_length(name: str, value: bytes, length: int) -> None:
    if len(value) != length:
        raise ValueError(f"{name} must be {length} bytes, got {len(value)}")


def _rotate(value: int, bits: int) -> int:
    """Cyclic rotation of a 128-bit value towards the most significant end (35.206 4.1)."""
    bits %= 128
    return ((value << bits) | (value >> (128 - bits))) & _MASK_128 if bits else value


def compute_opc(key: bytes, op: bytes) -> bytes:
    """OPc = OP xor E_K(OP) (TS 35.206 4.1)."""
    _check_length("K", key, KEY_LENGTH)
    _check_length("OP", op, 16)
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    encrypted = encryptor.update(op)
    return bytes(a ^ b for a, b in zip(op, encrypted, strict=True))


@dataclass(frozen=True, slots=True)
class Outputs:
    """f2-f5 and f5* for one RAND, from one TEMP."""

    res: bytes
    """f2, 64 bits: RES on the UE, XRES in the network."""
    ck: bytes
    """f3, 128 bits."""
    ik: bytes
    """f4, 128 bits."""
    ak: bytes
    """f5, 48 bits."""
    ak_star: bytes
    """f5*, 48 bits: the anonymity key of resynchronisation."""


@dataclass(frozen=True, slots=True)
class AuthenticationVector:
    """The network side of one EPS AKA run (TS 33.401 6.1.1), before KASME is derived."""

    rand: bytes
    xres: bytes
    autn: bytes
    ck: bytes
    ik: bytes
    sqn_xor_ak: bytes
    """SQN xor AK, the first six octets of AUTN and an input to KASME (TS 33.401 A.2)."""


@dataclass(frozen=True, slots=True)
class ChallengeResponse:
    """What the USIM computes from a verified (RAND, AUTN) (TS 33.102 6.3.3)."""

    sqn: int
    amf: bytes
    res: bytes
    ck: bytes
    ik: bytes
    sqn_xor_ak: bytes


@dataclass(frozen=True, slots=True)
class Milenage:
    """MILENAGE for one subscriber (K, OPc)."""

    key: bytes
    opc: bytes

    def __post_init__(self) -> None:
        _check_length("K", self.key, KEY_LENGTH)
        _check_length("OPc", self.opc, 16)

    @classmethod
    def with_op(cls, key: bytes, op: bytes) -> Milenage:
        """Build from OP rather than OPc (OPc computed as in TS 35.206 4.1)."""
        return cls(key, compute_opc(key, op))

    # --- the kernel and the intermediate values of TS 35.207 ---------------------------------

    def _encrypt(self, blocks: bytes) -> bytes:
        return Cipher(algorithms.AES(self.key), modes.ECB()).encryptor().update(blocks)

    def temp(self, rand: bytes) -> bytes:
        """TEMP = E_K(RAND xor OPc)."""
        _check_length("RAND", rand, RAND_LENGTH)
        return self._encrypt(bytes(a ^ b for a, b in zip(rand, self.opc, strict=True)))

    def out1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """OUT1, whose halves are f1 (MAC-A) and f1* (MAC-S)."""
        _check_length("SQN", sqn, SQN_LENGTH)
        _check_length("AMF", amf, AMF_LENGTH)
        opc = int.from_bytes(self.opc)
        temp = int.from_bytes(self.temp(rand))
        in1 = int.from_bytes(sqn + amf + sqn + amf)
        block = temp ^ _rotate(in1 ^ opc, ROTATIONS[0]) ^ CONSTANTS[0]
        encrypted = int.from_bytes(self._encrypt(block.to_bytes(16)))
        return (encrypted ^ opc).to_bytes(16)

    def out2_to_out5(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        """OUT2..OUT5, enciphered in one call to the AES kernel."""
        opc = int.from_bytes(self.opc)
        temp_xor_opc = int.from_bytes(self.temp(rand)) ^ opc
        blocks = b"".join(
            (_rotate(temp_xor_opc, rotation) ^ constant).to_bytes(16)
            for rotation, constant in zip(ROTATIONS[1:], CONSTANTS[1:], strict=True)
        )
        encrypted = self._encrypt(blocks)
        outs = tuple(
            (int.from_bytes(encrypted[i : i + 16]) ^ opc).to_bytes(16) for i in range(0, 64, 16)
        )
        return outs[0], outs[1], outs[2], outs[3]

    # --- the functions of TS 35.206 ----------------------------------------------------------

    def f1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """MAC-A, the network authentication code (64 bits)."""
        return self.out1(rand, sqn, amf)[:8]

    def f1_star(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """MAC-S, the resynchronisation authentication code (64 bits)."""
        return self.out1(rand, sqn, amf)[8:]

    def f2_to_f5_star(self, rand: bytes) -> Outputs:
        """RES, CK, IK, AK and AK* for one RAND."""
        out2, out3, out4, out5 = self.out2_to_out5(rand)
        return Outputs(res=out2[8:], ck=out3, ik=out4, ak=out2[:6], ak_star=out5[:6])

    def f5_star(self, rand: bytes) -> bytes:
        return self.f2_to_f5_star(rand).ak_star

    # --- authentication (TS 33.102 6.3) ------------------------------------------------------

    def generate_vector(self, rand: bytes, sqn: int, amf: bytes) -> AuthenticationVector:
        """An authentication vector for SQN (TS 33.102 6.3.2); the caller chooses RAND."""
        sqn_bytes = _sqn_bytes(sqn)
        outputs = self.f2_to_f5_star(rand)
        sqn_xor_ak = _xor(sqn_bytes, outputs.ak)
        mac_a = self.f1(rand, sqn_bytes, amf)
        return AuthenticationVector(
            rand=rand,
            xres=outputs.res,
            autn=sqn_xor_ak + amf + mac_a,
            ck=outputs.ck,
            ik=outputs.ik,
            sqn_xor_ak=sqn_xor_ak,
        )

    def respond(self, rand: bytes, autn: bytes) -> ChallengeResponse:
        """The USIM's side: recover SQN from AUTN and check MAC-A (TS 33.102 6.3.3). Raises
        `AuthenticationFailure` on a wrong MAC-A; judging SQN freshness is the caller's job."""
        _check_length("AUTN", autn, 16)
        outputs = self.f2_to_f5_star(rand)
        sqn_xor_ak, amf, mac_a = autn[:6], autn[6:8], autn[8:]
        sqn = _xor(sqn_xor_ak, outputs.ak)
        if not hmac.compare_digest(self.f1(rand, sqn, amf), mac_a):
            raise AuthenticationFailure("MAC-A in AUTN does not verify")
        return ChallengeResponse(
            sqn=int.from_bytes(sqn),
            amf=amf,
            res=outputs.res,
            ck=outputs.ck,
            ik=outputs.ik,
            sqn_xor_ak=sqn_xor_ak,
        )

    def synchronisation_failure(self, rand: bytes, sqn_ms: int) -> bytes:
        """AUTS = SQN_MS xor AK* || MAC-S, sent by a USIM that finds SQN out of range."""
        sqn_bytes = _sqn_bytes(sqn_ms)
        ak_star = self.f5_star(rand)
        return _xor(sqn_bytes, ak_star) + self.f1_star(rand, sqn_bytes, RESYNCHRONISATION_AMF)

    def resynchronise(self, rand: bytes, auts: bytes) -> int:
        """SQN_MS from AUTS after checking MAC-S (TS 33.102 6.3.5); `AuthenticationFailure`
        if MAC-S does not verify."""
        _check_length("AUTS", auts, 14)
        sqn_ms = _xor(auts[:6], self.f5_star(rand))
        mac_s = self.f1_star(rand, sqn_ms, RESYNCHRONISATION_AMF)
        if not hmac.compare_digest(mac_s, auts[6:]):
            raise AuthenticationFailure("MAC-S in AUTS does not verify")
        return int.from_bytes(sqn_ms)


def _sqn_bytes(sqn: int) -> bytes:
    if not 0 <= sqn <= SQN_MAX:
        raise ValueError(f"SQN {sqn} outside 0..2**48-1")
    return sqn.to_bytes(SQN_LENGTH)


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))
