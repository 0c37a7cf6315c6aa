"""EPS security for the core: authentication, key hierarchy and NAS protection.

What lives here, and the 3GPP text each module follows:

- `milenage`: the MILENAGE example set f1, f1*, f2, f3, f4, f5, f5* (TS 35.206) with OP or
  OPc, EPS authentication vectors and AUTS resynchronisation (TS 33.102 6.3).
- `kdf`: the generic key derivation function (TS 33.220 B.2, HMAC-SHA-256) and the EPS keys
  derived with it: KASME, KeNB, NH and the NAS keys (TS 33.401 Annex A).
- `snow3g`, `zuc`: the two stream ciphers written here in pure Python, with the UEA2/UIA2
  functions f8/f9 (SNOW 3G) and 128-EEA3/128-EIA3 (ZUC).
- `algorithms`: the ciphering algorithms EEA0-3 and integrity algorithms EIA0-3 behind one
  small interface selected by algorithm number (TS 33.401 Annex B); EEA2/EIA2 use
  `cryptography` (AES-CTR, AES-CMAC).
- `context`: the NAS security context the MME keeps per UE: it protects and unprotects NAS
  messages (TS 24.301 4.4, 9.1), tracks the NAS COUNTs, detects replays and checks the short
  MAC of the SERVICE REQUEST.

Everything is sans-I/O and synchronous: bytes and integers in, bytes and integers out. Errors
raised for bad input from a peer derive from `SecurityError` (in `errors`).
"""
