"""Threads sharing a counter under a Lock, a producer/consumer queue and an Event."""

import queue
import threading

counter = 0
lock = threading.Lock()


def increment(times):
    global counter
    for _ in range(times):
        with lock:
            counter += 1


threads = [threading.Thread(target=increment, args=(10_000,)) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("counter:", counter)

jobs = queue.Queue()
results = []
results_lock = threading.Lock()
done = threading.Event()


def worker(worker_id):
    while True:
        item = jobs.get()
        if item is None:
            jobs.task_done()
            break
        with results_lock:
            results.append((worker_id, item * item))
        jobs.task_done()


workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(3)]
for w in workers:
    w.start()
for n in range(10):
    jobs.put(n)
for _ in workers:
    jobs.put(None)
jobs.join()
done.set()
print(sorted(value for _, value in results), done.is_set(), threading.active_count() >= 1)
