"""A traffic-light state machine with Enum, IntEnum and Flag."""

from enum import Enum, Flag, IntEnum, auto


class Light(Enum):
    RED = auto()
    GREEN = auto()
    YELLOW = auto()

    def next(self):
        order = [Light.RED, Light.GREEN, Light.YELLOW]
        return order[(order.index(self) + 1) % len(order)]


class Priority(IntEnum):
    LOW = 1
    NORMAL = 5
    HIGH = 10


class Permission(Flag):
    READ = auto()
    WRITE = auto()
    EXECUTE = auto()
    ALL = READ | WRITE | EXECUTE


DURATION = {Light.RED: 30, Light.GREEN: 25, Light.YELLOW: 5}

state, clock = Light.RED, 0
for _ in range(7):
    print(f"t={clock:3d}s {state.name:<6} for {DURATION[state]}s")
    clock += DURATION[state]
    state = state.next()

tasks = [("backup", Priority.LOW), ("page", Priority.HIGH), ("report", Priority.NORMAL)]
print([name for name, _ in sorted(tasks, key=lambda t: t[1], reverse=True)])
print(Priority.HIGH > 7, Priority(5).name, Light["GREEN"].value)

user = Permission.READ | Permission.WRITE
print(Permission.WRITE in user, Permission.EXECUTE in user, user == Permission.ALL)
print([p.name for p in Permission if p in user and p is not Permission.ALL])
