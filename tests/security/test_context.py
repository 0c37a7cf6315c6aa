"""The NAS security context: protection per TS 24.301 4.4 and 9.1, NAS COUNT handling and
replay detection (4.4.3), and the SERVICE REQUEST short MAC (8.2.25, 9.9.3.19, 9.9.3.28).

Layout checks recompute the expected octets independently with `cryptography` (AES-CTR,
AES-CMAC) from the TS 33.401 8.1.1/8.2 and B.1.3/B.2.3 input construction, so a wiring
mistake in the context cannot hide behind the same mistake in `algorithms`.
"""

from __future__ import annotations

import msgspec
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from epc.security.algorithms import Direction
from epc.security.context import (
    NasSecurityContext,
    SecurityHeaderType,
    security_header_type,
)
from epc.security.errors import (
    CountExhausted,
    IntegrityCheckFailed,
    KeySetIdentifierMismatch,
    MalformedSecurityHeader,
    NotSecurityProtected,
    ReplayDetected,
    SecurityError,
)
from epc.security.kdf import derive_kenb

pytestmark = pytest.mark.codec

# KASME and its EEA2/EIA2 NAS keys: OAI openair-cn/TEST/test_secu_knas.c (see test_kdf.py).
KASME = bytes.fromhex("70D7071AA016A087F9D888AD51F3A83E2C83443AB27843B35BD1B4923615091C")
KNAS_ENC_EEA2 = "1cf7897f31d6270c19c4836070fe11f0"
KNAS_INT_EIA2 = "1a4329fd23fd3a93c9d2d92d853ec9db"

# An ATTACH ACCEPT-sized plain EMM message: PD 7, type 0x42, then filler.
PLAIN = bytes((0x07, 0x42)) + bytes(range(98))

ALGORITHM_PAIRS = [(c, i) for c in range(4) for i in range(4)]


def make_context(ciphering: int = 2, integrity: int = 2, ksi: int = 1) -> NasSecurityContext:
    return NasSecurityContext.create(
        kasme=KASME,
        key_set_identifier=ksi,
        ciphering_algorithm=ciphering,
        integrity_algorithm=integrity,
    )


def cmac32(key: bytes, count: int, direction: int, data: bytes) -> bytes:
    """128-EIA2 as TS 33.401 B.2.3 builds it, with BEARER = 0 for NAS."""
    mac = CMAC(algorithms.AES(key))
    mac.update(count.to_bytes(4) + bytes((direction << 2, 0, 0, 0)) + data)
    return mac.finalize()[:4]


def aes_ctr(key: bytes, count: int, direction: int, data: bytes) -> bytes:
    """128-EEA2 as TS 33.401 B.1.3 builds it, with BEARER = 0 for NAS."""
    counter = count.to_bytes(4) + bytes((direction << 2,)) + bytes(11)
    return Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor().update(data)


# --- creation and serialisation ----------------------------------------------------------------


def test_create_derives_the_nas_keys_of_ts_33401_a7() -> None:
    context = make_context()
    assert context.encryption_key.hex() == KNAS_ENC_EEA2
    assert context.integrity_key.hex() == KNAS_INT_EIA2
    assert (context.uplink_count, context.downlink_count) == (0, 0)


def test_context_round_trips_through_msgpack_and_json() -> None:
    context = make_context().protect(PLAIN, Direction.DOWNLINK).context
    for module in (msgspec.msgpack, msgspec.json):
        assert module.decode(module.encode(context), type=NasSecurityContext) == context


def test_decoding_a_context_with_a_short_key_fails_validation() -> None:
    raw = msgspec.to_builtins(make_context())
    raw["integrity_key"] = "AAAA"
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(raw), type=NasSecurityContext)


# --- protect: octet layout ---------------------------------------------------------------------


