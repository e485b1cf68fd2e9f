"""concurrent.futures: map, submit/as_completed, exceptions from workers, timeouts."""

import time
from concurrent.futures import ThreadPoolExecutor, as_completed, wait


def slow_square(n):
    time.sleep(0.01 * (n % 3))
    return n * n


def checked_sqrt(n):
    if n < 0:
        raise ValueError(f"negative input {n}")
    return n**0.5


with ThreadPoolExecutor(max_workers=4) as pool:
    print(list(pool.map(slow_square, range(8))))

    futures = {pool.submit(checked_sqrt, n): n for n in [16, -1, 2, 81]}
    results = {}
    for future in as_completed(futures):
        n = futures[future]
        try:
            results[n] = round(future.result(), 3)
        except ValueError as exc:
            results[n] = f"error: {exc}"
    print(dict(sorted(results.items())))

    batch = [pool.submit(slow_square, n) for n in range(5)]
    finished, pending = wait(batch, timeout=5)
    print(len(finished), len(pending), sum(f.result() for f in finished))
