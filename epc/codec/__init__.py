"""The one place where bytes become typed messages and back: S1AP, NAS EPS, GTPv2-C, GTP-U.

pycrate does the heavy lifting, behind this package only: nothing outside it touches a pycrate
object, and no pycrate object outlives the call that used it (its PDU objects are shared
singletons, so holding one across an `await` would let another task overwrite it). Callers see
small frozen dataclasses.

Every decoder fails with one typed error, a subclass of `DecodeError`, that names what was
wrong and carries the cause the protocol expects in the answer to such a message.
"""

from __future__ import annotations

import logging

# pycrate logs undecodable input, which peers control, at INFO and WARNING. Every such input
# ends in a typed DecodeError here, logged once by the caller, so only pycrate's errors pass.
for _pycrate_logger in ("pycrate", "pycrate_mobile"):
    logging.getLogger(_pycrate_logger).setLevel(logging.ERROR)


class DecodeError(ValueError):
    """Peer bytes that are not a valid message. `reason` is for the log line; subclasses add
    the protocol's cause for the reject, Error Indication or error response."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
