"""The thin async layer between Algorithm 1 and the pure procedures: it runs a procedure's
outcome chain, performing each effect (store reads for vectors and contexts, S11 side
effects) and resuming, then turns the result into Algorithm 1's `StepResult`, adding the index
ops the context change implies.

The reply recorded for a UE request is one `UeReply` (the S1AP answering the request and the
core-initiated S1AP for other connections) with the timer commands beside it.

Index bookkeeping is derived, not written by each procedure: comparing the context as read
with the context as it will be stored gives the Deletes of identifiers it no longer holds
(MME-UE-S1AP-ID, M-TMSIs, MME S11 TEID, agent UEs); Creates of new draws come from the
procedures (the allocator's ops), and agent UE entries are created for the connection and the
timers the context now has. A provisional context that moved to its IMSI has its entries
re-pointed (Delete + Create with the new owner) and the IMSI's record written in the same
multi-op, with this request's reply recorded in it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

import msgspec

from epc.algorithm1 import Record, Reply, SideEffects, StepResult, advance
from epc.codec import gtpv2c
from epc.gtpc.claims import PROBES, Claim, ClaimError, Draws
from epc.mme.context import (
    AgentUe,
    Subscription,
    UeContext,
    agent_index_path,
    mme_s11_index_path,
    ue_path,
)
from epc.mme.gateway_requests import LaneReply, encode_reply, lane_outputs
from epc.mme.identifiers import guti_index_path, s1ap_index_path
from epc.mme.outcome import (
    ClaimS11Teid,
    Env,
    Event,
    IssueVector,
    Outcome,
    ReadContext,
    ResynchronisationFailed,
    S11Request,
    SubscriberUnknown,
    UeReply,
    VectorIssued,
    chain,
    encode_ue_reply,
)
from epc.mme.s11 import SGW, decode_response
from epc.security.errors import AuthenticationFailure
from epc.security.kdf import derive_kasme, encode_plmn_identity
from epc.security.milenage import RAND_LENGTH, Milenage
from epc.store import Create, Delete, Op, Put, Store
from epc.subscriber import (
    UnknownSubscriber,
    advance_sqn,
    read_subscriber,
    resynchronise_sqn,
)

_RECORD_ENCODER = msgspec.msgpack.Encoder()
_RECORD_DECODER = msgspec.msgpack.Decoder(Record[UeContext])
S11_TEID_PURPOSE = "mme-s11"
INDEX_VERSION = 0
"""Index nodes are created once and never updated: their version is always 0."""


@dataclass
class VectorSource:
    """The HSS/AuC side: EPS authentication vectors from the subscriber records in the store,
    SQN issued by conditional write (`epc.subscriber`)."""

    store: Store
    deployment: str
    serving_network: tuple[str, str]
    """(MCC, MNC) for KASME's SN id (TS 33.401 A.2)."""
    rng: random.Random = field(default_factory=random.SystemRandom)

    async def issue(self, effect: IssueVector) -> VectorIssued | SubscriberUnknown | Resync:
        try:
            if effect.resynchronisation is None:
                issued = await advance_sqn(self.store, self.deployment, effect.imsi)
            else:
                stored = await read_subscriber(self.store, self.deployment, effect.imsi)
                if stored is None:
                    return SubscriberUnknown()
                rand, auts = effect.resynchronisation
                milenage = Milenage(stored.subscriber.k, stored.subscriber.opc)
                try:
                    sqn_ms = milenage.resynchronise(rand, auts)
                except (AuthenticationFailure, ValueError) as error:
                    return ResynchronisationFailed(str(error))
                issued = await resynchronise_sqn(self.store, self.deployment, effect.imsi, sqn_ms)
        except UnknownSubscriber:
            return SubscriberUnknown()
        subscriber = issued.subscriber
        rand = self.rng.randbytes(RAND_LENGTH)
        vector = Milenage(subscriber.k, subscriber.opc).generate_vector(
            rand, issued.sqn, subscriber.amf
        )
        kasme = derive_kasme(
            vector.ck, vector.ik, encode_plmn_identity(*self.serving_network), vector.sqn_xor_ak
        )
        return VectorIssued(
            rand=rand,
            autn=vector.autn,
            xres=vector.xres,
            kasme=kasme,
            subscription=Subscription(
                apn=subscriber.apn,
                qci=subscriber.qci,
                ambr_ul_kbps=subscriber.ambr_ul_kbps,
                ambr_dl_kbps=subscriber.ambr_dl_kbps,
            ),
        )


