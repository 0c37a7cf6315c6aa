"""The GTP-U user plane of the SGW and the PGW (TS 29.281, TS 23.401; ../shared/DESIGN.md
section 5), run inside the `epc-sgw` / `epc-pgw` daemons next to their control frontends.

- `forwarder`: the sans-I/O core: tables from the forwarding records, the per-packet path,
  buffering for idle UEs, path messages (Echo, Error Indication, End Marker);
- `counters`: per-interface packets, octets and drops, and their JSON snapshot file;
- `config`: `[userplane]` and the PGW's `[sgi]`;
- `tun`: the SGi TUN device (pyroute2);
- `service`: the asyncio adapter: socket, SGi reader, rules from the store (start, listener,
  polling), paging requests, counters writer.

`UserPlaneLink` joins the two halves of a daemon, which are built in opposite orders: the
control frontend needs its listener and paging-failure callback when it is built, the user
plane needs the frontend's store and service.
"""

from __future__ import annotations

from epc.forwarding import Change
from epc.userplane.service import UserPlane

__all__ = ["UserPlane", "UserPlaneLink"]


class UserPlaneLink:
    """A `ForwardingListener` and `on_paging_failed` for the frontend, delegating to the user
    plane once it exists (before that, changes are dropped: the user plane reads every record
    when it starts)."""

    def __init__(self) -> None:
        self.user_plane: UserPlane | None = None

    def forwarding_changed(self, changes: list[Change]) -> None:
        if self.user_plane is not None:
            self.user_plane.forwarding_changed(changes)

    def paging_failed(self, imsi: str) -> None:
        if self.user_plane is not None:
            self.user_plane.paging_failed(imsi)
