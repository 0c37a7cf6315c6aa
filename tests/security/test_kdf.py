# ruff: noqa: E501  (published test vectors, one set per line as the sources print them)
"""The EPS key derivations of TS 33.401 Annex A on the KDF of TS 33.220 B.2.

3GPP publishes no test data for these derivations. The expected values come from two
independent implementations that ship them as unit tests:

- open5gs/open5gs tests/unit/security-test.c (security_test3): KASME from CK/IK of TS 35.208
  set 1 with SN id 02 48 30.
- srsran/srsRAN_4G lib/test/common/test_security_kdf.cc: KASME (MCC 001, MNC 01), KNASint for
  EIA1, KeNB for uplink NAS COUNT 0.
- openairinterface (chunyeow/openairinterface5g openair-cn/TEST): test_secu_kenb.c, six KeNB
  values (the first from Open5GS's KASME above), and test_secu_knas.c, the full 256-bit KDF
  outputs for NAS-enc and NAS-int with algorithm identities 0, 1 and 2 for three KASMEs.

No published NH value was found; NH is checked against the A.4 text computed independently
with `hmac` below.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from epc.security.kdf import (
    AlgorithmTypeDistinguisher,
    derive_algorithm_key,
    derive_kasme,
    derive_kenb,
    derive_nas_keys,
    derive_nh,
    encode_plmn_identity,
    kdf,
)

pytestmark = pytest.mark.codec


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def test_kasme_matches_open5gs_for_35208_set_1_keys() -> None:
    kasme = derive_kasme(
        ck=h("b40ba9a3c58b2a05bbf0d987b21bf8cb"),
        ik=h("f769bcd751044604127672711c6d3441"),
        serving_network_id=h("024830"),
        sqn_xor_ak=xor(h("fd8eef40df7d"), h("aa689c648370")),
    )
    assert kasme.hex() == "238e457e0f758badbca8d34bb2612c10428d426757cb5553b2b184fa64bfc549"


def test_kasme_matches_srsran_for_plmn_001_01() -> None:
    kasme = derive_kasme(
        ck=h("7bc15d69309cf3ec5d324404edd6f0f9"),
        ik=h("c15d69309cf3ec5d324404edd6f0f97b"),
        serving_network_id=encode_plmn_identity("001", "01"),
        sqn_xor_ak=xor(h("0000000012d9"), h("5d69309cf3ec")),
    )
    assert kasme.hex() == "d5ef4d8f33266902295d42f322a2f2cf11fb2ccc124c09b4d88d361597037990"


@pytest.mark.parametrize(
    ("mcc", "mnc", "encoded"),
    [("001", "01", "00f110"), ("208", "034", "024830"), ("310", "410", "130014")],
)
def test_plmn_identity_packs_digits_as_24008(mcc: str, mnc: str, encoded: str) -> None:
    assert encode_plmn_identity(mcc, mnc).hex() == encoded


def test_plmn_identity_refuses_bad_digits() -> None:
    with pytest.raises(ValueError):
        encode_plmn_identity("01", "01")
    with pytest.raises(ValueError):
        encode_plmn_identity("001", "1")


# fmt: off
KENB_SETS = [
    # (uplink NAS COUNT, KASME, KeNB): srsRAN_4G, then the six of OAI's test_secu_kenb.c
    (0x00000000, "6144c681d1bea9dae1b8cf6cd10a686341db8046a1e7a9ab4d1ea0e33c994ac0", "c4c7bc798ab94e3d354cd6608e79aa92f5569df46519507850051e36f018ca5f"),
    (0xDB1A3569, "238E457E0F758BADBCA8D34BB2612C10428D426757CB5553B2B184FA64BFC549", "8EB1BF0083BD79281EF7034BF677E9EC529F196E15287514A2D122ACF713B8E8"),
    (0x001FB39C, "564CB4D2007E4F293B67D9B29392A64ADD4C776B133D895AF6499AA6882AAB62", "009010688F85855E218339DE6C5BD7B6394958DA12DDFBF7559E978CE43408F1"),
    (0x00000012, "FA77E41F693C2A6E71455CB8687E6E6058EF91E2F5ABD1BD3C496179481F308C", "0AFE81266DE52B8C8F1C3F4FE799BE883F364B018E7368C41F14DD6D050E13E1"),
    (0xFE56A1D3, "FA77E41F693C2A6E71455CB8687E6E6058EF91E2F5ABD1BD3C496179481F308C", "3622874B06C683586A009DEC81DBE28BDD8E3E6E67A2C22C31630EC97641828E"),
    (0xFE56A1D3, "70D7071AA016A087F9D888AD51F3A83E2C83443AB27843B35BD1B4923615091C", "E59BE6F0FBEFA1207DA3FF05D0F82014100E7A63A11EEBFE4F8AA92E7CF8B847"),
    (0xAABBCCDD, "70D7071AA016A087F9D888AD51F3A83E2C83443AB27843B35BD1B4923615091C", "158781A2FDF2CE53ABFA186D22EB751DECB8273471DC792B5016C9016947D1AE"),
]

KASME_1 = "70D7071AA016A087F9D888AD51F3A83E2C83443AB27843B35BD1B4923615091C"
KASME_2 = "9EA141DA4B24CDEBC8F5FB3F61A0511216681F121199B23EBCFACC75B358BE43"
KASME_3 = "546A79BC6D1613A72A4D631EE0351D66036B2A0C44A3831BE6D365E24F023013"
NAS_KEY_SETS = [
    # (KASME, algorithm identity, KDF output for NAS-enc, for NAS-int): OAI test_secu_knas.c
    (KASME_1, 0, "64BA839B29C451085C552F4DE9D278B263CB5BDD7FC21A38120637B2A9E5CD39", "A66A2D198AF2A8D6A5FF2FAA51676037DF204187C61EDD3AAA70F3B7D8B59E8B"),
    (KASME_1, 1, "DF8FEBA477891617C42FB16F750E572C9E59ED7564879150F6BB0DAEF5932E89", "EA1158BA3F387BC96C967BC32FB43F65AE172A3267343479CAA826034A90A250"),
    (KASME_1, 2, "99D63BD2D43AF81EBB7599F7E8F8B3E81CF7897F31D6270C19C4836070FE11F0", "FC7A3850D19AE29EC7000B9DF98787F11A4329FD23FD3A93C9D2D92D853EC9DB"),
    (KASME_2, 0, "1E48E1B5EDF98DEDF339DE686544AA1088C8E5616EDB706201837AA106D37691", "C83DC420F97AA42D1B8488FA5D8F74865D833416D5851556100B41FEC8E38139"),
    (KASME_2, 1, "207700CD92B4635B439E40176F92F7ADA824B9D699ABE15F86F3346C25343A33", "FAA39E382611CDFED52042E72AF8CECDF92CCD799141857B77B6901741E486B2"),
    (KASME_2, 2, "2A6854D25282FFD738FA8BBCFDCE853C0C4DFB9F559DCBB71D5120DB2CAC66A6", "5EDCAE62A35BC42399C55F64ECAE7B17524BED1ED1601218D2772E55DDFAD959"),
    (KASME_3, 0, "7F684F909A5910DED6E4B4CE02AC92DF4690EB3788068600E9CB2C3EF8F0956E", "51F3B142D357371726873FAC5E853CE0EEEFC52A695DE45FA6F4A23D20C13155"),
    (KASME_3, 1, "B6B222E9C07C56D15176C8E95EC1805561492682E4B9CD7228237A6C78702347", "4DC5ABF6896DA460473288D16DE83C480388C6FD9E803C7EA88090F311354A15"),
    (KASME_3, 2, "7BD2A0864452D3D9EDE3B2E38A9958777F231AC4F4B9AF3FC8CE0E1EAAB425A7", "89E8049EBE9374F238B0F3278EEA47D9BF8877111D99D6378FFF66FEBB06F3F8"),
]
# fmt: on


@pytest.mark.parametrize(("count", "kasme", "kenb"), KENB_SETS)
def test_kenb_matches_published_values(count: int, kasme: str, kenb: str) -> None:
    assert derive_kenb(h(kasme), count).hex() == kenb.lower()


@pytest.mark.parametrize(("kasme", "algorithm", "encryption", "integrity"), NAS_KEY_SETS)
def test_nas_keys_are_the_low_128_bits_of_the_published_kdf_outputs(
    kasme: str, algorithm: int, encryption: str, integrity: str
) -> None:
    assert kdf(h(kasme), 0x15, b"\x01", bytes((algorithm,))).hex() == encryption.lower()
    assert kdf(h(kasme), 0x15, b"\x02", bytes((algorithm,))).hex() == integrity.lower()
    keys = derive_nas_keys(h(kasme), algorithm, algorithm)
    assert keys.encryption.hex() == encryption.lower()[32:]
    assert keys.integrity.hex() == integrity.lower()[32:]


def test_nas_integrity_key_for_eia1_matches_srsran() -> None:
    kasme = h("d5ef4d8f33266902295d42f322a2f2cf11fb2ccc124c09b4d88d361597037990")
    key = derive_algorithm_key(kasme, AlgorithmTypeDistinguisher.NAS_INTEGRITY, 1)
    # srsRAN prints the whole KDF output b855871d...b3b451; the key is its low 128 bits.
    assert key.hex() == "b79408e243dd367dc8c6392295b3b451"


def test_kdf_input_string_is_fc_then_each_parameter_with_its_two_octet_length() -> None:
    key, p0, p1 = bytes(range(32)), b"\xaa" * 3, b"\xbb" * 6
    s = b"\x10" + p0 + b"\x00\x03" + p1 + b"\x00\x06"
    assert kdf(key, 0x10, p0, p1) == hmac.new(key, s, hashlib.sha256).digest()


def test_nh_is_kdf_0x12_over_sync_input_and_chains_from_kenb() -> None:
    kasme = h(KASME_1)
    kenb = derive_kenb(kasme, 0)
    nh1 = derive_nh(kasme, kenb)
    nh2 = derive_nh(kasme, nh1)
    independent = hmac.new(kasme, b"\x12" + kenb + b"\x00\x20", hashlib.sha256).digest()
    assert nh1 == independent
    assert nh2 == hmac.new(kasme, b"\x12" + nh1 + b"\x00\x20", hashlib.sha256).digest()
    assert len({kenb, nh1, nh2}) == 3


def test_derivations_refuse_wrong_lengths() -> None:
    with pytest.raises(ValueError):
        derive_kasme(bytes(16), bytes(16), bytes(2), bytes(6))
    with pytest.raises(ValueError):
        derive_nh(bytes(32), bytes(16))