Resync = ResynchronisationFailed


@dataclass
class StepRun:
    """What one attempt of a step produced besides its StepResult: its log events."""

    events: list[Event] = field(default_factory=list)


Entry = Callable[[UeContext | None], Outcome]


def ue_step(entry: Entry, env: Env, store: Store, vectors: VectorSource, run: StepRun):
    """An Algorithm 1 step for the UE context at `env.key`: `entry` is the procedure entry
    point with the message bound. `run` receives the attempt's log events."""

    async def step(state: UeContext | None, effects: SideEffects) -> StepResult[UeContext]:
        run.events.clear()
        moved: dict[str, tuple[Record[UeContext] | None, int | None]] = {}
        outcome = entry(state)
        while outcome.effect is not None:
            assert outcome.resume is not None
            answer = await _perform(outcome.effect, effects, store, vectors, env, moved)
            outcome = chain(outcome, outcome.resume(outcome.context, answer))
        run.events.extend(outcome.events)
        return _result(state, outcome, env, moved)

    return step


async def _perform(effect, effects: SideEffects, store, vectors, env: Env, moved) -> object:
    match effect:
        case S11Request(message=message):
            reply = await effects.send(SGW, gtpv2c.encode(message))
            return decode_response(reply)
        case IssueVector():
            return await vectors.issue(effect)
        case ClaimS11Teid(owner=owner):
            return await claim_s11_teid(store, env, owner)
        case ReadContext(key=key):
            node = await store.get(ue_path(env.deployment, key))
            if node is None:
                moved[key] = (None, None)
                return None
            record = _RECORD_DECODER.decode(node.value)
            moved[key] = (record, node.version)
            return record.state
    raise TypeError(f"unknown effect {effect!r}")


async def claim_s11_teid(store: Store, env: Env, owner: str) -> Claim:
    """The first candidate of the request's S11 TEID sequence that no context holds (see
    `ClaimS11Teid`); every run of the request, at any instance, reads the same candidates."""
    draws = Draws(ue_path(env.deployment, owner), env.request_id)
    candidates = (teid for teid in draws.sequence(S11_TEID_PURPOSE) if teid != 0)
    for teid in islice(candidates, PROBES):
        path = mme_s11_index_path(env.deployment, teid)
        if await store.get(path) is None:
            return Claim(teid, (Create(path, owner.encode()),))
    raise ClaimError(f"{PROBES} MME S11 TEID candidates in a row are taken")


def _result(
    state: UeContext | None, outcome: Outcome, env: Env, moved: dict
) -> StepResult[UeContext]:
    recorded = UeReply(outcome.downlink, outcome.core_initiated)
    reply = Reply((encode_ue_reply(recorded),), outcome.timers)
    final = outcome.context
    if outcome.moved_to is None:
        ops = [*outcome.ops, *index_ops(env, env.key, state, final)]
        return StepResult(final, reply, tuple(ops))
    assert final is not None
    key = outcome.moved_to
    record, version = moved.get(key, (None, None))
    existing = None if record is None else record.state
    ops = [*outcome.ops, *_repoint(env, state, key)]
    ops += index_ops(env, key, existing, final)
    value = _RECORD_ENCODER.encode(advance(record, env.request_id, StepResult(final, reply)))
    path = ue_path(env.deployment, key)
    ops.append(Create(path, value) if version is None else Put(path, value, version))
    return StepResult(None, reply, tuple(ops))


