"""Serialise plain objects to JSON with default=lambda o: o.__dict__ and load them back."""

import json


class Address:
    def __init__(self, street, city):
        self.street = street
        self.city = city


class Customer:
    def __init__(self, name, email, address, tags=None):
        self.name = name
        self.email = email
        self.address = address
        self.tags = tags or []

    @classmethod
    def from_dict(cls, data):
        return cls(data["name"], data["email"], Address(**data["address"]), data["tags"])


customers = [
    Customer("Ada", "ada@example.org", Address("1 Analytical St", "London"), ["vip"]),
    Customer("Alan", "alan@example.org", Address("2 Bletchley Rd", "Milton Keynes")),
]

text = json.dumps(customers, default=lambda o: o.__dict__, indent=2)
print(text.splitlines()[:6])
with open("customers.json", "w", encoding="utf-8") as fh:
    fh.write(text)

with open("customers.json", encoding="utf-8") as fh:
    loaded = [Customer.from_dict(d) for d in json.load(fh)]
print([(c.name, c.address.city, c.tags) for c in loaded])
