"""The PGW's SGi TUN device (pyroute2): created with its address, MTU and routes, removed with
its file descriptor (a TUN that is not persistent goes with its last fd, so a killed PGW leaves
none behind and its successor can take the name again).

Creating a TUN needs CAP_NET_ADMIN; without it `open_sgi` raises `NoNetAdmin`, which the
daemon turns into one line and exit 2.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

import pyroute2.config
from pyroute2 import IPRoute

from epc.userplane.config import SgiConfig

# `IPRoute(netns=...)` forks a helper and stops it with SIGTERM. The fork inherits the
# daemon's asyncio signal handlers and their wakeup fd, so that SIGTERM, caught in the helper,
# reached the daemon's loop as its own: it shut down while starting. The helper resets its
# SIGTERM to the default with this set.
pyroute2.config.disable_mp_signal = True

TUNSETIFF = 0x400454CA
"""ioctl(2) attaching a /dev/net/tun fd to a new device (linux/if_tun.h)."""
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
"""Raw IP packets, no packet information header in front."""
IFF_MULTI_QUEUE = 0x0100
"""Each fd opened on the device is one queue; the kernel spreads what it sends by flow."""
READ_BURST = 64
"""Packets read from SGi per wake-up before the loop gives another reader its turn."""
READ_SIZE = 65535


class TunError(Exception):
    """The SGi device could not be made (the message says why)."""


class NoNetAdmin(TunError):
    """The process lacks CAP_NET_ADMIN."""


@dataclass
class Sgi:
    """An open SGi device: its fd (non-blocking) and name; `close` removes it."""

    fd: int
    device: str
    netns: str | None = None
    queues: tuple[int, ...] = ()
    """Further queues of a multi-queue device, one per extra forwarding worker."""

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.close_queues()

    def close_queues(self) -> None:
        """Once the workers have them, this process's copies of the other queues."""
        for fd in self.queues:
            os.close(fd)
        self.queues = ()


def open_tun(device: str, multi_queue: bool = False) -> int:
    """A new TUN named `device` in this namespace (or, `multi_queue`, one more queue of it);
    its fd, non-blocking."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    flags = IFF_TUN | IFF_NO_PI | (IFF_MULTI_QUEUE if multi_queue else 0)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", device.encode(), flags))
    except OSError as error:
        os.close(fd)
        if error.errno == errno.EPERM:
            raise NoNetAdmin(f"creating TUN device {device} needs CAP_NET_ADMIN") from None
        if error.errno == errno.EBUSY:
            raise TunError(f"TUN device {device} exists and is in use by another process") from None
        raise TunError(f"TUN device {device}: {error.strerror}") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


async def open_sgi(
    config: SgiConfig, pools: tuple[str, ...], netns: str | None = None, queues: int = 1
) -> Sgi:
    """Create and configure the SGi device: up, `config.address`/32, MTU, a route for each of
    `config.routes` (default `pools`). With `netns`, the device is made here and moved into
    that namespace (tests), where its fds go on working. `queues` > 1: a multi-queue device,
    its first queue `fd`, the others `queues`."""
    fd = open_tun(config.device, multi_queue=queues > 1)
    sgi = Sgi(fd, config.device, netns)
    try:
        sgi.queues = tuple(open_tun(config.device, multi_queue=True) for _ in range(queues - 1))
    except BaseException:
        sgi.close()
        raise
    routes = config.routes if config.routes is not None else pools
    try:
        # pyroute2's AsyncIPRoute cannot open its netlink socket on uvloop: the blocking
        # IPRoute, in a thread, once at start.
        await asyncio.to_thread(_configure, config, routes, netns)
    except BaseException as error:
        sgi.close()
        if isinstance(error, Exception) and not isinstance(error, TunError):
            raise TunError(f"TUN device {config.device}: {error}") from error
        raise
    return sgi


def _configure(config: SgiConfig, routes: tuple[str, ...], netns: str | None) -> None:
    if netns is not None:
        with IPRoute() as root:
            index = root.link_lookup(ifname=config.device)[0]
            root.link("set", index=index, net_ns_fd=netns)
    with IPRoute(netns=netns) if netns is not None else IPRoute() as ipr:
        index = ipr.link_lookup(ifname=config.device)[0]
        ipr.link("set", index=index, mtu=config.mtu, state="up")
        ipr.addr("add", index=index, address=config.address, prefixlen=32)
        for route in routes:
            ipr.route("replace", dst=route, oif=index)


def read_packets(fd: int, received: Callable[[bytes], None]) -> None:
    """When the device is readable: up to `READ_BURST` packets to `received`."""
    for _ in range(READ_BURST):
        try:
            packet = os.read(fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # the device is going away
        received(packet)