def _repoint(env: Env, provisional: UeContext | None, owner: str) -> list[Op]:
    """Delete + Create of each index entry the provisional context holds, now owned by
    `owner`: its connection's MME-UE-S1AP-ID and its agent UEs."""
    if provisional is None:
        return []
    paths = [agent_index_path(env.deployment, agent) for agent in provisional.agent_index]
    if provisional.connection is not None:
        paths.append(s1ap_index_path(env.deployment, provisional.connection.mme_ue_s1ap_id))
    ops: list[Op] = []
    for path in paths:
        ops += [Delete(path, INDEX_VERSION), Create(path, owner.encode())]
    return ops


def index_ops(env: Env, owner: str, before: UeContext | None, after: UeContext | None) -> list[Op]:
    """The Deletes of identifiers `after` no longer holds, and the agent UE entries to create
    or delete so they match its connection and timers (`after.agent_index` is updated)."""
    deployment = env.deployment
    ops: list[Op] = []
    old_s1ap = _s1ap_id(before)
    new_s1ap = _s1ap_id(after)
    if old_s1ap is not None and old_s1ap != new_s1ap:
        ops.append(Delete(s1ap_index_path(deployment, old_s1ap), INDEX_VERSION))
    for m_tmsi in _m_tmsis(before) - _m_tmsis(after):
        ops.append(Delete(guti_index_path(deployment, m_tmsi), INDEX_VERSION))
    old_teid = before.mme_s11_teid if before else None
    if old_teid is not None and old_teid != (after.mme_s11_teid if after else None):
        ops.append(Delete(mme_s11_index_path(deployment, old_teid), INDEX_VERSION))
    if after is None:
        for agent in before.agent_index if before else ():
            ops.append(Delete(agent_index_path(deployment, agent), INDEX_VERSION))
        return ops
    wanted = _agents_wanted(after)
    held = set(after.agent_index)
    for agent in wanted - held:
        ops.append(Create(agent_index_path(deployment, agent), owner.encode()))
    for agent in held - wanted:
        ops.append(Delete(agent_index_path(deployment, agent), INDEX_VERSION))
    after.agent_index = tuple(sorted(wanted, key=lambda agent: (agent.enb, agent.ue_id)))
    return ops


def _agents_wanted(context: UeContext) -> set[AgentUe]:
    wanted = set(context.timers.values())
    if context.connection is not None:
        wanted.add(context.connection.agent)
    return wanted


def _s1ap_id(context: UeContext | None) -> int | None:
    if context is None or context.connection is None:
        return None
    return context.connection.mme_ue_s1ap_id


def _m_tmsis(context: UeContext | None) -> set[int]:
    if context is None:
        return set()
    return {value for value in (context.m_tmsi, context.old_m_tmsi) if value is not None}


LaneEntry = Callable[[UeContext | None], "tuple[Outcome, LaneReply]"]


def lane_ue_step(entry: LaneEntry, env: Env, run: StepRun):
    """The step of a gateway-initiated request on the UE context (run inside
    `epc.algorithm1.lane_step`): the procedure's S1AP, all core-initiated here
    (`lane_outputs`), joins the sends of its `LaneReply`, recorded as the lane's one reply
    message, and the index ops the change implies commit with it."""

    async def step(state: UeContext | None, effects: SideEffects) -> StepResult[UeContext]:
        run.events.clear()
        outcome, reply = entry(state)
        assert outcome.effect is None, "lane procedures ask for no I/O"
        run.events.extend(outcome.events)
        final = outcome.context
        s1ap = (*lane_outputs(state, outcome), *reply.s1ap)
        recorded = encode_reply(msgspec.structs.replace(reply, s1ap=s1ap))
        ops = [*outcome.ops, *index_ops(env, env.key, state, final)]
        return StepResult(final, Reply((recorded,)), tuple(ops))

    return step