def test_ciphered_pdu_is_header_mac_sequence_number_and_aes_ctr_body() -> None:
    context = msgspec.structs.replace(make_context(), downlink_count=0x0102AB)
    protected = context.protect(PLAIN, Direction.DOWNLINK)
    pdu = protected.pdu
    body = aes_ctr(bytes.fromhex(KNAS_ENC_EEA2), 0x0102AB, 1, PLAIN)
    assert pdu[0] == 0x27  # security header type 2, EMM
    assert pdu[5] == 0xAB  # NAS sequence number: low 8 bits of the NAS COUNT
    assert pdu[6:] == body
    assert pdu[1:5] == cmac32(bytes.fromhex(KNAS_INT_EIA2), 0x0102AB, 1, pdu[5:])
    assert protected.count == 0x0102AB
    assert protected.context.downlink_count == 0x0102AC


def test_integrity_only_pdu_carries_the_plain_message() -> None:
    protected = make_context().protect(
        PLAIN, Direction.UPLINK, SecurityHeaderType.INTEGRITY_PROTECTED
    )
    assert protected.pdu[0] == 0x17
    assert protected.pdu[6:] == PLAIN
    assert protected.pdu[1:5] == cmac32(bytes.fromhex(KNAS_INT_EIA2), 0, 0, protected.pdu[5:])


@pytest.mark.parametrize(
    ("header_type", "first_octet"),
    [
        (SecurityHeaderType.INTEGRITY_PROTECTED_WITH_NEW_CONTEXT, 0x37),
        (SecurityHeaderType.INTEGRITY_PROTECTED_AND_CIPHERED_WITH_NEW_CONTEXT, 0x47),
    ],
)
def test_new_context_header_types_are_written_and_read_back(
    header_type: SecurityHeaderType, first_octet: int
) -> None:
    sender, receiver = make_context(), make_context()
    pdu = sender.protect(PLAIN, Direction.DOWNLINK, header_type).pdu
    assert pdu[0] == first_octet
    result = receiver.unprotect(pdu, Direction.DOWNLINK)
    assert (result.message, result.security_header_type) == (PLAIN, header_type)


def test_plain_header_type_cannot_be_used_to_protect() -> None:
    with pytest.raises(ValueError):
        make_context().protect(PLAIN, Direction.DOWNLINK, SecurityHeaderType.PLAIN)


# --- unprotect: every algorithm pair, both roles -----------------------------------------------


@pytest.mark.parametrize(("ciphering", "integrity"), ALGORITHM_PAIRS)
def test_mme_and_ue_exchange_messages_with_every_algorithm_pair(
    ciphering: int, integrity: int
) -> None:
    mme, ue = make_context(ciphering, integrity), make_context(ciphering, integrity)
    for index in range(3):
        message = PLAIN[:2] + bytes((index,)) * 40
        downlink = mme.protect(message, Direction.DOWNLINK)
        mme = downlink.context
        received = ue.unprotect(downlink.pdu, Direction.DOWNLINK)
        ue = received.context
        assert (received.message, received.count) == (message, index)
        uplink = ue.protect(message[::-1], Direction.UPLINK)
        ue = uplink.context
        accepted = mme.unprotect(uplink.pdu, Direction.UPLINK)
        mme = accepted.context
        assert (accepted.message, accepted.count) == (message[::-1], index)
    assert (mme.uplink_count, mme.downlink_count, ue.uplink_count, ue.downlink_count) == (3,) * 4


@pytest.mark.parametrize(("ciphering", "integrity"), [(0, 2), (1, 1), (2, 2), (3, 3)])
def test_ciphering_hides_the_message(ciphering: int, integrity: int) -> None:
    pdu = make_context(ciphering, integrity).protect(PLAIN, Direction.DOWNLINK).pdu
    assert (pdu[6:] == PLAIN) is (ciphering == 0)


# --- NAS COUNT estimation and replay (TS 24.301 4.4.3) ----------------------------------------


def test_receiver_follows_the_count_across_the_sequence_number_wrap() -> None:
    sender, receiver = make_context(), make_context()
    for expected in range(300):
        protected = sender.protect(PLAIN, Direction.UPLINK)
        accepted = receiver.unprotect(protected.pdu, Direction.UPLINK)
        assert accepted.count == expected
        sender, receiver = protected.context, accepted.context
    assert receiver.uplink_count == 300


