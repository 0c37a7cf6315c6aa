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
from dataclasses import dataclass

from pyroute2 import IPRoute

from epc.userplane.config import SgiConfig

TUNSETIFF = 0x400454CA
"""ioctl(2) attaching a /dev/net/tun fd to a new device (linux/if_tun.h)."""
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
"""Raw IP packets, no packet information header in front."""


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

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_tun(device: str) -> int:
    """A new TUN named `device` in this namespace; its fd, non-blocking."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", device.encode(), IFF_TUN | IFF_NO_PI))
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


async def open_sgi(config: SgiConfig, pools: tuple[str, ...], netns: str | None = None) -> Sgi:
    """Create and configure the SGi device: up, `config.address`/32, MTU, a route for each of
    `config.routes` (default `pools`). With `netns`, the device is made here and moved into
    that namespace (tests), where its fd goes on working."""
    fd = open_tun(config.device)
    sgi = Sgi(fd, config.device, netns)
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
