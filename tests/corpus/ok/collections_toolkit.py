"""Counter, defaultdict, deque, namedtuple, OrderedDict and ChainMap in everyday use."""

from collections import ChainMap, Counter, OrderedDict, defaultdict, deque, namedtuple

text = "it was the best of times it was the worst of times it was the age of wisdom"
counts = Counter(text.split())
print(counts.most_common(3), counts["times"], counts["missing"])
print(counts + Counter(["times", "new"]), sum(counts.values()))

index = defaultdict(list)
for position, word in enumerate(text.split()):
    index[word].append(position)
print(dict(index)["was"], len(index))

nested = defaultdict(lambda: defaultdict(int))
for a, b in [("x", "y"), ("x", "z"), ("x", "y"), ("q", "y")]:
    nested[a][b] += 1
print({k: dict(v) for k, v in nested.items()})

recent = deque(maxlen=3)
for event in ["login", "view", "edit", "save", "logout"]:
    recent.append(event)
recent.rotate(1)
print(list(recent), recent.popleft(), len(recent))

Point = namedtuple("Point", ["x", "y"], defaults=[0])
p = Point(3)
print(p, p._replace(y=4), p._asdict(), Point._fields, Point(1, 2) + Point(3, 4))

lru = OrderedDict()
for key in ["a", "b", "c", "a", "d"]:
    lru[key] = True
    lru.move_to_end(key)
    if len(lru) > 3:
        lru.popitem(last=False)
print(list(lru))

defaults = {"colour": "red", "size": "M"}
overrides = {"size": "L"}
settings = ChainMap(overrides, defaults)
print(settings["colour"], settings["size"], dict(settings))