def test_lost_messages_are_skipped_even_across_the_wrap() -> None:
    sender, receiver = make_context(), make_context()
    sender = msgspec.structs.replace(sender, uplink_count=250)
    receiver = msgspec.structs.replace(receiver, uplink_count=250)
    first = sender.protect(PLAIN, Direction.UPLINK)
    receiver = receiver.unprotect(first.pdu, Direction.UPLINK).context
    later = msgspec.structs.replace(first.context, uplink_count=260).protect(
        PLAIN, Direction.UPLINK
    )
    accepted = receiver.unprotect(later.pdu, Direction.UPLINK)
    assert (later.pdu[5], accepted.count, accepted.context.uplink_count) == (4, 260, 261)


def test_the_same_message_twice_is_a_replay() -> None:
    protected = make_context().protect(PLAIN, Direction.UPLINK)
    receiver = make_context().unprotect(protected.pdu, Direction.UPLINK).context
    with pytest.raises(ReplayDetected):
        receiver.unprotect(protected.pdu, Direction.UPLINK)


def test_an_older_message_is_estimated_in_the_future_and_fails_its_mac() -> None:
    sender, receiver = make_context(), make_context()
    old = sender.protect(PLAIN, Direction.UPLINK)
    new = old.context.protect(PLAIN, Direction.UPLINK)
    receiver = receiver.unprotect(old.pdu, Direction.UPLINK).context
    receiver = receiver.unprotect(new.pdu, Direction.UPLINK).context
    with pytest.raises(IntegrityCheckFailed):
        receiver.unprotect(old.pdu, Direction.UPLINK)


def test_eia0_has_no_replay_protection_and_no_mac_check() -> None:
    # TS 33.401 8.1.1: replay protection is off with EIA0, whose MAC is all zeros.
    protected = make_context(0, 0).protect(PLAIN, Direction.UPLINK)
    assert protected.pdu[1:5] == bytes(4)
    receiver = make_context(0, 0).unprotect(protected.pdu, Direction.UPLINK).context
    assert receiver.unprotect(protected.pdu, Direction.UPLINK).message == PLAIN


def test_sending_past_the_last_nas_count_needs_a_new_context() -> None:
    context = msgspec.structs.replace(make_context(), downlink_count=0xFFFFFF)
    last = context.protect(PLAIN, Direction.DOWNLINK)
    assert last.pdu[5] == 0xFF
    with pytest.raises(CountExhausted):
        last.context.protect(PLAIN, Direction.DOWNLINK)


def test_receiving_past_the_last_nas_count_needs_a_new_context() -> None:
    sender = msgspec.structs.replace(make_context(), uplink_count=0xFFFFFF)
    receiver = msgspec.structs.replace(make_context(), uplink_count=0xFFFFFF)
    accepted = receiver.unprotect(sender.protect(PLAIN, Direction.UPLINK).pdu, Direction.UPLINK)
    forged = bytes((0x27, 0, 0, 0, 0, 0x00)) + PLAIN
    with pytest.raises(CountExhausted):
        accepted.context.unprotect(forged, Direction.UPLINK)


# --- rejection of bad input --------------------------------------------------------------------


@pytest.mark.parametrize("octet", [1, 2, 3, 4, 5, 6, 10, 60])
def test_any_flipped_bit_after_the_header_fails_integrity(octet: int) -> None:
    pdu = bytearray(make_context().protect(PLAIN, Direction.DOWNLINK).pdu)
    pdu[octet] ^= 0x10
    with pytest.raises(IntegrityCheckFailed):
        make_context().unprotect(bytes(pdu), Direction.DOWNLINK)


def test_a_message_for_the_other_direction_fails_integrity() -> None:
    pdu = make_context().protect(PLAIN, Direction.DOWNLINK).pdu
    with pytest.raises(IntegrityCheckFailed):
        make_context().unprotect(pdu, Direction.UPLINK)


def test_a_context_with_other_keys_fails_integrity() -> None:
    pdu = make_context().protect(PLAIN, Direction.DOWNLINK).pdu
    other = NasSecurityContext.create(
        kasme=bytes(32), key_set_identifier=1, ciphering_algorithm=2, integrity_algorithm=2
    )
    with pytest.raises(IntegrityCheckFailed):
        other.unprotect(pdu, Direction.DOWNLINK)


