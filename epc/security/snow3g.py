"""SNOW 3G and the UEA2/UIA2 functions f8 and f9 built on it, in pure Python.

Follows the ETSI/SAGE specification "UEA2 & UIA2" (3GPP TS 35.215 = Document 1, f8/f9;
TS 35.216 = Document 2, SNOW 3G). 128-EEA1 and 128-EIA1 (TS 33.401 B.1.2, B.2.2) are f8
and f9 with the EPS inputs, see `epc.security.algorithms`.

Words are 32-bit ints, most significant byte first, as the documents print them. The S-boxes
are built at import from their definitions (Document 2, 3.3): SR is the AES S-box and SQ the
Dickson polynomial g49 over GF(2^8) mod x^8+x^6+x^5+x^3+1, xored with 0x25. S1 and S2 are
then folded with MixColumn into four 256-entry tables each, and MULalpha/DIValpha into one
table each, so that one FSM/LFSR clock is a handful of lookups on ints.
"""

from __future__ import annotations

from collections.abc import Sequence

_MASK_32 = 0xFFFFFFFF
_MASK_64 = 0xFFFFFFFFFFFFFFFF

# Document 2, 3.1.1 / 3.3: reduction constants of MULx.
_ALPHA_REDUCTION = 0xA9
_S1_REDUCTION = 0x1B
_S2_REDUCTION = 0x69
_SQ_MODULUS = 0x169  # x^8 + x^6 + x^5 + x^3 + 1
_SQ_CONSTANT = 0x25
_SQ_EXPONENTS = (1, 9, 13, 15, 33, 41, 45, 47, 49)  # g49(x), Document 2, 3.3.3
# Document 1, 4.3: the reduction constant of MUL64 in UIA2, x^64 + x^4 + x^3 + x + 1.
_MUL64_REDUCTION = 0x1B
# Document 2, 4.1: "1" in the LFSR initialisation stands for the all-ones word.
_ALL_ONES = 0xFFFFFFFF
INITIALISATION_CLOCKS = 32


# --- tables ------------------------------------------------------------------------------------


def _mul_x(value: int, reduction: int) -> int:
    """MULx of Document 2, 3.1.1."""
    return ((value << 1) & 0xFF) ^ reduction if value & 0x80 else value << 1


def _mul_x_power(value: int, power: int, reduction: int) -> int:
    for _ in range(power):
        value = _mul_x(value, reduction)
    return value


def _gf_multiply(a: int, b: int, modulus: int) -> int:
    result = 0
    while b:
        if b & 1:
            result ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= modulus
    return result


def _aes_sbox() -> list[int]:
    """SR, the AES S-box: the affine map of the inverse in GF(2^8) mod x^8+x^4+x^3+x+1,
    inverses taken from exp/log tables of the generator x+1."""
    exp, log = [0] * 255, [0] * 256
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        value = _gf_multiply(value, 3, 0x11B)
    table = []
    for x in range(256):
        b = exp[(255 - log[x]) % 255] if x else 0
        value = b
        for shift in range(1, 5):
            value ^= ((b << shift) | (b >> (8 - shift))) & 0xFF
        table.append(value ^ 0x63)
    return table


def _sq_sbox() -> list[int]:
    """SQ(x) = g49(x) xor 0x25 (Document 2, 3.3.3)."""
    table = []
    for x in range(256):
        value, power = 0, 1
        for exponent in range(1, _SQ_EXPONENTS[-1] + 1):
            power = _gf_multiply(power, x, _SQ_MODULUS)
            if exponent in _SQ_EXPONENTS:
                value ^= power
        table.append(value ^ _SQ_CONSTANT)
    return table


def _mix_tables(sbox: list[int], reduction: int) -> tuple[tuple[int, ...], ...]:
    """The four tables T0..T3 with S(w) = T0[w0] ^ T1[w1] ^ T2[w2] ^ T3[w3]."""
    t0, t1, t2, t3 = [], [], [], []
    for x in range(256):
        s = sbox[x]
        double = _mul_x(s, reduction)
        triple = double ^ s
        t0.append((double << 24) | (triple << 16) | (s << 8) | s)
        t1.append((s << 24) | (double << 16) | (triple << 8) | s)
        t2.append((s << 24) | (s << 16) | (double << 8) | triple)
        t3.append((triple << 24) | (s << 16) | (s << 8) | double)
    return tuple(t0), tuple(t1), tuple(t2), tuple(t3)


