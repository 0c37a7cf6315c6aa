"""The PGW (PDN Gateway) control frontend: stateless, several instances share every UE's
context in the store (../shared/DESIGN.md section 3).

- `config`: the config file (APNs with their UE address pools, DNS, APN-AMBR; local policy);
- `context`: what the PGW keeps per UE, and the forwarding records its bearers imply;
- `sessions`: S5 Create Session, Modify Bearer, Delete Session (Algorithm 1 steps);
- `policy`: dedicated bearers from the local policy (Create/Delete Bearer toward the SGW);
- `tft`, `pco`: the NAS-owned octets the PGW produces (TFT of a policy bearer, DNS in the PCO);
- `service`: request dispatch, the policy API, reactions to SGW restarts;
- `__main__`: the `epc-pgw` daemon.

The user plane (SGi on a TUN device) arrives with issue 8 and reads `epc.forwarding`.
"""
