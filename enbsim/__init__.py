"""enbsim: a strict simulated eNB with simulated UEs that speak real S1AP, NAS and GTP-U.

It is the test driver and load generator of the project, and a tool users run (`enbsim`).
Inside, as everywhere in this tree: sans-I/O cores (`ue.py` for a UE's NAS side with its USIM,
`enb.py` for an eNB's S1AP side) that take bytes and `now` and return commands
(`events.py`), and thin asyncio adapters around them.
"""
