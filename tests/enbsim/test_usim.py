"""The simulated USIM against the 3GPP test data and the sequence number rules of TS 33.102.

Test set 1 of TS 35.208 4.3 (K 465b5ce8..., OPc cd63cb71...) gives RES, CK, IK and AK*; the
KASME Open5GS publishes for those CK/IK (SN id 02 48 30, SQN xor AK = fd8eef40df7d xor
aa689c648370, see tests/security/test_kdf.py) checks the whole chain from AUTN to KASME.
"""

from __future__ import annotations

import pytest

from enbsim.usim import AkaAccepted, MacFailure, NonEpsAuthentication, SynchFailure, Usim
from epc.security.milenage import Milenage
from epc.subscriber import Subscriber

K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
RAND = bytes.fromhex("23553cbe9637a89d218ae64dae47bf35")
AMF = bytes.fromhex("b9b9")  # set 1's AMF: its separation bit happens to be 1
RES = "a54211d5e3ba50bf"
CK = "b40ba9a3c58b2a05bbf0d987b21bf8cb"
IK = "f769bcd751044604127672711c6d3441"
AK_STAR = "451e8beca43b"
SN_ID = bytes.fromhex("024830")
IMSI = "001010000000001"
NETWORK = Milenage(K, OPC)


def autn(sqn: int, amf: bytes = AMF, rand: bytes = RAND) -> bytes:
    return NETWORK.generate_vector(rand, sqn, amf).autn


def test_accepted_challenge_gives_the_35208_set_1_outputs_and_open5gs_kasme() -> None:
    sqn = 0xFD8EEF40DF7D
    usim = Usim(IMSI, K, OPC, sqn=sqn)
    outcome = usim.authenticate(RAND, autn(sqn), SN_ID)
    assert isinstance(outcome, AkaAccepted)
    assert (outcome.res.hex(), outcome.ck.hex(), outcome.ik.hex()) == (RES, CK, IK)
    assert outcome.kasme.hex() == (
        "238e457e0f758badbca8d34bb2612c10428d426757cb5553b2b184fa64bfc549"
    )
    assert outcome.sqn == sqn


def test_wrong_mac_a_is_a_mac_failure_and_leaves_sqn_untouched() -> None:
    usim = Usim(IMSI, K, OPC, sqn=64)
    tampered = bytearray(autn(64))
    tampered[-1] ^= 0x01
    assert isinstance(usim.authenticate(RAND, bytes(tampered), SN_ID), MacFailure)
    assert isinstance(usim.authenticate(RAND, autn(64), SN_ID), AkaAccepted)


def test_stale_sqn_is_a_synch_failure_whose_auts_carries_sqn_ms_under_ak_star() -> None:
    usim = Usim(IMSI, K, OPC, sqn=1000)
    outcome = usim.authenticate(RAND, autn(10), SN_ID)
    assert isinstance(outcome, SynchFailure)
    assert outcome.sqn == 10
    # Everything before SEQ(1000) = 31 counts as accepted: SQN_MS = SEQ 30, IND 31.
    assert outcome.sqn_ms == 30 << 5 | 31 == usim.highest_accepted_sqn
    concealed = int.from_bytes(outcome.auts[:6]) ^ outcome.sqn_ms
    assert concealed.to_bytes(6).hex() == AK_STAR
    assert NETWORK.resynchronise(RAND, outcome.auts) == outcome.sqn_ms


def test_a_replayed_challenge_is_a_synch_failure() -> None:
    usim = Usim(IMSI, K, OPC, sqn=64)
    assert isinstance(usim.authenticate(RAND, autn(64), SN_ID), AkaAccepted)
    replay = usim.authenticate(RAND, autn(64), SN_ID)
    assert isinstance(replay, SynchFailure)
    assert replay.sqn_ms == 64


def test_array_scheme_accepts_out_of_order_sqns_with_different_ind() -> None:
    usim = Usim(IMSI, K, OPC, sqn=32)  # a factory-new card: every SEQ_MS(i) is 0
    assert isinstance(usim.authenticate(RAND, autn(3 << 5 | 0), SN_ID), AkaAccepted)
    assert isinstance(usim.authenticate(RAND, autn(2 << 5 | 1), SN_ID), AkaAccepted)
    assert isinstance(usim.authenticate(RAND, autn(2 << 5 | 0), SN_ID), SynchFailure)
    assert usim.highest_accepted_sqn == 3 << 5


def test_network_stepping_sqn_by_one_is_accepted_every_time() -> None:
    usim = Usim(IMSI, K, OPC, sqn=100)
    for sqn in range(100, 140):
        assert isinstance(usim.authenticate(RAND, autn(sqn), SN_ID), AkaAccepted), sqn


def test_sqn_jumping_more_than_delta_ahead_is_a_synch_failure() -> None:
    usim = Usim(IMSI, K, OPC, sqn=32)
    # SEQ_MS is 0 everywhere: SEQ may reach delta = 2**28, not one more.
    assert isinstance(usim.authenticate(RAND, autn(((1 << 28) + 1) << 5), SN_ID), SynchFailure)
    assert isinstance(usim.authenticate(RAND, autn((1 << 28) << 5), SN_ID), AkaAccepted)


def test_without_ind_bits_sqn_must_simply_grow() -> None:
    usim = Usim(IMSI, K, OPC, sqn=5, index_bits=0)
    assert isinstance(usim.authenticate(RAND, autn(7), SN_ID), AkaAccepted)
    assert isinstance(usim.authenticate(RAND, autn(6), SN_ID), SynchFailure)
    assert usim.highest_accepted_sqn == 7


def test_separation_bit_zero_is_non_eps_authentication_after_sqn_is_consumed() -> None:
    usim = Usim(IMSI, K, OPC, sqn=64)
    outcome = usim.authenticate(RAND, autn(64, amf=b"\x00\x00"), SN_ID)
    assert outcome == NonEpsAuthentication(b"\x00\x00")
    assert isinstance(usim.authenticate(RAND, autn(64), SN_ID), SynchFailure)


def test_card_from_subscriber_is_in_step_with_the_network_next_sqn() -> None:
    subscriber = Subscriber(imsi=IMSI, k=K, opc=OPC, sqn=0)
    fresh = Usim.from_subscriber(subscriber)
    assert fresh.imsi == IMSI
    assert isinstance(fresh.authenticate(RAND, autn(0), SN_ID), AkaAccepted)
    later = Usim.from_subscriber(Subscriber(imsi=IMSI, k=K, opc=OPC, sqn=4096))
    assert isinstance(later.authenticate(RAND, autn(4095), SN_ID), SynchFailure)
    assert isinstance(later.authenticate(RAND, autn(4096), SN_ID), AkaAccepted)


@pytest.mark.parametrize(
    ("imsi", "sqn", "index_bits"),
    [("12345", 0, 5), ("00101abc", 0, 5), (IMSI, -1, 5), (IMSI, 1 << 48, 5), (IMSI, 0, 9)],
)
def test_bad_provisioning_is_refused(imsi: str, sqn: int, index_bits: int) -> None:
    with pytest.raises(ValueError):
        Usim(imsi, K, OPC, sqn=sqn, index_bits=index_bits)
