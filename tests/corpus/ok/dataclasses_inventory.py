"""Dataclasses: frozen value types, default_factory, ordering and asdict."""

from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True, order=True)
class Sku:
    code: str
    size: str = "M"


@dataclass
class Item:
    sku: Sku
    price: float
    quantity: int = 0
    tags: list[str] = field(default_factory=list)

    @property
    def value(self) -> float:
        return self.price * self.quantity


@dataclass
class Inventory:
    items: dict[Sku, Item] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        existing = self.items.get(item.sku)
        if existing:
            existing.quantity += item.quantity
        else:
            self.items[item.sku] = item

    def total(self) -> float:
        return sum(item.value for item in self.items.values())


inv = Inventory()
inv.add(Item(Sku("TSHIRT"), 12.5, 10, ["cotton"]))
inv.add(Item(Sku("TSHIRT", "L"), 13.0, 4))
inv.add(Item(Sku("TSHIRT"), 12.5, 5))
for sku in sorted(inv.items):
    print(sku, inv.items[sku].quantity)
print(f"total value {inv.total():.2f}")
bigger = replace(Sku("TSHIRT"), size="XL")
print(bigger, bigger == Sku("TSHIRT", "XL"), hash(bigger) == hash(Sku("TSHIRT", "XL")))
print(asdict(inv.items[Sku("TSHIRT")]))