@pytest.mark.parametrize(
    ("pdu", "error"),
    [
        (b"", MalformedSecurityHeader),
        (bytes((0x27, 1, 2, 3)), MalformedSecurityHeader),
        (bytes((0x07, 0x41, 0x71)), NotSecurityProtected),
        (bytes((0x22, 0, 0, 0, 0, 0, 0xC1, 0)), MalformedSecurityHeader),  # ESM PD
        (bytes((0x57, 0, 0, 0, 0, 0, 0x07, 0x4D)), MalformedSecurityHeader),  # type 5
        (bytes((0x87, 0, 0, 0, 0, 0, 0x07, 0x41)), MalformedSecurityHeader),  # reserved
        (bytes((0xC7, 0x20, 0xAB, 0xCD)), MalformedSecurityHeader),  # SERVICE REQUEST
    ],
)
def test_malformed_or_unprotected_input_raises_a_typed_error(
    pdu: bytes, error: type[SecurityError]
) -> None:
    with pytest.raises(error):
        make_context().unprotect(pdu, Direction.UPLINK)


def test_security_header_type_reads_octet_1_and_folds_13_to_15_into_12() -> None:
    assert security_header_type(bytes((0x27,))) == 2
    assert [security_header_type(bytes((t << 4 | 7,))) for t in (12, 13, 15)] == [12, 12, 12]


# --- SERVICE REQUEST ---------------------------------------------------------------------------


def test_service_request_layout_is_header_ksi_sequence_number_and_short_mac() -> None:
    ue = msgspec.structs.replace(make_context(ksi=3), uplink_count=0x000123)
    pdu = ue.protect_service_request().pdu
    assert len(pdu) == 4
    assert pdu[0] == 0xC7
    assert pdu[1] == (3 << 5) | (0x123 & 0x1F)
    assert pdu[2:] == cmac32(bytes.fromhex(KNAS_INT_EIA2), 0x123, 0, pdu[:2])[2:]


def test_mme_verifies_service_request_and_reports_the_count_for_kenb() -> None:
    ue = msgspec.structs.replace(make_context(ksi=3), uplink_count=40)
    mme = msgspec.structs.replace(make_context(ksi=3), uplink_count=38)
    request = ue.protect_service_request()
    verified = mme.verify_service_request(request.pdu)
    assert (verified.key_set_identifier, verified.count) == (3, 40)
    assert verified.context.uplink_count == 41
    assert derive_kenb(verified.context.kasme, verified.count) == derive_kenb(KASME, 40)


def test_service_request_sequence_number_wraps_every_32() -> None:
    ue, mme = make_context(), make_context()
    for expected in range(70):
        request = ue.protect_service_request()
        verified = mme.verify_service_request(request.pdu)
        assert verified.count == expected
        ue, mme = request.context, verified.context


def test_service_request_replay_and_tampering_are_rejected() -> None:
    request = make_context().protect_service_request()
    mme = make_context().verify_service_request(request.pdu).context
    with pytest.raises(ReplayDetected):
        mme.verify_service_request(request.pdu)
    tampered = request.pdu[:3] + bytes((request.pdu[3] ^ 1,))
    with pytest.raises(IntegrityCheckFailed):
        make_context().verify_service_request(tampered)


def test_service_request_with_another_ksi_asks_for_authentication() -> None:
    request = make_context(ksi=2).protect_service_request()
    with pytest.raises(KeySetIdentifierMismatch):
        make_context(ksi=1).verify_service_request(request.pdu)


@pytest.mark.parametrize(
    "pdu", [bytes((0xC7, 0x20, 0xAB)), bytes((0x27, 0x20, 0xAB, 0xCD)), bytes((0xC2, 0, 0, 0))]
)
def test_malformed_service_request_is_refused(pdu: bytes) -> None:
    with pytest.raises(MalformedSecurityHeader):
        make_context().verify_service_request(pdu)


def test_context_refuses_algorithms_outside_eea0_3_and_eia0_3() -> None:
    with pytest.raises(ValueError):
        make_context(ciphering=4)
    with pytest.raises(ValueError):
        make_context(integrity=7)
