"""Lazy data pipelines with generators and itertools."""

import itertools
import operator


def read_records():
    lines = ["2024-01-01,a,3", "2024-01-01,b,5", "2024-01-02,a,2", "bad line", "2024-01-03,b,7", "2024-01-03,a,1"]
    yield from lines


def parse(lines):
    for line in lines:
        parts = line.split(",")
        if len(parts) == 3:
            day, key, value = parts
            yield day, key, int(value)


def running_total(values):
    total = 0
    for value in values:
        total += value
        yield total


def fibonacci():
    a, b = 0, 1
    while True:
        yield a
        a, b = b, a + b


records = list(parse(read_records()))
for day, group in itertools.groupby(records, key=operator.itemgetter(0)):
    print(day, sum(v for _, _, v in group))
print(list(running_total(v for _, _, v in records)))
print(list(itertools.accumulate([1, 2, 3, 4], operator.mul)))
print(list(itertools.islice(fibonacci(), 12)))
print(list(itertools.takewhile(lambda x: x < 100, (n * n for n in itertools.count(1)))))
print(list(itertools.combinations("ABCD", 2))[:4], len(list(itertools.permutations(range(4), 3))))
print(list(itertools.chain.from_iterable([[1, 2], [3], []])), list(itertools.product("ab", repeat=2)))
print(list(itertools.zip_longest("abc", [1], fillvalue=0)), list(itertools.pairwise([1, 4, 9, 16])))
print(list(itertools.compress("abcdef", [1, 0, 1, 0, 1, 1])), list(itertools.starmap(pow, [(2, 5), (3, 2)])))
