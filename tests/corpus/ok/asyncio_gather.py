"""asyncio: gather coroutines, a bounded semaphore, timeouts, queues and tasks."""

import asyncio
import random


async def fetch(name, delay):
    await asyncio.sleep(delay)
    return f"{name} after {delay:.2f}s"


async def limited(sem, n):
    async with sem:
        await asyncio.sleep(0.01)
        return n * 2


async def producer(q, n):
    for i in range(n):
        await q.put(i)
    await q.put(None)


async def consumer(q):
    total = 0
    while (item := await q.get()) is not None:
        total += item
    return total


async def main():
    rng = random.Random(5)
    results = await asyncio.gather(*(fetch(f"job{i}", rng.uniform(0.01, 0.05)) for i in range(5)))
    print(results)

    sem = asyncio.Semaphore(2)
    print(await asyncio.gather(*(limited(sem, n) for n in range(6))))

    try:
        await asyncio.wait_for(asyncio.sleep(1), timeout=0.05)
    except asyncio.TimeoutError:
        print("timed out as expected")

    q = asyncio.Queue(maxsize=3)
    _, total = await asyncio.gather(producer(q, 10), consumer(q))
    print("consumed total", total)

    outcomes = await asyncio.gather(fetch("ok", 0.01), asyncio.sleep(0, result=7), return_exceptions=True)
    print(outcomes)
    task = asyncio.create_task(fetch("background", 0.02))
    print(await task, task.done())


asyncio.run(main())
