"""The SCTP transport tests run twice, on asyncio's own loop and on uvloop (what the daemons
use), since the adapter leans on `loop.add_reader` and `loop.sock_*` whose implementations
differ. (Where tests marked `sctp` run at all is decided in tests/conftest.py.)
"""

import asyncio

import pytest
import uvloop


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item):
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
