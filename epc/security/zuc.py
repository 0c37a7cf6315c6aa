"""ZUC and the 128-EEA3 / 128-EIA3 algorithms built on it, in pure Python.

Follows the ETSI/SAGE specification "128-EEA3 & 128-EIA3" (3GPP TS 35.221 = Document 1,
EEA3/EIA3; TS 35.222 = Document 2, ZUC). The LFSR cells are 31-bit ints in GF(2^31 - 1),
the FSM registers R1, R2 and all words 32-bit ints, most significant byte first as the
documents print them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

_MASK_32 = 0xFFFFFFFF
_MODULUS = 0x7FFFFFFF  # 2^31 - 1
INITIALISATION_ROUNDS = 32

# Document 2, 3.5: the 15-bit constants d_i of the key loading.
_D = (
    0x44D7, 0x26BC, 0x626B, 0x135E, 0x5789, 0x35E2, 0x7135, 0x09AF,
    0x4D78, 0x2F13, 0x6BC4, 0x1AF1, 0x5E26, 0x3C4D, 0x789A, 0x47AC,
)  # fmt: skip

# Document 2, 3.4.2: the S-boxes S0 and S1.
_S0 = bytes.fromhex(
    "3e725b47cae0003304d1549809b96dcb"
    "7b1bf932af9d6aa5b82dfc1d08530390"
    "4d4e8499e4ced991ddb685488b296eac"
    "cdc1f81e734369c6b5bdfd396320d438"
    "767db2a7cfed57c5f32cbb142106559b"
    "e3ef5e314f7f5aa40d8251495fba581c"
    "4a16d517a892241f8cffd8ae2e01d3ad"
    "3b4bda46ebc9de9a8f87d73a806f2fc8"
    "b1b437f70a2213287ccc3c89c7c39656"
    "07bf7ef00b2b975235417961a64c10fe"
    "bc2695888ab0a3fbc01894f2e1e5e95d"
    "d0dc1166645cec59427512f5749caa23"
    "0e86abbe2a02e767e644a26cc2939ff1"
    "f6fa36d250689e6271153dd640c4e20f"
    "8e83776b25053f0c30ea70b7a1e8a965"
    "8d271adb81b3a0f4457a19dfee783460"
)
_S1 = bytes.fromhex(
    "55c263713bc847869f3cda5b29aafd77"
    "8cc5940ca61a1300e3a8167240f9f842"
    "4426689681d9453e1076c6a78b3943e1"
    "3ab5562ac06db3052266bfdc0bfa6248"
    "dd20110636c9c1cff62752bb69f5d487"
    "7f844cd29c57a4bc4f9adffed68d7aeb"
    "2b53d85ca11417fb23d57d3067730809"
    "eeb7703f61b2198e4ee54b938f5ddba9"
    "adf1ae2ecb0dfcf42d466e1d97e8d1e9"
    "4d37a5755e839eab829db91ce0cd4989"
    "01b6bd5824a25f387899159050b895e4"
    "d091c7ceed0fb46fa0ccf0024a79c3de"
    "a3efea51e66b18ec1b2c80f774e7ff21"
    "5a6a541e41319235c433070aba7e0e34"
    "88b1987cf33d606c7bcad31f32650428"
    "64be859b2f598ad7b025acaf1203e2f2"
)

# S(x) = S0(x0) || S1(x1) || S0(x2) || S1(x3) (Document 2, 3.4.2), as four word tables.
_SBOX_0 = tuple(b << 24 for b in _S0)
_SBOX_1 = tuple(b << 16 for b in _S1)
_SBOX_2 = tuple(b << 8 for b in _S0)
_SBOX_3 = tuple(_S1)


def _rotate(x: int, bits: int) -> int:
    return ((x << bits) | (x >> (32 - bits))) & _MASK_32


def _l1(x: int) -> int:
    """L1 of Document 2, 3.4.3."""
    return x ^ _rotate(x, 2) ^ _rotate(x, 10) ^ _rotate(x, 18) ^ _rotate(x, 24)


def _l2(x: int) -> int:
    """L2 of Document 2, 3.4.3."""
    return x ^ _rotate(x, 8) ^ _rotate(x, 14) ^ _rotate(x, 22) ^ _rotate(x, 30)


def _linear_tables(function: Callable[[int], int]) -> tuple[tuple[int, ...], ...]:
    """L1 and L2 are linear over GF(2), so L(x) is the xor of L applied to each octet of x in
    place: four tables, one per octet position (most significant first)."""
    return tuple(
        tuple(function(value << shift) for value in range(256)) for shift in (24, 16, 8, 0)
    )


_L1_0, _L1_1, _L1_2, _L1_3 = _linear_tables(_l1)
_L2_0, _L2_1, _L2_2, _L2_3 = _linear_tables(_l2)


@dataclass(frozen=True, slots=True)
class State:
    """The LFSR cells s0..s15 and FSM registers R1, R2 (Document 2, 3.2)."""

    lfsr: tuple[int, ...]
    r1: int
    r2: int


def initialise(key: bytes, iv: bytes) -> State:
    """Key loading and the 32 rounds of the initialisation mode (Document 2, 3.5, 3.6.1): the
    state Document 3 prints "after completion of the initialisation mode"."""
    if len(key) != 16 or len(iv) != 16:
        raise ValueError("ZUC takes a 16-octet key and a 16-octet IV")
    lfsr = tuple((key[i] << 23) | (_D[i] << 8) | iv[i] for i in range(16))
    _, state = _run(State(lfsr, 0, 0), INITIALISATION_ROUNDS, initialisation=True)
    return state


def keystream(state: State, word_count: int) -> list[int]:
    """The working mode (Document 2, 3.6.2) from an initialised state: the first step's
    output is discarded, then one keystream word Z per step."""
    output, _ = _run(state, word_count + 1, initialisation=False)
    return output


def _run(state: State, steps: int, *, initialisation: bool) -> tuple[list[int], State]:
    """`steps` clocks of bit reorganisation, F and the LFSR (Document 2, 3.3-3.6), with every
    cell in a local variable: one step is a few dozen int operations and table lookups."""
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15 = state.lfsr
    r1, r2 = state.r1, state.r2
    b0, b1, b2, b3 = _SBOX_0, _SBOX_1, _SBOX_2, _SBOX_3
    l10, l11, l12, l13 = _L1_0, _L1_1, _L1_2, _L1_3
    l20, l21, l22, l23 = _L2_0, _L2_1, _L2_2, _L2_3
    mask, modulus = _MASK_32, _MODULUS
    output: list[int] = []
    for step in range(steps):
        # Bit reorganisation (3.3.2): X0..X2 from the high (bits 30-15) and low (15-0) halves.
        x0 = ((s15 & 0x7FFF8000) << 1) | (s14 & 0xFFFF)
        x1 = ((s11 & 0xFFFF) << 16) | (s9 >> 15)
        x2 = ((s7 & 0xFFFF) << 16) | (s5 >> 15)
        # F (3.4): W = (X0 xor R1) + R2; R1 = S(L1(W1L || W2H)), R2 = S(L2(W2L || W1H)),
        # with L1/L2 read off the octets of W1 and W2 directly.
        w = ((x0 ^ r1) + r2) & mask
        w1 = (r1 + x1) & mask
        w2 = r2 ^ x2
        u = l10[(w1 >> 8) & 0xFF] ^ l11[w1 & 0xFF] ^ l12[w2 >> 24] ^ l13[(w2 >> 16) & 0xFF]
        v = l20[(w2 >> 8) & 0xFF] ^ l21[w2 & 0xFF] ^ l22[w1 >> 24] ^ l23[(w1 >> 16) & 0xFF]
        r1 = b0[u >> 24] | b1[(u >> 16) & 0xFF] | b2[(u >> 8) & 0xFF] | b3[u & 0xFF]
        r2 = b0[v >> 24] | b1[(v >> 16) & 0xFF] | b2[(v >> 8) & 0xFF] | b3[v & 0xFF]
        # The LFSR (3.3.1) in GF(2^31 - 1): 2^15 s15 + 2^17 s13 + 2^21 s10 + 2^20 s4
        # + (1 + 2^8) s0, plus W >> 1 while initialising; 0 is represented as 2^31 - 1.
        feedback = (s15 << 15) + (s13 << 17) + (s10 << 21) + (s4 << 20) + (s0 << 8) + s0
        if initialisation:
            feedback += w >> 1
        elif step:
            output.append(w ^ (((s2 & 0xFFFF) << 16) | (s0 >> 15)))
        feedback %= modulus
        s0, s1, s2, s3, s4, s5, s6, s7 = s1, s2, s3, s4, s5, s6, s7, s8
        s8, s9, s10, s11, s12, s13, s14, s15 = s9, s10, s11, s12, s13, s14, s15, feedback or modulus
    lfsr = (s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15)
    return output, State(lfsr, r1, r2)


def generate_keystream(key: bytes, iv: bytes, word_count: int) -> list[int]:
    """Z1..Z_n for a key and IV (Document 2, 3.6)."""
    return keystream(initialise(key, iv), word_count)


def _check_bits(data: bytes, length: int) -> int:
    octets = (length + 7) // 8
    if length < 0 or len(data) < octets:
        raise ValueError(f"{length} bits need {octets} octets of data, got {len(data)}")
    return octets


# --- 128-EEA3 ---------------------------------------------------------------------------------


def eea3(key: bytes, count: int, bearer: int, direction: int, data: bytes, length: int) -> bytes:
    """128-EEA3 (Document 1, 3): encrypts or decrypts the first `length` bits of `data`; bits
    past `length` in the last output octet are zero."""
    octets = _check_bits(data, length)
    if octets == 0:
        return b""
    # Document 1, 3.3: IV0..IV3 = COUNT, IV4 = BEARER || DIRECTION || 00, IV5..IV7 = 0 and
    # IV8..IV15 = IV0..IV7.
    iv_head = count.to_bytes(4) + bytes((((bearer & 0x1F) << 3) | ((direction & 1) << 2), 0, 0, 0))
    words = generate_keystream(key, iv_head + iv_head, -(-length // 32))
    keystream_bytes = struct.pack(f">{len(words)}I", *words)[:octets]
    result = int.from_bytes(data[:octets]) ^ int.from_bytes(keystream_bytes)
    spare = 8 * octets - length
    return ((result >> spare) << spare).to_bytes(octets)


# --- 128-EIA3 ---------------------------------------------------------------------------------

# For each octet value, the right shifts that pick, out of a 40-bit keystream window starting
# at the octet's first bit, the 32-bit word z_i of each set message bit i (MSB first).
_SET_BIT_SHIFTS = tuple(
    tuple(8 - bit for bit in range(8) if value & (0x80 >> bit)) for value in range(256)
)


def eia3(key: bytes, count: int, bearer: int, direction: int, message: bytes, length: int) -> bytes:
    """128-EIA3 (Document 1, 4): the 32-bit MAC over the first `length` bits of `message`."""
    octets = _check_bits(message, length)
    # Document 1, 4.3: IV0..IV3 = COUNT, IV4 = BEARER || 000, IV5..IV7 = 0, IV8 = IV0 xor
    # DIRECTION << 7, IV9..IV13 = IV1..IV5, IV14 = IV6 xor DIRECTION << 7, IV15 = IV7.
    direction_bit = (direction & 1) << 7
    head = count.to_bytes(4) + bytes(((bearer & 0x1F) << 3, 0, 0, 0))
    iv = head + bytes((head[0] ^ direction_bit,)) + head[1:6] + bytes((direction_bit, 0))
    word_count = -(-length // 32) + 2
    words = generate_keystream(key, iv, word_count)
    # Document 1, 4.4-4.5: T is the xor of z_i, the keystream word starting at bit i, over the
    # set message bits i; then T ^= z_LENGTH, and MAC = T ^ z_(32(L-1)), the last word.
    z = struct.pack(f">{word_count}I", *words)
    shifts = _SET_BIT_SHIFTS
    t = 0
    for index in range(octets):
        value = message[index]
        if index == octets - 1 and length % 8:
            value &= (0xFF << (8 - length % 8)) & 0xFF
        if value:
            window = int.from_bytes(z[index : index + 5])
            for shift in shifts[value]:
                t ^= window >> shift
    t &= _MASK_32
    t ^= (int.from_bytes(z[length // 8 : length // 8 + 5]) >> (8 - length % 8)) & _MASK_32
    return (t ^ words[-1]).to_bytes(4)
