"""The one error family of `epc.security`.

Every error here describes input that must not be acted on. TS 24.301 tells a receiver what
to do with such a NAS message: discard it without answering (4.4.4.3 for a failed integrity
check, 4.4.3.2 for a replay) and, at most, log it. Callers therefore catch `SecurityError`,
log `str(error)` and drop the message; subclasses exist so that the few cases that need a
different reaction (start a new authentication on `KeySetIdentifierMismatch` or
`CountExhausted`) can be told apart.
"""

from __future__ import annotations


class SecurityError(Exception):
    """Base of every error raised by `epc.security`."""


class MalformedSecurityHeader(SecurityError):
    """The security-protected NAS message is too short or its header is not one we decode
    (wrong protocol discriminator, reserved security header type)."""


class NotSecurityProtected(SecurityError):
    """The message carries security header type 0 (plain NAS message): nothing to verify."""


class IntegrityCheckFailed(SecurityError):
    """The received MAC (NAS-MAC or short MAC) differs from the one computed here
    (TS 24.301 4.4.4.3: discard the message)."""


class ReplayDetected(SecurityError):
    """The estimated NAS COUNT is not higher than the last accepted one (TS 24.301 4.4.3.2:
    a given NAS COUNT is accepted at most once)."""


class CountExhausted(SecurityError):
    """The NAS COUNT would wrap past 2**24 - 1; a new EPS security context is needed
    (TS 33.401 7.2.4.4: the MME re-keys before the NAS COUNT wraps)."""


class KeySetIdentifierMismatch(SecurityError):
    """The key set identifier in the message is not the one of this security context; the
    MME answers by authenticating the UE again (TS 24.301 5.6.1.4.1)."""


class UnsupportedAlgorithm(SecurityError):
    """An algorithm identity outside EEA0-EEA3 / EIA0-EIA3."""


class AuthenticationFailure(SecurityError):
    """A MILENAGE MAC did not verify: MAC-A in AUTN (on the UE side) or MAC-S in AUTS (on the
    network side, TS 33.102 6.3.5)."""
