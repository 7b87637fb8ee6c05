"""A writer process for the crash test: writes a random stream until it is killed.

    python crash_writer.py URL SCHEMA SEED BATCH

Batch 0 is the stream's setup, batch i > 0 the next BATCH random commands (as
`StreamMaker(SEED)` draws them), so the test can rebuild any prefix of batches. After each
batch is durable it prints `durable <i>`, in order, and flushes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange.engine import Engine
from exchange.store.bridge import open_bridge
from exchange.store.migrate import upgrade_engine
from exchange.store.recovery import recover
from exchange.store.writer import Batch, serve_writer
from store.streams import StreamMaker


async def main(url: str, schema: str, seed: int, size: int) -> None:
    options = {"schema": schema} if schema else {}
    maker = StreamMaker(seed)
    engine = Engine()
    async with open_bridge(url, **options) as bridge:
        await bridge.run(upgrade_engine)
        recovered = await recover(bridge)
        send, receive = trio.open_memory_channel[Batch](8)
        acks_send, acks_receive = trio.open_memory_channel[tuple[int, Batch]](1000)
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_writer, bridge, receive, recovered.ledger)
            nursery.start_soon(report, acks_receive)
            index = 0
            while True:
                commands = maker.setup() if index == 0 else maker.commands(size)
                batch = Batch()
                for command in commands:
                    batch.add(engine.handle(command))
                await send.send(batch)
                await acks_send.send((index, batch))
                index += 1


async def report(acks: trio.MemoryReceiveChannel[tuple[int, Batch]]) -> None:
    async for index, batch in acks:
        await batch.durable.wait()
        print(f"durable {index}", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
