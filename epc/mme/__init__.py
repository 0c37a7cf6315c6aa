"""The MME (Mobility Management Entity) frontend: stateless, several instances behind the ECHO
agents, every UE's context in the store (../shared/DESIGN.md sections 1 and 3; issue 6).

No instance keeps per-UE state it relies on. Each agent frame is one request applied with the
shared Algorithm 1 engine (`epc.algorithm1`) to one record in the store; the procedure that
runs is a pure function of the record, the message and the config.

Modules, inward from the daemon:

- `__main__`: `epc-mme`: store, S11 node, agent listener, shutdown phases;
- `frontend`: the agent server's handler: decode S1AP, find the record, run Algorithm 1,
  answer with REPLY / SET_TIMER / CANCEL_TIMER / ACK frames;
- `s11`: Algorithm 1's side effects to target "sgw" as GTPv2-C over `epc.gtpc.node`;
- `step`: the thin async layer around a procedure: performs its effects (an authentication
  vector from the subscriber record with SQN advanced by CAS, an S11 exchange, the record of
  the IMSI a provisional context moves to) and adds the index ops the change implies;
- `procedures` (EMM, TS 24.301 clause 5) and `s1_management` (TS 36.413 8.7): sans-I/O;
- `outcome`: what a procedure step takes and returns; `messages`: S1AP/S11/NAS builders;
- `context`: the stored structures and their paths; `identifiers`: MME-UE-S1AP-ID and M-TMSI
  allocation; `config`: the config file's tables.

The UE context (`context.UeContext`, MessagePack, a few hundred octets): EMM state (TS 24.301
5.1.3.4) and ECM state; the S1 connection (agent eNB identity and UE ID, eNB-UE-S1AP-ID,
MME-UE-S1AP-ID, TAI, cell, whether NAS exchange is secure and the eNB holds a context); GUTI
(M-TMSI, and the old one until the UE confirms a new one); the MME S11 TEID; the UE network
capability; the subscription (APN, QCI, AMBR) and the authentication vector in progress;
the current and the pending NAS security context (`epc.security.context`, COUNTs included);
the PDN connection (APN, EBI, QCI, UE IPv4, SGW S11 and S1-U F-TEIDs, eNB S1-U F-TEID, PCO);
the procedure in progress and its step, the Attach Request kept until the bearer, the NAS
message under a retransmission timer and how often it went; the timers armed at the agent
and the agent UE each runs on.

How a frame maps to a record (`frontend`; the paths are in `context`):

    agent UE ID 0 (non-UE-associated)   s1/<enb>, and enb/<global eNB ID> for S1 Setup
    Initial UE Message                  ue/<imsi> by the NAS identity: the IMSI, or a GUTI /
                                        S-TMSI of this MME through index/guti; otherwise the
                                        provisional ue/pending-<enb>-<agent UE ID>
    other UE-associated messages        ue/<owner of index/s1ap/<MME-UE-S1AP-ID>>
    TIMER_FIRED                         ue/<owner of index/agent/<enb>/<agent UE ID>>

with request ID `(frame.request_id,)`, the agent's hybrid logical clock, which grows for a UE
across its S1 connections, so one UE's requests from different connections compare right.

The step shape: `procedures.<entry>(context, message, env) -> Outcome` (new context, downlink
S1AP in order, timer commands, store ops, log events, and possibly an effect with the function
to resume with). `step.ue_step` loops over effects, then returns Algorithm 1's StepResult:
reply = (one `UeReply`: the S1AP answering the request and core-initiated S1AP for other
connections, such as the release of one the UE left; timer commands), ops = allocations +
derived index ops. The frontend sends the core-initiated part after the commit and on every
replay, as it does a gateway lane's `LaneReply`. S11 requests go
as side effects to "sgw", stamped with the side-effect ID and the IMSI as UE ID; timers run
only at the agent (set / cancel / fire), never in an MME process.
"""
