"""The ECHO wire format: every kind round-trips through its documented bytes, a stream decodes
the same however TCP splits it, and bad bytes end only in the outcomes of the error rule."""

from __future__ import annotations

import random

import pytest
from harness.fuzz import mutations, peak_memory_bytes, random_mutation
from hypothesis import given, settings
from hypothesis import strategies as st

from echo_agent.wire import (
    HEADER,
    HEADER_SIZE,
    MAGIC,
    MAX_PAYLOAD,
    VERSION,
    ErrorCode,
    Frame,
    FrameError,
    FrameKind,
    FrameReader,
    UnknownKind,
    encode,
    error_frame,
)

pytestmark = pytest.mark.agent

S1AP_PDU = bytes.fromhex("000c405c000005000800020001001a00302f075380a1b2c3d4e5f6")

EXAMPLES = {
    FrameKind.HELLO: Frame(FrameKind.HELLO, payload=b"enb-00101-1a2b3"),
    FrameKind.REQUEST: Frame(
        FrameKind.REQUEST, ue_id=7, request_id=1_700_000_000_000_001, stream=1, payload=S1AP_PDU
    ),
    FrameKind.REPLY: Frame(
        FrameKind.REPLY, ue_id=7, request_id=1_700_000_000_000_001, sequence=1, payload=S1AP_PDU
    ),
    FrameKind.ACK: Frame(FrameKind.ACK, ue_id=7, request_id=1_700_000_000_000_001, sequence=2),
    FrameKind.SET_TIMER: Frame(
        FrameKind.SET_TIMER, ue_id=7, request_id=12, timer_id=3450, timer_ms=6000
    ),
    FrameKind.CANCEL_TIMER: Frame(FrameKind.CANCEL_TIMER, ue_id=7, request_id=13, timer_id=3450),
    FrameKind.TIMER_FIRED: Frame(FrameKind.TIMER_FIRED, ue_id=7, request_id=14, timer_id=3450),
    FrameKind.CORE_INITIATED: Frame(
        FrameKind.CORE_INITIATED, request_id=99, sequence=0, stream=0, payload=S1AP_PDU
    ),
    FrameKind.PING: Frame(FrameKind.PING, request_id=5),
    FrameKind.PONG: Frame(FrameKind.PONG, request_id=5),
    FrameKind.ERROR: error_frame(ErrorCode.UNKNOWN_KIND, "unknown frame kind 200"),
}

FATAL_CODES = {ErrorCode.BAD_MAGIC, ErrorCode.UNSUPPORTED_VERSION, ErrorCode.OVERSIZED}


def decode_all(*chunks: bytes) -> list[Frame | UnknownKind]:
    reader = FrameReader()
    outcomes = []
    for chunk in chunks:
        outcomes += reader.feed(chunk)
    reader.end_of_stream()
    return outcomes


def raw_header(kind: int = FrameKind.PING, length: int = 0, *, magic=MAGIC, version=VERSION):
    return HEADER.pack(magic, version, kind, length, 0, 0, 0, 0, 0, 0)


# --- round trips ----------------------------------------------------------------------------


def test_every_kind_has_an_example() -> None:
    assert set(EXAMPLES) == set(FrameKind)


@pytest.mark.parametrize("kind", list(FrameKind), ids=lambda kind: kind.name)
def test_every_kind_round_trips(kind: FrameKind) -> None:
    assert decode_all(encode(EXAMPLES[kind])) == [EXAMPLES[kind]]


def test_the_header_is_the_documented_layout() -> None:
    frame = Frame(
        FrameKind.REPLY,
        ue_id=0x0102030405060708,
        request_id=0x1112131415161718,
        sequence=0x21222324,
        timer_id=0x31323334,
        timer_ms=0x41424344,
        stream=0x5152,
        payload=b"\xaa\xbb",
    )
    assert encode(frame).hex(" ") == (
        "45 43 01 03 00 00 00 02"  # magic "EC", version 1, kind REPLY, payload length 2
        " 01 02 03 04 05 06 07 08"  # ue_id
        " 11 12 13 14 15 16 17 18"  # request_id
        " 21 22 23 24 31 32 33 34"  # sequence, timer_id
        " 41 42 43 44 51 52"  # timer_ms, stream
        " aa bb"  # payload
    )
    assert HEADER_SIZE == 38


