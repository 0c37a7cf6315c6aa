"""The EPS ciphering (EEA0-3) and integrity (EIA0-3) algorithms behind one interface.

`cipher(algorithm, ...)` and `compute_mac(algorithm, ...)` take the algorithm identity as
the UE and MME exchange it (TS 24.301 9.9.3.23, TS 33.401 5.1.3.2/5.1.4.2) and the inputs of
TS 33.401 Annex B: a 128-bit KEY, the 32-bit COUNT, the 5-bit BEARER identity, the 1-bit
DIRECTION (0 uplink, 1 downlink) and the LENGTH of the data in bits. LENGTH need not be a
multiple of 8; output bits past LENGTH in the last octet are zero.

- EEA0/EIA0: null ciphering; a MAC of 32 zero bits (TS 33.401 5.1.4.1).
- EEA1/EIA1: SNOW 3G f8/f9 (B.1.2, B.2.2); EIA1's FRESH is BEARER followed by 27 zero bits.
- EEA2: AES-128 in CTR mode, first counter block COUNT || BEARER || DIRECTION || 0^26 || 0^64
  (B.1.3). EIA2: the 32 most significant bits of AES-CMAC over COUNT || BEARER || DIRECTION
  || 0^26 || MESSAGE (B.2.3); byte-aligned messages go to `cryptography`'s CMAC, others to a
  bit-granular CMAC (NIST SP 800-38B) over `cryptography`'s AES.
- EEA3/EIA3: ZUC-based 128-EEA3/128-EIA3 (B.1.4, B.2.4).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from epc.security import snow3g, zuc
from epc.security.errors import UnsupportedAlgorithm

MAC_LENGTH = 4
KEY_LENGTH = 16


class CipheringAlgorithm(IntEnum):
    """EPS encryption algorithm identities (TS 33.401 5.1.3.2)."""

    EEA0 = 0
    EEA1 = 1
    EEA2 = 2
    EEA3 = 3


class IntegrityAlgorithm(IntEnum):
    """EPS integrity algorithm identities (TS 33.401 5.1.4.2)."""

    EIA0 = 0
    EIA1 = 1
    EIA2 = 2
    EIA3 = 3


class Direction(IntEnum):
    """The DIRECTION input (TS 33.401 B.1.1)."""

    UPLINK = 0
    DOWNLINK = 1


_MASK_128 = (1 << 128) - 1
_CMAC_REDUCTION = 0x87  # NIST SP 800-38B 5.3: R128


def _octets(data: bytes, length: int) -> int:
    octets = (length + 7) // 8
    if length < 0 or len(data) < octets:
        raise ValueError(f"{length} bits need {octets} octets of data, got {len(data)}")
    return octets


def _clear_spare_bits(data: bytes, length: int) -> bytes:
    spare = -length % 8
    if not spare or not data:
        return data
    return data[:-1] + bytes((data[-1] & (0xFF << spare) & 0xFF,))


def _iv_octet(bearer: int, direction: int) -> int:
    """BEARER (5 bits) || DIRECTION (1 bit) || 00, the fifth octet of the AES inputs."""
    return ((bearer & 0x1F) << 3) | ((direction & 1) << 2)


# --- ciphering ---------------------------------------------------------------------------------


def _eea0(key: bytes, count: int, bearer: int, direction: int, data: bytes, length: int) -> bytes:
    return _clear_spare_bits(data[: _octets(data, length)], length)


def _eea1(key: bytes, count: int, bearer: int, direction: int, data: bytes, length: int) -> bytes:
    return snow3g.f8(key, count, bearer, direction, data, length)


def _eea2(key: bytes, count: int, bearer: int, direction: int, data: bytes, length: int) -> bytes:
    octets = _octets(data, length)
    counter = count.to_bytes(4) + bytes((_iv_octet(bearer, direction),)) + bytes(11)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    return _clear_spare_bits(encryptor.update(data[:octets]), length)


def _eea3(key: bytes, count: int, bearer: int, direction: int, data: bytes, length: int) -> bytes:
    return zuc.eea3(key, count, bearer, direction, data, length)


# --- integrity ---------------------------------------------------------------------------------


def _eia0(key: bytes, count: int, bearer: int, direction: int, data: bytes, length: int) -> bytes:
    _octets(data, length)
    return bytes(MAC_LENGTH)


def _eia1(key: bytes, count: int, bearer: int, direction: int, data: bytes, length: int) -> bytes:
    fresh = (bearer & 0x1F) << 27
    return snow3g.f9(key, count, fresh, direction, data, length)


def _eia2(key: bytes, count: int, bearer: int, direction: int, data: bytes, length: int) -> bytes:
    octets = _octets(data, length)
    header = count.to_bytes(4) + bytes((_iv_octet(bearer, direction), 0, 0, 0))
    if length % 8 == 0:
        cmac = CMAC(algorithms.AES(key))
        cmac.update(header)
        cmac.update(data[:octets])
        return cmac.finalize()[:MAC_LENGTH]
    return aes_cmac_bits(key, header + data[:octets], length + 64)[:MAC_LENGTH]


def _eia3(key: bytes, count: int, bearer: int, direction: int, data: bytes, length: int) -> bytes:
    return zuc.eia3(key, count, bearer, direction, data, length)


def _double(value: int) -> int:
    """Multiplication by x in GF(2^128), the subkey step of NIST SP 800-38B 6.1."""
    return ((value << 1) & _MASK_128) ^ (_CMAC_REDUCTION if value >> 127 else 0)


def aes_cmac_bits(key: bytes, data: bytes, length: int) -> bytes:
    """AES-CMAC (NIST SP 800-38B 6.2) over the first `length` bits of `data`, which need not
    fill the last octet: the 10* padding starts right after bit `length`."""
    octets = _octets(data, length)
    subkey_source = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(bytes(16))
    k1 = _double(int.from_bytes(subkey_source))
    k2 = _double(k1)
    blocks = max(1, -(-length // 128))
    message = int.from_bytes(data[:octets]) >> (8 * octets - length)
    padding = 128 * blocks - length
    if length and not padding:
        message ^= k1
    else:
        message = (((message << 1) | 1) << (padding - 1)) ^ k2
    chained = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    return chained.update(message.to_bytes(16 * blocks))[-16:]


# --- the interface -----------------------------------------------------------------------------

_Function = Callable[[bytes, int, int, int, bytes, int], bytes]

_CIPHERS: dict[int, _Function] = {0: _eea0, 1: _eea1, 2: _eea2, 3: _eea3}
_INTEGRITY: dict[int, _Function] = {0: _eia0, 1: _eia1, 2: _eia2, 3: _eia3}


def cipher(
    algorithm: int,
    key: bytes,
    count: int,
    bearer: int,
    direction: int,
    data: bytes,
    length: int | None = None,
) -> bytes:
    """Encrypt or decrypt (the same operation) the first `length` bits of `data` (all of it
    by default) with EEA`algorithm`."""
    function = _CIPHERS.get(algorithm)
    if function is None:
        raise UnsupportedAlgorithm(f"no ciphering algorithm EEA{algorithm}")
    return function(
        key, count, bearer, direction, data, 8 * len(data) if length is None else length
    )


def compute_mac(
    algorithm: int,
    key: bytes,
    count: int,
    bearer: int,
    direction: int,
    message: bytes,
    length: int | None = None,
) -> bytes:
    """The 32-bit MAC-I/NAS-MAC of EIA`algorithm` over the first `length` bits of
    `message` (all of it by default)."""
    function = _INTEGRITY.get(algorithm)
    if function is None:
        raise UnsupportedAlgorithm(f"no integrity algorithm EIA{algorithm}")
    return function(
        key, count, bearer, direction, message, 8 * len(message) if length is None else length
    )
