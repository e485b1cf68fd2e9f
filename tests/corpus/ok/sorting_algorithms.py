"""Merge sort, quicksort and insertion sort checked against sorted()."""

import random


def merge_sort(items):
    if len(items) <= 1:
        return list(items)
    mid = len(items) // 2
    left, right = merge_sort(items[:mid]), merge_sort(items[mid:])
    merged, i, j = [], 0, 0
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    return merged + left[i:] + right[j:]


def quicksort(items):
    if len(items) <= 1:
        return list(items)
    pivot = items[len(items) // 2]
    return (
        quicksort([x for x in items if x < pivot])
        + [x for x in items if x == pivot]
        + quicksort([x for x in items if x > pivot])
    )


def insertion_sort(items):
    out = list(items)
    for i in range(1, len(out)):
        key, j = out[i], i - 1
        while j >= 0 and out[j] > key:
            out[j + 1] = out[j]
            j -= 1
        out[j + 1] = key
    return out


rng = random.Random(12345)
for size in (0, 1, 2, 10, 100, 500):
    data = [rng.randint(-1000, 1000) for _ in range(size)]
    expected = sorted(data)
    for sort in (merge_sort, quicksort, insertion_sort):
        assert sort(data) == expected, sort.__name__
print("all sorts agree;", merge_sort([5, 3, 9, 1, 3]))
words = ["banana", "Apple", "cherry", "apple"]
print(sorted(words, key=str.lower), sorted(words, key=lambda w: (len(w), w)))