def _alpha_table(powers: tuple[int, int, int, int]) -> tuple[int, ...]:
    return tuple(
        (_mul_x_power(c, powers[0], _ALPHA_REDUCTION) << 24)
        | (_mul_x_power(c, powers[1], _ALPHA_REDUCTION) << 16)
        | (_mul_x_power(c, powers[2], _ALPHA_REDUCTION) << 8)
        | _mul_x_power(c, powers[3], _ALPHA_REDUCTION)
        for c in range(256)
    )


_S1_T0, _S1_T1, _S1_T2, _S1_T3 = _mix_tables(_aes_sbox(), _S1_REDUCTION)
_S2_T0, _S2_T1, _S2_T2, _S2_T3 = _mix_tables(_sq_sbox(), _S2_REDUCTION)
_MUL_ALPHA = _alpha_table((23, 245, 48, 239))  # Document 2, 3.4.2
_DIV_ALPHA = _alpha_table((16, 39, 6, 64))  # Document 2, 3.4.3


# --- the generator -----------------------------------------------------------------------------


def generate_keystream(
    key_words: Sequence[int], iv_words: Sequence[int], word_count: int
) -> list[int]:
    """z1..z_n for key (k0, k1, k2, k3) and IV (IV0, IV1, IV2, IV3) as Document 2 names them
    (4.1 initialisation, 4.2 keystream generation)."""
    k0, k1, k2, k3 = key_words
    iv0, iv1, iv2, iv3 = iv_words
    s0, s1, s2, s3 = k0 ^ _ALL_ONES, k1 ^ _ALL_ONES, k2 ^ _ALL_ONES, k3 ^ _ALL_ONES
    s4, s5, s6, s7 = k0, k1, k2, k3
    s8, s9, s10, s11 = k0 ^ _ALL_ONES, k1 ^ _ALL_ONES ^ iv3, k2 ^ _ALL_ONES ^ iv2, k3 ^ _ALL_ONES
    s12, s13, s14, s15 = k0 ^ iv1, k1, k2, k3 ^ iv0
    r1 = r2 = r3 = 0
    s1t0, s1t1, s1t2, s1t3 = _S1_T0, _S1_T1, _S1_T2, _S1_T3
    s2t0, s2t1, s2t2, s2t3 = _S2_T0, _S2_T1, _S2_T2, _S2_T3
    mul_alpha, div_alpha = _MUL_ALPHA, _DIV_ALPHA
    mask = _MASK_32
    output: list[int] = []
    # INITIALISATION_CLOCKS clocks with the FSM output fed back, one discarded FSM output, then
    # one word per clock; the LFSR feedback differs only by the FSM word F (zero after init).
    for clock in range(INITIALISATION_CLOCKS + 1 + word_count):
        f = ((s15 + r1) & mask) ^ r2
        r = (r2 + (r3 ^ s5)) & mask
        r3 = s2t0[r2 >> 24] ^ s2t1[(r2 >> 16) & 0xFF] ^ s2t2[(r2 >> 8) & 0xFF] ^ s2t3[r2 & 0xFF]
        r2 = s1t0[r1 >> 24] ^ s1t1[(r1 >> 16) & 0xFF] ^ s1t2[(r1 >> 8) & 0xFF] ^ s1t3[r1 & 0xFF]
        r1 = r
        if clock > INITIALISATION_CLOCKS:
            output.append(f ^ s0)
            f = 0
        elif clock == INITIALISATION_CLOCKS:
            f = 0
        v = ((s0 << 8) & mask) ^ mul_alpha[s0 >> 24] ^ s2 ^ (s11 >> 8) ^ div_alpha[s11 & 0xFF] ^ f
        s0, s1, s2, s3, s4, s5, s6, s7 = s1, s2, s3, s4, s5, s6, s7, s8
        s8, s9, s10, s11, s12, s13, s14, s15 = s9, s10, s11, s12, s13, s14, s15, v
    return output


