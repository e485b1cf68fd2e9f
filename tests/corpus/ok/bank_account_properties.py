"""A bank account class: properties with validation, classmethods, staticmethods, __str__."""


class InsufficientFunds(Exception):
    pass


class Account:
    interest_rate = 0.02
    _next_number = 1000

    def __init__(self, owner, balance=0):
        self.owner = owner
        self._balance = 0
        self.number, Account._next_number = Account._next_number, Account._next_number + 1
        if balance:
            self.deposit(balance)

    balance = property(lambda self: self._balance, doc="Read-only balance.")

    @property
    def owner(self):
        return self._owner

    @owner.setter
    def owner(self, value):
        if not value or not value.strip():
            raise ValueError("owner must not be empty")
        self._owner = value.strip().title()

    def deposit(self, amount):
        if amount <= 0:
            raise ValueError("deposit must be positive")
        self._balance += amount

    def withdraw(self, amount):
        if amount > self._balance:
            raise InsufficientFunds(f"balance {self._balance} < {amount}")
        self._balance -= amount

    @classmethod
    def from_csv(cls, line):
        owner, balance = line.split(",")
        return cls(owner, int(balance))

    @staticmethod
    def yearly_interest(balance, rate):
        return round(balance * rate, 2)

    def __str__(self):
        return f"#{self.number} {self.owner}: {self.balance}"


acct = Account.from_csv("  ada lovelace ,120")
acct.withdraw(20)
try:
    acct.withdraw(500)
except InsufficientFunds as exc:
    print("refused:", exc)
print(acct, Account.yearly_interest(acct.balance, Account.interest_rate))
