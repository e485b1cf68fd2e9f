"""Longest increasing subsequence: O(n^2) DP and O(n log n) patience sorting agree."""

import bisect
import random


def lis_quadratic(seq):
    if not seq:
        return []
    length = [1] * len(seq)
    prev = [-1] * len(seq)
    for i in range(len(seq)):
        for j in range(i):
            if seq[j] < seq[i] and length[j] + 1 > length[i]:
                length[i], prev[i] = length[j] + 1, j
    i = max(range(len(seq)), key=length.__getitem__)
    out = []
    while i != -1:
        out.append(seq[i])
        i = prev[i]
    return out[::-1]


def lis_length(seq):
    tails = []
    for x in seq:
        k = bisect.bisect_left(tails, x)
        if k == len(tails):
            tails.append(x)
        else:
            tails[k] = x
    return len(tails)


random.seed(3)
for _ in range(20):
    data = [random.randint(0, 50) for _ in range(random.randint(0, 30))]
    assert len(lis_quadratic(data)) == lis_length(data)
example = [10, 9, 2, 5, 3, 7, 101, 18, 4, 19]
print(example, "->", lis_quadratic(example), lis_length(example))