def _key_words(key: bytes) -> tuple[int, int, int, int]:
    """(k0, k1, k2, k3) from a 16-octet key: k3 is the first four octets (Document 1, 3.4/4.4:
    K[3-i] holds key octets 4i..4i+3)."""
    if len(key) != 16:
        raise ValueError(f"SNOW 3G keys are 16 octets, got {len(key)}")
    return (
        int.from_bytes(key[12:16]),
        int.from_bytes(key[8:12]),
        int.from_bytes(key[4:8]),
        int.from_bytes(key[0:4]),
    )


def _check_bits(data: bytes, length: int) -> int:
    octets = (length + 7) // 8
    if length < 0 or len(data) < octets:
        raise ValueError(f"{length} bits need {octets} octets of data, got {len(data)}")
    return octets


# --- UEA2 / f8 ---------------------------------------------------------------------------------


def f8(key: bytes, count: int, bearer: int, direction: int, data: bytes, length: int) -> bytes:
    """UEA2 (Document 1, 3): encrypts or decrypts the first `length` bits of `data`. The
    output has ceil(length / 8) octets; bits past `length` in the last octet are zero."""
    octets = _check_bits(data, length)
    if octets == 0:
        return b""
    iv_high = ((bearer & 0x1F) << 27) | ((direction & 1) << 26)
    words = generate_keystream(_key_words(key), (iv_high, count, iv_high, count), -(-length // 32))
    return _xor_keystream(words, data, octets, length)


def _xor_keystream(words: list[int], data: bytes, octets: int, length: int) -> bytes:
    keystream = 0
    for word in words:
        keystream = (keystream << 32) | word
    keystream >>= 32 * len(words) - 8 * octets
    result = int.from_bytes(data[:octets]) ^ keystream
    spare = 8 * octets - length
    return ((result >> spare) << spare).to_bytes(octets)


# --- UIA2 / f9 ---------------------------------------------------------------------------------


def _mul64_powers(p: int) -> list[int]:
    """P * x^i mod x^64+x^4+x^3+x+1 for i = 0..63 (MUL64xPOW, Document 1, 4.3.2)."""
    powers = []
    for _ in range(64):
        powers.append(p)
        p = ((p << 1) & _MASK_64) ^ (_MUL64_REDUCTION if p >> 63 else 0)
    return powers


def _mul64(v: int, powers: list[int]) -> int:
    """MUL64(V, P) (Document 1, 4.3.3) from the powers of P: one xor per set bit of V."""
    result = 0
    while v:
        lowest = v & -v
        result ^= powers[lowest.bit_length() - 1]
        v ^= lowest
    return result


def _mul64_nibble_tables(p: int) -> list[list[int]]:
    """For multiplying many V by one P: table j maps the nibble at bits 4j..4j+3 of V to its
    product with P, so MUL64(V, P) is 16 lookups."""
    powers = _mul64_powers(p)
    tables = []
    for position in range(0, 64, 4):
        b0, b1, b2, b3 = powers[position : position + 4]
        low = [0, b0, b1, b0 ^ b1, b2, b2 ^ b0, b2 ^ b1, b2 ^ b1 ^ b0]
        tables.append(low + [value ^ b3 for value in low])
    return tables


def _mul64_by_nibbles(v: int, tables: list[list[int]]) -> int:
    result = 0
    for table in tables:
        result ^= table[v & 0xF]
        v >>= 4
    return result


def f9(key: bytes, count: int, fresh: int, direction: int, message: bytes, length: int) -> bytes:
    """UIA2 (Document 1, 4): the 32-bit MAC-I over the first `length` bits of `message`."""
    octets = _check_bits(message, length)
    direction &= 1
    iv = (fresh ^ (direction << 15), count ^ (direction << 31), fresh, count)
    z1, z2, z3, z4, z5 = generate_keystream(_key_words(key), iv, 5)
    p_tables = _mul64_nibble_tables((z1 << 32) | z2)
    q = (z3 << 32) | z4
    padded = int.from_bytes(message[:octets]) >> (8 * octets - length) if length else 0
    blocks = -(-length // 64)
    padded <<= 64 * blocks - length
    evaluation = 0
    for index in range(blocks - 1, -1, -1):
        block = (padded >> (64 * index)) & _MASK_64
        evaluation = _mul64_by_nibbles(evaluation ^ block, p_tables)
    evaluation = _mul64(evaluation ^ length, _mul64_powers(q))
    return ((evaluation >> 32) ^ z5).to_bytes(4)
