"""Non-UE-associated S1AP (TS 36.413 8.7), sans-I/O: S1 Setup, eNB Configuration Update,
Reset and Error Indication from the eNB behind one agent.

S1 Setup is checked against the config (8.7.3): the eNB must broadcast the served PLMN in
at least one tracking area whose TAC is served. Otherwise S1 Setup Failure with cause misc
"unknown-PLMN" (the cause TS 36.413 9.2.1.3 has for a PLMN the MME does not serve; Open5GS
answers a TAC mismatch the same way) and one log line saying what differed. Accepted eNBs
get an `EnbLink` (the Algorithm 1 record of the agent's non-UE requests, at `s1/<enb>`) and
an `EnbRecord` at `enb/<global eNB ID>` with the TAIs it serves, for paging.

A Reset releases UE-associated connections; the frontend applies that to each UE context it
names (`epc.mme.procedures.reset`) before the Reset Acknowledge here is recorded and sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from epc.codec import s1ap
from epc.codec.s1ap_messages import (
    Cause,
    EnbConfigurationUpdate,
    EnbConfigurationUpdateAcknowledge,
    ErrorIndication,
    Reset,
    ResetAcknowledge,
    S1SetupFailure,
    S1SetupRequest,
    S1SetupResponse,
    ServedGummei,
    SupportedTa,
)
from epc.codec.s1ap_messages import PlmnIdentity as S1apPlmn
from epc.mme.config import MmeConfig
from epc.mme.context import EnbLink, EnbRecord, GlobalEnbId, Tai
from epc.mme.outcome import Event

UNKNOWN_PLMN = Cause("misc", "unknown-PLMN")
TIME_TO_WAIT_S = 10
"""Seconds an eNB refused for its PLMN or TACs waits before asking again (9.2.1.61)."""


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    link: EnbLink
    reply: tuple[bytes, ...] = ()
    enb_record: tuple[GlobalEnbId, EnbRecord] | None = None
    """The record to write at `enb/<global eNB ID>` with the link."""
    events: tuple[Event, ...] = ()


def _plmn(plmn: S1apPlmn) -> str:
    return plmn.mcc + plmn.mnc


def served_tais(config: MmeConfig, supported: tuple[SupportedTa, ...]) -> tuple[Tai, ...]:
    """The eNB's TAIs that this MME serves."""
    plmn = config.mme.plmn.digits
    return tuple(
        Tai(plmn, ta.tac)
        for ta in supported
        if ta.tac in config.mme.tacs and plmn in {_plmn(p) for p in ta.broadcast_plmns}
    )


def s1_setup(link: EnbLink | None, request: S1SetupRequest, config: MmeConfig, agent: str):
    """8.7.3: accept an eNB that serves our PLMN in one of our TACs."""
    tais = served_tais(config, request.supported_tas)
    enb = request.global_enb_id
    global_id = GlobalEnbId(_plmn(enb.plmn), enb.enb_id, enb.enb_id_type.value)
    if not tais:
        offered = sorted(
            {f"{_plmn(p)}/{ta.tac}" for ta in request.supported_tas for p in ta.broadcast_plmns}
        )
        served = [f"{config.mme.plmn.digits}/{tac}" for tac in config.mme.tacs]
        event = Event(
            "S1 Setup refused: no served PLMN/TAC",
            "warning",
            (("enb", global_id.key), ("enb_plmn_tacs", offered), ("served_plmn_tacs", served)),
        )
        failure = s1ap.encode(S1SetupFailure(UNKNOWN_PLMN, TIME_TO_WAIT_S))
        refused = EnbLink(agent=agent, global_enb_id=global_id, name=request.enb_name)
        return LinkOutcome(refused, (failure,), events=(event,))
    mme = config.mme
    plmn = S1apPlmn(mme.plmn.mcc, mme.plmn.mnc)
    response = S1SetupResponse(
        served_gummeis=(ServedGummei((plmn,), (mme.mme_group_id,), (mme.mme_code,)),),
        relative_mme_capacity=mme.relative_capacity,
        mme_name=mme.name,
    )
    accepted = EnbLink(
        agent=agent,
        global_enb_id=global_id,
        name=request.enb_name,
        tais=tais,
        paging_drx=request.default_paging_drx,
        setup=True,
    )
    record = EnbRecord(agent=agent, tais=tais, name=request.enb_name)
    event = Event(
        "S1 Setup accepted",
        "info",
        (("enb", global_id.key), ("name", request.enb_name), ("tacs", [t.tac for t in tais])),
    )
    return LinkOutcome(accepted, (s1ap.encode(response),), (global_id, record), (event,))


def enb_configuration_update(
    link: EnbLink | None, update: EnbConfigurationUpdate, config: MmeConfig, agent: str
) -> LinkOutcome:
    """8.7.4: new TAs or name; acknowledged (the TAs served are what paging uses)."""
    link = link or EnbLink(agent=agent)
    tais = served_tais(config, update.supported_tas) if update.supported_tas else link.tais
    updated = EnbLink(
        agent=agent,
        global_enb_id=link.global_enb_id,
        name=update.enb_name or link.name,
        tais=tais,
        paging_drx=update.default_paging_drx or link.paging_drx,
        setup=link.setup,
    )
    reply = (s1ap.encode(EnbConfigurationUpdateAcknowledge()),)
    record = None
    if link.global_enb_id is not None and link.setup:
        record = (link.global_enb_id, EnbRecord(agent=agent, tais=tais, name=updated.name))
    return LinkOutcome(updated, reply, record, (Event("eNB configuration updated"),))


def reset_acknowledge(link: EnbLink | None, reset: Reset, agent: str) -> LinkOutcome:
    """8.7.1.2.2: acknowledged, naming the connections of a partial reset."""
    cause = f"{reset.cause.group}/{reset.cause.value}"
    scope = "all" if not reset.connections else len(reset.connections)
    event = Event("Reset from the eNB", "info", (("cause", cause), ("connections", scope)))
    reply = s1ap.encode(ResetAcknowledge(reset.connections))
    return LinkOutcome(link or EnbLink(agent=agent), (reply,), events=(event,))


def error_indication(link: EnbLink | None, indication: ErrorIndication, agent: str):
    """8.7.4 (non-UE-associated): nothing to release; logged with what it says."""
    cause = indication.cause
    diagnostics = indication.criticality_diagnostics
    event = Event(
        "Error Indication from the eNB",
        "warning",
        (
            ("cause", None if cause is None else f"{cause.group}/{cause.value}"),
            ("procedure_code", diagnostics.procedure_code if diagnostics else None),
        ),
    )
    return LinkOutcome(link or EnbLink(agent=agent), (), events=(event,))
