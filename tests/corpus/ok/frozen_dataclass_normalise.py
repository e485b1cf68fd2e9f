"""Frozen dataclasses that normalise their fields in __post_init__ with object.__setattr__."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Email:
    address: str

    def __post_init__(self):
        object.__setattr__(self, "address", self.address.strip().lower())
        if "@" not in self.address:
            raise ValueError(f"not an email address: {self.address!r}")

    @property
    def domain(self):
        return self.address.split("@", 1)[1]


@dataclass(frozen=True)
class Team:
    name: str
    members: tuple = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "members", tuple(sorted(set(self.members), key=lambda e: e.address)))


team = Team("core", (Email(" Ada@Example.org "), Email("alan@example.org"), Email("ADA@example.org")))
print(team.name, [m.address for m in team.members], {m.domain for m in team.members})
try:
    Email("nobody")
except ValueError as exc:
    print("rejected:", exc)
print(Email("X@Y.Z") == Email("x@y.z"), hash(Email("a@b.c")) == hash(Email(" A@B.C")))
