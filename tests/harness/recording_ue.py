"""The least of a UE for tests of the eNB side: it stands in for `enbsim.ue.Ue` where a test
only needs S1AP to flow, and records the NAS PDUs the eNB hands it."""

from __future__ import annotations


class RecordingUe:
    kenb = None
    s_tmsi = None
    ue_security_capabilities = bytes([0xF0, 0x70])
    connected = False

    def __init__(self, imsi: str) -> None:
        self.imsi = imsi
        self.received: list[bytes] = []

    def receive_nas(self, pdu: bytes, now: float) -> list:
        self.received.append(pdu)
        return []

    def connection_released(self, now: float) -> list:
        return []

    def radio_bearers_established(self, now: float) -> list:
        return []

    def paged(self, now: float) -> list:
        return []

    def deadline(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> list:
        return []
