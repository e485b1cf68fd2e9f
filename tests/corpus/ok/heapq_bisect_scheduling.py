"""Priority scheduling with heapq, top-k, merging sorted streams, and grading with bisect."""

import bisect
import heapq
import itertools

tasks = [(3, "write report"), (1, "fix outage"), (2, "review PR"), (5, "lunch"), (1, "call customer")]
counter = itertools.count()
queue = []
for priority, name in tasks:
    heapq.heappush(queue, (priority, next(counter), name))
order = []
while queue:
    priority, _, name = heapq.heappop(queue)
    order.append(f"{priority}:{name}")
print(order)

scores = [88, 42, 97, 63, 71, 99, 55, 80]
print("top 3:", heapq.nlargest(3, scores), "bottom 2:", heapq.nsmallest(2, scores))
print(list(heapq.merge([1, 4, 9], [2, 3, 10], [5])))

BREAKPOINTS = [60, 70, 80, 90]
GRADES = "FDCBA"


def grade(score):
    return GRADES[bisect.bisect(BREAKPOINTS, score)]


print([grade(s) for s in scores])
ordered = []
for s in scores:
    bisect.insort(ordered, s)
print(ordered, bisect.bisect_left(ordered, 71), bisect.bisect_right(ordered, 71))

intervals = [(9, 10), (9.5, 11), (10, 12), (11, 12.5), (13, 14)]
rooms = []
for start, end in sorted(intervals):
    if rooms and rooms[0] <= start:
        heapq.heapreplace(rooms, end)
    else:
        heapq.heappush(rooms, end)
print("meeting rooms needed:", len(rooms))
