"""Kernel SCTP for asyncio: the transport the agent speaks S1AP to the eNB over.

pysctp gives us the SCTP socket calls (sctp_sendmsg / sctp_recvmsg with their PPID and stream)
but only as blocking functions. This module drives them from the event loop: every socket is
non-blocking, a call that would block (EAGAIN) parks the caller on `loop.add_reader` /
`add_writer` until the kernel says the socket is ready, and connect / accept use `loop.sock_*`.
Nothing here ever blocks the loop.

It owns, so that no caller has to know:

- socket setup: `SCTP_NODELAY` (without it each small S1AP message waits ~200 ms for a delayed
  SACK), the `data_io` event subscription (without it the kernel reports no PPID or stream),
  and the number of outbound streams asked for in the INIT (`initmsg`);
- the PPID byte order. pysctp is asymmetric: its `sctp_send` already swaps the PPID into
  network order, so PPID 18 goes on the wire as 18, but `sctp_recv` hands back the kernel's
  raw network-order field (18 arrives as 0x12000000). So PPIDs are host integers everywhere
  in this project and the one conversion happens on receive, in `_read_piece`;
- reassembly: a message bigger than one read, or delivered partially by the kernel, arrives
  in pieces, the last one flagged MSG_EOR; `recv` returns whole messages only;
- errors: `SctpUnavailable` when the kernel has no SCTP, `ConnectionClosed` when the
  association ends.

End of an association: `SctpAssociation.recv` (and `send`) raise `ConnectionClosed` once the
peer has shut down or aborted the association, or after a local `close()`. They never return
None, so a caller's message loop is `while True: message = await association.recv()` inside
`try ... except ConnectionClosed`.

Terms: PPID is the payload protocol identifier of an SCTP DATA chunk (RFC 9260 section 3.3.1;
S1AP uses 18, TS 36.412 section 7); a stream is one of the association's independently ordered
message sequences (S1AP puts non-UE-associated signalling on stream 0, TS 36.412 section 7).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sctp
import structlog

__all__ = [
    "DEFAULT_STREAMS",
    "S1AP_PORT",
    "S1AP_PPID",
    "ConnectionClosed",
    "SctpAssociation",
    "SctpError",
    "SctpListener",
    "SctpMessage",
    "SctpUnavailable",
    "connect",
    "kernel_has_sctp",
    "listen",
]

S1AP_PPID = 18
"""Payload protocol identifier of S1AP (TS 36.412 section 7; IANA SCTP PPID registry)."""

S1AP_PORT = 36412
"""Well-known SCTP port an MME listens on for S1AP (TS 36.412 section 7)."""

DEFAULT_STREAMS = 30
"""Outbound streams asked for in the INIT; Open5GS's MME asks for the same. The peer may grant
fewer; `SctpAssociation.outbound_streams` is what was agreed."""

SCTP_NODELAY = 3
"""Socket option at level IPPROTO_SCTP that sends each message without waiting (linux/sctp.h)."""

_READ_SIZE = 65536
"""Bytes asked for per sctp_recvmsg; an S1AP message is usually far smaller, a bigger one is
reassembled from several reads."""

_PPID_MAX = 0xFFFFFFFF

_CLOSED_ERRNOS = frozenset({errno.ENOTCONN, errno.ESHUTDOWN, errno.EBADF})

Handler = Callable[["SctpAssociation"], Awaitable[None]]

_log = structlog.get_logger(__name__)


class SctpError(OSError):
    """Base of every error this module raises; an OSError, like the socket errors around it."""


class SctpUnavailable(SctpError):
    """The running kernel cannot open SCTP sockets (no sctp module loaded, or none built)."""


class ConnectionClosed(SctpError):
    """The association is over: the peer shut it down or aborted it, or we closed it."""


@dataclass(frozen=True, slots=True)
class SctpMessage:
    """One whole SCTP user message with the PPID (host integer) and stream it travelled with."""

    payload: bytes
    ppid: int
    stream: int


def kernel_has_sctp() -> bool:
    """Whether this kernel can open an SCTP socket (the build hosts' kernel cannot)."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
    except OSError:
        return False
    return True


async def connect(
    host: str, port: int = S1AP_PORT, *, streams: int = DEFAULT_STREAMS
) -> SctpAssociation:
    """Open an association to (host, port) asking for `streams` outbound streams.

    Raises `SctpUnavailable` without kernel SCTP, and the usual OSError (for instance
    ConnectionRefusedError, answered by an ABORT) when the peer does not accept.
    """
    loop = asyncio.get_running_loop()
    family, address = await _resolve(loop, host, port, passive=False)
    raw = _open_socket(family, streams)
    try:
        await loop.sock_connect(raw.sock(), address)
    except BaseException:
        raw.close()
        raise
    return SctpAssociation(raw, loop)


async def listen(
    host: str,
    port: int,
    on_association: Handler,
    *,
    streams: int = DEFAULT_STREAMS,
    backlog: int = 16,
) -> SctpListener:
    """Accept associations on (host, port); port 0 picks a free one (see `address`).

    Each accepted association is passed to `await on_association(association)` in a task the
    listener owns; when the handler returns or fails, the listener closes the association.
    """
    loop = asyncio.get_running_loop()
    family, address = await _resolve(loop, host, port, passive=True)
    raw = _open_socket(family, streams)
    try:
        # A restarted agent must be able to listen again at once, not after TIME_WAIT-like delays.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        raw.bind(address)
        raw.listen(backlog)
    except BaseException:
        raw.close()
        raise
    return SctpListener(raw, family, on_association, loop)


class SctpAssociation:
    """One established association on a one-to-one (TCP-style) SCTP socket.

    One `recv` and one `send` may be in progress at a time each; concurrent callers queue up,
    so messages leave in the order `send` was called.
    """

    def __init__(self, raw: sctp.sctpsocket_tcp, loop: asyncio.AbstractEventLoop) -> None:
        self._raw = raw
        self._loop = loop
        self._fd = raw.fileno()
        self._pieces: list[bytes] = []
        self._waiters: set[asyncio.Future[None]] = set()
        self._recv_lock = asyncio.Lock()
        self._send_lock = asyncio.Lock()
        self._closed = False
        status = raw.get_status()
        self.outbound_streams: int = status.outstrms
        """Streams we may send on (0 .. outbound_streams - 1), as agreed in INIT / INIT-ACK."""
        self.inbound_streams: int = status.instrms
        self.peer: tuple[str, int] = raw.getpeername()[:2]

    async def send(self, payload: bytes, *, ppid: int = S1AP_PPID, stream: int = 0) -> None:
        """Queue one whole message; waits only while the kernel's send buffer is full."""
        self._check_outgoing(payload, ppid, stream)
        async with self._send_lock:
            while not self._write_message(payload, ppid, stream):
                await self._wait_until(self._loop.add_writer, self._loop.remove_writer)

    async def recv(self) -> SctpMessage:
        """The next whole message; raises `ConnectionClosed` when the association is over."""
        async with self._recv_lock:
            while (message := self._read_message()) is None:
                await self._wait_until(self._loop.add_reader, self._loop.remove_reader)
            return message

    def close(self) -> None:
        """Close the socket (the kernel sends SHUTDOWN after unsent data); idempotent.

        Pending and later `recv` / `send` calls raise `ConnectionClosed`.
        """
        if self._closed:
            return
        self._closed = True
        # Unregister before closing: the selector must never watch a closed (reusable) fd.
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        for waiter in self._waiters:
            _wake(waiter)
        self._raw.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SctpAssociation {state} peer={self.peer} streams={self.outbound_streams}>"

    def _check_outgoing(self, payload: bytes, ppid: int, stream: int) -> None:
        if not payload:
            raise ValueError("SCTP cannot carry an empty message")
        if not 0 <= ppid <= _PPID_MAX or ppid & 0x80:
            # pysctp hands the byte-swapped PPID to C as a signed int, so a low byte of 0x80 or
            # more overflows there; S1AP (18), X2AP (27) and NGAP (60) are all below.
            raise ValueError(f"PPID {ppid} cannot be sent through pysctp")
        if not 0 <= stream < self.outbound_streams:
            raise ValueError(
                f"stream {stream} is outside this association's "
                f"{self.outbound_streams} outbound streams"
            )

    def _write_message(self, payload: bytes, ppid: int, stream: int) -> bool:
        """Hand the message to the kernel; False if its send buffer is full (try later)."""
        self._raise_if_closed()
        try:
            # pysctp converts the PPID to network order itself; passing it as is puts 18 on
            # the wire for 18 (checked against a plain kernel socket in tests/sctp).
            self._raw.sctp_send(payload, ppid=ppid, stream=stream)
        except BlockingIOError:
            return False
        except OSError as error:
            _raise_if_association_gone(error)
            raise
        return True

    def _read_message(self) -> SctpMessage | None:
        """The next whole message, or None if the kernel has no more to give right now."""
        self._raise_if_closed()
        while True:
            try:
                piece = self._read_piece()
            except BlockingIOError:
                return None
            if isinstance(piece, SctpMessage):
                return piece

    def _read_piece(self) -> SctpMessage | None:
        """One sctp_recvmsg: a completed message, or None for a piece or a notification."""
        try:
            _, flags, data, info = self._raw.sctp_recv(_READ_SIZE)
        except OSError as error:
            _raise_if_association_gone(error)
            raise
        if flags & sctp.FLAG_NOTIFICATION:
            return None  # none is subscribed; skip any the kernel delivers regardless
        if not data:
            raise ConnectionClosed(f"peer {self.peer} shut the association down")
        self._pieces.append(data)
        if not flags & sctp.FLAG_EOR:
            return None
        payload = b"".join(self._pieces)
        self._pieces.clear()
        # The one PPID conversion: the kernel reports the DATA chunk's field in network order.
        return SctpMessage(payload, ppid=socket.ntohl(info.ppid), stream=info.stream)

    async def _wait_until(
        self,
        add: Callable[..., object],
        remove: Callable[[int], object],
    ) -> None:
        """Park until the fd is ready (add_reader / add_writer) or the association closes."""
        waiter = self._loop.create_future()
        self._waiters.add(waiter)
        add(self._fd, _wake, waiter)
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)
            if not self._closed:
                remove(self._fd)

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise ConnectionClosed(f"association with {self.peer} was closed locally")


