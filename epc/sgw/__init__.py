"""The SGW (Serving Gateway) control frontend: stateless, several instances share every UE's
context in the store (../shared/DESIGN.md section 3).

- `config`: the config file;
- `context`: what the SGW keeps per UE, and the forwarding records its bearers imply;
- `sessions`: S11 Create Session (with S5 Create Session as its side effect), Modify Bearer,
  Delete Session, Release Access Bearers (Algorithm 1 steps);
- `bearers`: Create/Update/Delete Bearer from the PGW, relayed to the MME;
- `paging`: Downlink Data Notification toward the MME, its Acknowledge and Failure Indication;
- `restart`: sessions released when a peer restarted and lost them (TS 23.007);
- `service`: request dispatch and the user plane's API;
- `__main__`: the `epc-sgw` daemon.

The user plane (GTP-U relay between S1-U and S5-U) arrives with issue 8 and reads
`epc.forwarding`.
"""
