"""The USIM of a simulated phone: who it is (IMSI, K, OPc) and how it answers an EPS AKA
challenge, sequence number checks included, as a real card does.

`Usim.authenticate(rand, autn, serving_network_id)` runs the checks of TS 33.102 6.3.3 in the
order a card and its ME run them, and returns one typed outcome:

1. MAC-A (f1) in AUTN must verify, else `MacFailure` (EMM cause #20 "MAC failure").
2. SQN must be fresh, else `SynchFailure` carrying AUTS = SQN_MS xor AK* || MAC-S (f5*, f1*),
   which the network uses to resynchronise (EMM cause #21 "synch failure").
3. The ME checks the AMF "separation bit" (TS 33.401 6.1.1, TS 33.102 Annex H: AMF bit 0, the
   most significant): E-UTRAN needs it set, else `NonEpsAuthentication` (EMM cause #26
   "non-EPS authentication unacceptable"). The card has already accepted SQN by then.
4. Otherwise `AkaAccepted` with RES, CK, IK and KASME (TS 33.401 A.2; strictly the ME derives
   KASME, done here so the UE core gets one result).

Freshness follows the array scheme of TS 33.102 Annex C.1.2 / C.2.2, the one real USIMs use:
SQN = SEQ || IND with an IND of `index_bits` bits (5 by default, a = 32 entries). The card keeps
one SEQ_MS per IND value and accepts SQN when SEQ > SEQ_MS(IND) and SEQ does not run more than
delta = 2**28 ahead of the highest SEQ_MS (C.2.1); it then stores SEQ in SEQ_MS(IND). On a
synchronisation failure it reports the highest SQN it ever accepted (SEQ_MS || its IND). The
optional limit L on how far SEQ may lag (C.2.2) is not applied. `index_bits=0` gives the plain
rule "SQN > SQN_MS" with the same delta.

A network that steps SQN by 1 or by 2**IND (32, as Open5GS does) is accepted either way: each
IND entry sees its SEQ grow.

Provisioning: `sqn` is the next SQN the network will use, as in the subscriber CSV shared with
`epcctl subscriber import` (`Usim.from_subscriber`). The card starts in step with it: every
entry holds SEQ(sqn) - 1, so SQN = sqn is accepted and anything older is not. (A factory-new
card, all entries 0 as C.2.2 says, is the card provisioned with sqn = 2**index_bits.)
"""

from __future__ import annotations

from dataclasses import dataclass

from epc.security.errors import AuthenticationFailure
from epc.security.kdf import derive_kasme
from epc.security.milenage import SQN_MAX, Milenage
from epc.subscriber import Subscriber

DEFAULT_INDEX_BITS = 5
"""TS 33.102 C.3.2: IND of 5 bits, an array of a = 32 SEQ_MS entries, as on real cards."""
SQN_DELTA = 1 << 28
"""TS 33.102 C.2.1: delta, how far ahead of SEQ_MS a received SEQ may jump."""
SEPARATION_BIT = 0x80
"""TS 33.401 6.1.1 / TS 33.102 Annex H: "AMF bit 0", the most significant bit of AMF's first
octet, is 1 in vectors made for E-UTRAN."""


@dataclass(frozen=True, slots=True)
class AkaAccepted:
    """The challenge is authentic and fresh: the UE answers with RES."""

    res: bytes
    ck: bytes
    ik: bytes
    kasme: bytes
    sqn: int


@dataclass(frozen=True, slots=True)
class MacFailure:
    """MAC-A in AUTN does not verify (TS 33.102 6.3.3): EMM cause #20."""


@dataclass(frozen=True, slots=True)
class SynchFailure:
    """SQN is not fresh (TS 33.102 6.3.3, C.2): EMM cause #21 with `auts`."""

    auts: bytes
    sqn: int
    """The SQN the network sent."""
    sqn_ms: int
    """The highest SQN the card has accepted, carried (concealed) in AUTS."""


