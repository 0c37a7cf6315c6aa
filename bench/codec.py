"""Codec figures: S1AP decode, NAS Attach Request decode, NAS protection (EIA2/EEA2).

Each figure is the median over several runs of the mean time per call within a run, so a
timer's resolution never dominates and one noisy run does not move the result.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from epc.codec import nas, s1ap
from epc.codec.nas_messages import AttachRequest
from epc.codec.s1ap_messages import Ecgi, InitialUeMessage, PlmnIdentity, Tai
from epc.security.algorithms import CipheringAlgorithm, Direction, IntegrityAlgorithm
from epc.security.context import NasSecurityContext

RUNS = 7
CALLS_PER_RUN = 2000


async def run() -> dict[str, dict]:
    attach_request = _attach_request()
    initial_ue_message = s1ap.encode(
        InitialUeMessage(
            enb_ue_s1ap_id=1,
            nas_pdu=attach_request,
            tai=Tai(PlmnIdentity("001", "01"), 1),
            ecgi=Ecgi(PlmnIdentity("001", "01"), 0x19B01),
            rrc_establishment_cause="mo-Signalling",
        )
    )
    assert isinstance(nas.decode(attach_request), AttachRequest)
    return {
        "s1ap_decode_us": _figure(
            _median_us(lambda: s1ap.decode(initial_ue_message)),
            f"InitialUEMessage of {len(initial_ue_message)} B carrying an Attach Request",
        ),
        "nas_attach_request_decode_us": _figure(
            _median_us(lambda: nas.decode(attach_request)),
            f"plain Attach Request of {len(attach_request)} B with PDN Connectivity Request",
        ),
        "nas_protect_us": _figure(_nas_protect_us(), "EIA2 + EEA2, 100 B downlink message"),
    }


def _attach_request() -> bytes:
    """A plain Attach Request (tshark decodes it without complaint): IMSI 001010123456789,
    EEA0-3/EIA0-3, DRX parameter, and a PDN Connectivity Request for IPv4 whose PCO asks for
    DNS and IP allocation via NAS."""
    return bytes.fromhex(
        "0741 71 08 0910101032547698 04 f0f0c040"
        " 0010 0201d011 270a80000d00000a00000500"
        " 5c0a00".replace(" ", "")
    )


def _nas_protect_us() -> float:
    context = NasSecurityContext.create(
        kasme=bytes(range(32)),
        key_set_identifier=1,
        ciphering_algorithm=CipheringAlgorithm.EEA2,
        integrity_algorithm=IntegrityAlgorithm.EIA2,
    )
    message = bytes((0x07, 0x61)) + bytes(98)  # EMM Information padded to 100 B
    contexts = [context]

    def protect() -> None:
        contexts[0] = contexts[0].protect(message, Direction.DOWNLINK).context

    return _median_us(protect)


def _median_us(call: Callable[[], object]) -> float:
    call()  # warm caches and lazy imports
    runs = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for _ in range(CALLS_PER_RUN):
            call()
        runs.append((time.perf_counter() - started) / CALLS_PER_RUN * 1e6)
    return statistics.median(runs)


def _figure(value: float, detail: str) -> dict:
    return {"value": round(value, 2), "unit": "us", "detail": f"{detail}, median of {RUNS} runs"}
