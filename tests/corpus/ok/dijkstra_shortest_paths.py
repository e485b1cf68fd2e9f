"""Dijkstra's algorithm on a small road network, with path reconstruction."""

import heapq
from collections import defaultdict

ROADS = [
    ("A", "B", 7),
    ("A", "C", 9),
    ("A", "F", 14),
    ("B", "C", 10),
    ("B", "D", 15),
    ("C", "D", 11),
    ("C", "F", 2),
    ("D", "E", 6),
    ("E", "F", 9),
]


def build_graph(edges):
    graph = defaultdict(list)
    for a, b, weight in edges:
        graph[a].append((b, weight))
        graph[b].append((a, weight))
    return graph


def dijkstra(graph, source):
    dist = {source: 0}
    previous = {}
    queue = [(0, source)]
    while queue:
        d, node = heapq.heappop(queue)
        if d > dist.get(node, float("inf")):
            continue
        for neighbour, weight in graph[node]:
            candidate = d + weight
            if candidate < dist.get(neighbour, float("inf")):
                dist[neighbour] = candidate
                previous[neighbour] = node
                heapq.heappush(queue, (candidate, neighbour))
    return dist, previous


def path_to(previous, target):
    path = [target]
    while path[-1] in previous:
        path.append(previous[path[-1]])
    return path[::-1]


graph = build_graph(ROADS)
dist, previous = dijkstra(graph, "A")
for node in sorted(dist):
    print(f"{node}: {dist[node]:3d} via {' -> '.join(path_to(previous, node))}")
assert dist["E"] == 20