class SctpListener:
    """A listening SCTP socket and the tasks serving the associations it accepted.

    `close()` stops accepting and cancels the handlers; `wait_closed()` returns once all of
    them have finished, re-raising the error that stopped accepting, if one did.
    """

    def __init__(
        self,
        raw: sctp.sctpsocket_tcp,
        family: socket.AddressFamily,
        on_association: Handler,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._raw = raw
        self._family = family
        self._on_association = on_association
        self._loop = loop
        self.address: tuple[str, int] = raw.getsockname()[:2]
        """The bound (host, port), with the real port when 0 was asked for."""
        self._accepting = loop.create_task(
            self._accept_forever(), name=f"sctp-listen-{self.address}"
        )

    def close(self) -> None:
        """Stop accepting and cancel every association handler; idempotent."""
        self._accepting.cancel()

    async def wait_closed(self) -> None:
        await asyncio.wait({self._accepting})
        if not self._accepting.cancelled() and self._accepting.exception() is not None:
            raise self._accepting.exception()

    async def _accept_forever(self) -> None:
        try:
            async with asyncio.TaskGroup() as handlers:
                while True:
                    association = await self._accept()
                    handlers.create_task(self._serve(association))
        finally:
            self._raw.close()

    async def _accept(self) -> SctpAssociation:
        while True:
            try:
                accepted, _ = await self._loop.sock_accept(self._raw.sock())
            except ConnectionAbortedError:
                continue  # the peer gave up between INIT and accept; nothing to serve
            try:
                raw = sctp.sctpsocket_tcp(self._family, accepted)
                # Inherited from the listener on Linux, set again so no kernel detail matters.
                _configure(raw)
                return SctpAssociation(raw, self._loop)
            except OSError as error:
                accepted.close()  # the peer left already, or the kernel refused an option
                _log.warning("sctp_accept_failed", listener=self.address, error=str(error))

    async def _serve(self, association: SctpAssociation) -> None:
        log = _log.bind(listener=self.address, peer=association.peer)
        try:
            await self._on_association(association)
        except ConnectionClosed:
            log.info("sctp_association_ended")
        except Exception:
            # One broken association must not take the listener or its siblings down.
            log.exception("sctp_association_handler_failed")
        finally:
            association.close()


def _open_socket(family: socket.AddressFamily, streams: int) -> sctp.sctpsocket_tcp:
    """A configured, non-blocking one-to-one SCTP socket, or `SctpUnavailable`."""
    try:
        raw = sctp.sctpsocket_tcp(family)
    except OSError as error:
        if error.errno in (errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT):
            raise SctpUnavailable(
                error.errno,
                "this kernel has no SCTP (socket(IPPROTO_SCTP) is not supported): load it with "
                "`modprobe sctp`; on a build host without it, the SCTP tests run in the VM tier "
                "(make test-sctp)",
            ) from error
        raise
    try:
        raw.initparams.num_ostreams = streams
        _configure(raw)
    except BaseException:
        raw.close()
        raise
    return raw


def _configure(raw: sctp.sctpsocket_tcp) -> None:
    raw.setblocking(False)
    raw.setsockopt(socket.IPPROTO_SCTP, SCTP_NODELAY, 1)
    # clear(): data_io on (PPID and stream with every message), every notification off, so a
    # read returns data or end of association and nothing else.
    raw.events.clear()


async def _resolve(
    loop: asyncio.AbstractEventLoop, host: str, port: int, *, passive: bool
) -> tuple[socket.AddressFamily, tuple]:
    """The first address getaddrinfo gives for host (any address of any family if passive)."""
    flags = socket.AI_PASSIVE if passive else 0
    infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=flags)
    family, _, _, _, address = infos[0]
    return family, address


def _raise_if_association_gone(error: OSError) -> None:
    """Turn the errors that mean "the association is gone" into `ConnectionClosed`."""
    if isinstance(error, ConnectionError) or error.errno in _CLOSED_ERRNOS:
        raise ConnectionClosed(error.errno, f"association ended: {error.strerror}") from error


def _wake(waiter: asyncio.Future[None]) -> None:
    # Readiness is level-triggered: the callback can fire again before the waiter resumes.
    if not waiter.done():
        waiter.set_result(None)
