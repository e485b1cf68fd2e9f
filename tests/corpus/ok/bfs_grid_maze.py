"""Breadth-first search through a text maze, printing the shortest route."""

from collections import deque

MAZE = """\
S.#.......
.##.####.#
....#....#
.####.##.#
......#..E
""".splitlines()


def find(char):
    for r, row in enumerate(MAZE):
        c = row.find(char)
        if c != -1:
            return r, c
    raise ValueError(char)


def bfs(start, goal):
    rows, cols = len(MAZE), len(MAZE[0])
    came_from = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            break
        r, c = cell
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < rows and 0 <= nc < cols and MAZE[nr][nc] != "#" and (nr, nc) not in came_from:
                came_from[(nr, nc)] = cell
                queue.append((nr, nc))
    path, cell = [], goal
    while cell is not None:
        path.append(cell)
        cell = came_from[cell]
    return path[::-1]


route = bfs(find("S"), find("E"))
grid = [list(row) for row in MAZE]
for r, c in route[1:-1]:
    grid[r][c] = "*"
print("\n".join("".join(row) for row in grid))
print(f"{len(route) - 1} steps")