def test_a_payload_of_max_payload_octets_round_trips() -> None:
    frame = Frame(FrameKind.REQUEST, ue_id=1, request_id=2, payload=bytes(MAX_PAYLOAD))
    assert decode_all(encode(frame)) == [frame]


frames = st.builds(
    Frame,
    kind=st.sampled_from(FrameKind),
    ue_id=st.integers(0, 2**64 - 1),
    request_id=st.integers(0, 2**64 - 1),
    sequence=st.integers(0, 2**32 - 1),
    timer_id=st.integers(0, 2**32 - 1),
    timer_ms=st.integers(0, 2**32 - 1),
    stream=st.integers(0, 2**16 - 1),
    payload=st.binary(max_size=300),
)


@settings(max_examples=500)
@given(frames)
def test_generated_frames_round_trip(frame: Frame) -> None:
    data = encode(frame)
    assert len(data) == HEADER_SIZE + len(frame.payload)
    assert decode_all(data) == [frame]


# --- encode refuses what does not fit --------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ue_id", -1),
        ("ue_id", 2**64),
        ("request_id", 2**64),
        ("sequence", 2**32),
        ("timer_id", -5),
        ("timer_ms", 2**32),
        ("stream", 2**16),
    ],
)
def test_encode_refuses_a_field_out_of_range_naming_it(field: str, value: int) -> None:
    frame = Frame(FrameKind.REQUEST, **{field: value})
    with pytest.raises(ValueError, match=field):
        encode(frame)


def test_encode_refuses_a_kind_that_is_not_a_frame_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        encode(Frame(200))  # type: ignore[arg-type]


def test_encode_refuses_a_payload_above_max_payload() -> None:
    with pytest.raises(ValueError, match="payload"):
        encode(Frame(FrameKind.REQUEST, payload=bytes(MAX_PAYLOAD + 1)))


# --- a stream, split anyhow ------------------------------------------------------------------


def test_frames_fed_byte_by_byte_come_out_whole_and_in_order() -> None:
    stream = b"".join(encode(frame) for frame in EXAMPLES.values())
    reader = FrameReader()
    outcomes = []
    for index in range(len(stream)):
        outcomes += reader.feed(stream[index : index + 1])
    assert outcomes == list(EXAMPLES.values())


@settings(max_examples=300)
@given(st.lists(frames, max_size=8), st.data())
def test_a_stream_decodes_the_same_however_it_is_split(frame_list, data) -> None:
    stream = b"".join(encode(frame) for frame in frame_list)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    chunks = [
        stream[start:end] for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True)
    ]
    assert decode_all(*chunks) == frame_list


def test_a_partial_frame_waits_for_the_rest() -> None:
    data = encode(EXAMPLES[FrameKind.REQUEST])
    reader = FrameReader()
    assert reader.feed(data[:-1]) == []
    assert reader.feed(data[-1:]) == [EXAMPLES[FrameKind.REQUEST]]


# --- the error rule ---------------------------------------------------------------------------


def test_an_oversized_length_is_refused_as_soon_as_it_arrives() -> None:
    reader = FrameReader()
    with pytest.raises(FrameError) as caught:
        reader.feed(raw_header(FrameKind.REQUEST, MAX_PAYLOAD + 1)[:8])
    assert caught.value.code == ErrorCode.OVERSIZED
    assert caught.value.answer() == Frame(
        FrameKind.ERROR, sequence=ErrorCode.OVERSIZED, payload=caught.value.reason.encode()
    )


def test_a_peer_that_does_not_speak_echo_is_refused_at_its_first_octets() -> None:
    with pytest.raises(FrameError) as caught:
        FrameReader().feed(b"GE")
    assert caught.value.code == ErrorCode.BAD_MAGIC
    assert caught.value.answer().sequence == ErrorCode.BAD_MAGIC


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(FrameError) as caught:
        FrameReader().feed(raw_header(version=VERSION + 1))
    assert caught.value.code == ErrorCode.UNSUPPORTED_VERSION
    assert caught.value.answer().sequence == ErrorCode.UNSUPPORTED_VERSION


