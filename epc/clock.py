"""The event loop's clock for sans-I/O cores, which take time as a parameter."""

import asyncio


class LoopClock:
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
