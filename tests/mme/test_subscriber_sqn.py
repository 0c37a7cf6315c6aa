"""The HSS side of EPS-AKA's sequence number: records in the store, SQN issued by conditional
write, resynchronisation from AUTS; on every store backend, with concurrent instances."""

import asyncio
import os

import pytest

from epc.security.milenage import Milenage
from epc.store.retry import RetryPolicy
from epc.subscriber import (
    IND_BITS,
    SEQ_MAX,
    SqnContention,
    SqnExhausted,
    Subscriber,
    SubscriberFileError,
    UnknownSubscriber,
    advance_sqn,
    decode_subscriber,
    encode_subscriber,
    read_subscriber,
    resynchronise_sqn,
    sqn_after,
    sqn_after_resynchronisation,
    subscriber_path,
)

pytestmark = pytest.mark.mme

K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
IMSI = "001010000000001"


def seq(sqn: int) -> int:
    return sqn >> IND_BITS


async def provision(store, deployment, sqn=0) -> Subscriber:
    subscriber = Subscriber(imsi=IMSI, k=K, opc=OPC, sqn=sqn)
    await store.create(subscriber_path(deployment, IMSI), encode_subscriber(subscriber))
    return subscriber


# --- pure ----------------------------------------------------------------------------------


def test_each_issued_sqn_has_the_next_seq_and_the_next_ind():
    assert sqn_after(0) == (1 << IND_BITS) | 1
    assert sqn_after((7 << IND_BITS) | 31) == 8 << IND_BITS  # IND wraps, SEQ still grows


def test_sqn_refuses_to_wrap_round_at_the_top_of_seq():
    with pytest.raises(SqnExhausted, match="maximum"):
        sqn_after(SEQ_MAX << IND_BITS)


def test_resynchronisation_moves_seq_past_the_usims():
    sqn_he = (5 << IND_BITS) | 3
    resynchronised = sqn_after_resynchronisation(sqn_he, sqn_ms=(900 << IND_BITS) | 17)
    assert resynchronised == (901 << IND_BITS) | 3


def test_resynchronisation_never_moves_sqn_back_for_a_stale_auts():
    sqn_he = 900 << IND_BITS
    assert sqn_after_resynchronisation(sqn_he, sqn_ms=5 << IND_BITS) == sqn_he


def test_a_record_round_trips_through_its_stored_encoding():
    subscriber = Subscriber(imsi=IMSI, k=K, opc=OPC, sqn=12345, apn="ims", qci=5)
    assert decode_subscriber(encode_subscriber(subscriber), "here") == subscriber


def test_a_corrupt_record_names_its_path():
    with pytest.raises(SubscriberFileError, match="/epc/subscribers/1: not a subscriber"):
        decode_subscriber(b"\x01\x02", "/epc/subscribers/1")


# --- against the store ---------------------------------------------------------------------


async def test_a_record_is_read_with_its_version(store, deployment):
    subscriber = await provision(store, deployment)
    stored = await read_subscriber(store, deployment, IMSI)
    assert (stored.subscriber, stored.version) == (subscriber, 0)
    assert await read_subscriber(store, deployment, "001010000000999") is None


async def test_advance_issues_the_stored_sqn_and_stores_the_next(store, deployment):
    await provision(store, deployment, sqn=100)
    issued = await advance_sqn(store, deployment, IMSI)
    assert issued.sqn == 100
    assert issued.subscriber.sqn == sqn_after(100)
    stored = await read_subscriber(store, deployment, IMSI)
    assert (stored.subscriber, stored.version) == (issued.subscriber, issued.version)


async def test_advance_for_an_unknown_imsi_says_which(store, deployment):
    with pytest.raises(UnknownSubscriber, match=f"no subscriber {IMSI}"):
        await advance_sqn(store, deployment, IMSI)


async def test_concurrent_instances_never_issue_the_same_sqn(instances, deployment):
    await provision(instances[0], deployment)
    tasks_per_instance, vectors_per_task = 4, 15

    async def authenticate_repeatedly(store) -> list[int]:
        return [(await advance_sqn(store, deployment, IMSI)).sqn for _ in range(vectors_per_task)]

    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(authenticate_repeatedly(store))
            for store in instances
            for _ in range(tasks_per_instance)
        ]
    issued = [task.result() for task in tasks]
    every = [sqn for one_task in issued for sqn in one_task]
    assert len(set(every)) == len(every) == len(instances) * tasks_per_instance * vectors_per_task
    assert len({seq(sqn) for sqn in every}) == len(every)
    for one_task in issued:
        assert one_task == sorted(one_task)  # what one MME hands one UE only grows
    stored = await read_subscriber(instances[1], deployment, IMSI)
    assert stored.subscriber.sqn == sqn_after(max(every))


async def test_resynchronisation_racing_advances_still_issues_unique_sqns(instances, deployment):
    await provision(instances[0], deployment)
    sqn_ms = 5000 << IND_BITS

    async def advance_many(store) -> list[int]:
        return [(await advance_sqn(store, deployment, IMSI)).sqn for _ in range(10)]

    async def resynchronise(store) -> list[int]:
        return [(await resynchronise_sqn(store, deployment, IMSI, sqn_ms)).sqn]

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(advance_many(store)) for store in instances]
        tasks += [group.create_task(resynchronise(store)) for store in instances]
    every = [sqn for task in tasks for sqn in task.result()]
    assert len(set(every)) == len(every)
    for task in tasks[-2:]:
        assert seq(task.result()[0]) > seq(sqn_ms)


async def test_a_usim_accepts_the_sqn_issued_after_its_auts(store, deployment):
    await provision(store, deployment)
    milenage = Milenage(K, OPC)
    rand = os.urandom(16)
    sqn_ms = (77 << IND_BITS) | 4  # the USIM has seen more than the network remembers
    auts = milenage.synchronisation_failure(rand, sqn_ms)
    issued = await resynchronise_sqn(store, deployment, IMSI, milenage.resynchronise(rand, auts))
    vector = milenage.generate_vector(os.urandom(16), issued.sqn, issued.subscriber.amf)
    checked = milenage.respond(vector.rand, vector.autn)
    assert seq(checked.sqn) > seq(sqn_ms)


async def test_an_update_that_keeps_losing_gives_up_with_contention(store, deployment, monkeypatch):
    await provision(store, deployment)
    put = store.put

    async def put_after_someone_else(path, value, version):
        node = await store.get(path)
        await put(path, node.value, node.version)  # another instance wins every time
        return await put(path, value, version)

    monkeypatch.setattr(store, "put", put_after_someone_else)
    policy = RetryPolicy(tries=3, initial_delay_s=0.001, max_delay_s=0.001)
    with pytest.raises(SqnContention, match="lost 3 conditional writes"):
        await advance_sqn(store, deployment, IMSI, retry=policy)