@dataclass(frozen=True, slots=True)
class NonEpsAuthentication:
    """The AMF separation bit is 0 (TS 33.401 6.1.1): EMM cause #26."""

    amf: bytes


AkaOutcome = AkaAccepted | MacFailure | SynchFailure | NonEpsAuthentication


class Usim:
    """One USIM: identity, keys and the SEQ_MS array. `authenticate` is its only mutator."""

    def __init__(
        self,
        imsi: str,
        k: bytes,
        opc: bytes,
        *,
        sqn: int = 0,
        index_bits: int = DEFAULT_INDEX_BITS,
    ) -> None:
        if not (imsi.isdigit() and imsi.isascii() and 6 <= len(imsi) <= 15):
            raise ValueError(f"IMSI must be 6 to 15 digits: {imsi!r}")
        if not 0 <= sqn <= SQN_MAX:
            raise ValueError(f"SQN {sqn} outside 0..2**48-1")
        if not 0 <= index_bits <= 8:
            raise ValueError(f"IND length {index_bits} outside 0..8 bits")
        self.imsi = imsi
        self._milenage = Milenage(k, opc)
        self._index_bits = index_bits
        self._sequence_ms = [(sqn >> index_bits) - 1] * (1 << index_bits)
        """SEQ_MS(i) per IND value i; -1 stands for "below any SEQ" (see the module docstring)."""

    @classmethod
    def from_subscriber(
        cls, subscriber: Subscriber, *, index_bits: int = DEFAULT_INDEX_BITS
    ) -> Usim:
        """The card for a subscriber record, in step with the network's next SQN."""
        return cls(
            subscriber.imsi, subscriber.k, subscriber.opc, sqn=subscriber.sqn, index_bits=index_bits
        )

    @property
    def highest_accepted_sqn(self) -> int:
        """SQN_MS: the highest SQN accepted anywhere in the array (0 if none yet)."""
        best = max(
            (
                sequence << self._index_bits | index
                for index, sequence in enumerate(self._sequence_ms)
            ),
        )
        return max(best, 0)

    def authenticate(self, rand: bytes, autn: bytes, serving_network_id: bytes) -> AkaOutcome:
        """Run one EPS AKA challenge (TS 33.102 6.3.3, TS 33.401 6.1.1); `serving_network_id` is
        the 3-octet PLMN identity that goes into KASME (TS 33.401 A.2)."""
        try:
            response = self._milenage.respond(rand, autn)
        except AuthenticationFailure:
            return MacFailure()
        if not self._fresh(response.sqn):
            sqn_ms = self.highest_accepted_sqn
            auts = self._milenage.synchronisation_failure(rand, sqn_ms)
            return SynchFailure(auts=auts, sqn=response.sqn, sqn_ms=sqn_ms)
        self._accept(response.sqn)
        if not response.amf[0] & SEPARATION_BIT:
            return NonEpsAuthentication(response.amf)
        kasme = derive_kasme(response.ck, response.ik, serving_network_id, response.sqn_xor_ak)
        return AkaAccepted(
            res=response.res, ck=response.ck, ik=response.ik, kasme=kasme, sqn=response.sqn
        )

    def _split(self, sqn: int) -> tuple[int, int]:
        """(SEQ, IND) of an SQN (TS 33.102 C.1.2)."""
        return sqn >> self._index_bits, sqn & ((1 << self._index_bits) - 1)

    def _fresh(self, sqn: int) -> bool:
        """TS 33.102 C.2.1 (delta) then C.2.2 (the entry for IND)."""
        sequence, index = self._split(sqn)
        if sequence - max(self._sequence_ms) > SQN_DELTA:
            return False
        return sequence > self._sequence_ms[index]

    def _accept(self, sqn: int) -> None:
        sequence, index = self._split(sqn)
        self._sequence_ms[index] = sequence