def test_an_unknown_kind_is_skipped_and_the_stream_stays_in_sync() -> None:
    before, after = EXAMPLES[FrameKind.REQUEST], EXAMPLES[FrameKind.PING]
    unknown = raw_header(200, 5) + b"hello"
    outcomes = decode_all(encode(before) + unknown + encode(after))
    assert outcomes == [before, UnknownKind(200, 5), after]
    answer = outcomes[1].answer()
    assert (answer.kind, answer.sequence) == (FrameKind.ERROR, ErrorCode.UNKNOWN_KIND)


def test_a_reader_that_met_a_bad_header_stays_spent() -> None:
    reader = FrameReader()
    with pytest.raises(FrameError):
        reader.feed(b"XX")
    with pytest.raises(FrameError) as caught:
        reader.feed(encode(EXAMPLES[FrameKind.PING]))
    assert caught.value.code == ErrorCode.BAD_MAGIC


def test_a_stream_ending_inside_a_frame_is_reported_as_truncated() -> None:
    reader = FrameReader()
    reader.feed(encode(EXAMPLES[FrameKind.REPLY])[:-3])
    with pytest.raises(FrameError) as caught:
        reader.end_of_stream()
    assert caught.value.code == ErrorCode.TRUNCATED


def test_a_stream_ending_between_frames_is_clean() -> None:
    reader = FrameReader()
    reader.feed(encode(EXAMPLES[FrameKind.REPLY]))
    reader.end_of_stream()


# --- fuzzing -----------------------------------------------------------------------------------

GOLDEN_STREAMS = [
    encode(EXAMPLES[FrameKind.HELLO]) + encode(EXAMPLES[FrameKind.REQUEST]),
    b"".join(encode(frame) for frame in EXAMPLES.values()),
    encode(EXAMPLES[FrameKind.ACK]) * 3,
]


def outcomes_by_rule(chunks: list[bytes]) -> tuple[list[Frame | UnknownKind], ErrorCode | None]:
    """Everything the reader produced, and the error that ended the stream: only frames,
    unknown kinds and FrameError may come out."""
    reader = FrameReader()
    outcomes: list[Frame | UnknownKind] = []
    try:
        for chunk in chunks:
            outcomes += reader.feed(chunk)
        reader.end_of_stream()
    except FrameError as error:
        assert error.code in FATAL_CODES | {ErrorCode.TRUNCATED}
        assert error.answer().kind == FrameKind.ERROR
        return outcomes, error.code
    assert all(isinstance(outcome, Frame | UnknownKind) for outcome in outcomes)
    return outcomes, None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    cuts = sorted(cut % (len(data) + 1) for cut in cuts)
    return [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@settings(max_examples=1000, deadline=200)
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=10))
def test_random_bytes_end_only_in_the_outcomes_of_the_error_rule(data, cuts) -> None:
    outcomes_by_rule(split(data, cuts))


@settings(max_examples=1000, deadline=200)
@given(mutations(GOLDEN_STREAMS, max_edits=6), st.lists(st.integers(0, 2000), max_size=10))
def test_mutated_streams_decode_alike_in_any_chunking(data, cuts) -> None:
    """Frames, unknown kinds or FrameError only, and the same ones whole or in pieces: one
    frame's outcome never depends on where TCP split the stream (the frames a `feed` completed
    before a bad header are dropped with it, so compare after a clean end only)."""
    whole = outcomes_by_rule([data])
    pieces = outcomes_by_rule(split(data, cuts))
    assert whole[1] == pieces[1]
    if whole[1] is None:
        assert whole[0] == pieces[0]


def test_fuzz_batch_memory_stays_bounded() -> None:
    generator = random.Random(11)
    inputs = [random_mutation(generator, GOLDEN_STREAMS, max_edits=6) for _ in range(5_000)]
    assert peak_memory_bytes(lambda data: outcomes_by_rule([data]), inputs) < 2 * 1024 * 1024


def test_a_reader_buffers_at_most_one_frame_of_a_long_stream() -> None:
    stream = encode(Frame(FrameKind.REQUEST, payload=bytes(MAX_PAYLOAD))) * 8
    chunks = [stream[start : start + 4096] for start in range(0, len(stream), 4096)]
    reader = FrameReader()
    peak = peak_memory_bytes(reader.feed, chunks)
    assert peak < 3 * (HEADER_SIZE + MAX_PAYLOAD)
