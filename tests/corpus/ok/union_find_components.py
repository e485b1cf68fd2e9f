"""Disjoint-set union with path compression; Kruskal's minimum spanning tree."""


class DisjointSet:
    def __init__(self, size):
        self.parent = list(range(size))
        self.rank = [0] * size

    def find(self, item):
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a, b):
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return False
        if self.rank[root_a] < self.rank[root_b]:
            root_a, root_b = root_b, root_a
        self.parent[root_b] = root_a
        if self.rank[root_a] == self.rank[root_b]:
            self.rank[root_a] += 1
        return True


edges = [(1, 0, 1), (4, 0, 2), (3, 1, 2), (2, 1, 3), (5, 2, 3), (7, 3, 4), (6, 2, 4), (9, 5, 6)]
nodes = 7

ds = DisjointSet(nodes)
tree = [(w, a, b) for w, a, b in sorted(edges) if ds.union(a, b)]
print("MST edges:", tree)
print("MST weight:", sum(w for w, _, _ in tree))

components = {}
for node in range(nodes):
    components.setdefault(ds.find(node), []).append(node)
print("components:", sorted(components.values()))
