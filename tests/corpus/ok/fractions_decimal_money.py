"""Exact arithmetic: Fraction for ratios, Decimal for money with explicit rounding."""

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, getcontext, localcontext
from fractions import Fraction

print(0.1 + 0.2 == 0.3, Decimal("0.1") + Decimal("0.2") == Decimal("0.3"))

harmonic = sum(Fraction(1, n) for n in range(1, 11))
print(harmonic, float(harmonic), harmonic.numerator, harmonic.denominator)
print(Fraction(3, 4) * Fraction(2, 3), Fraction("0.125"), Fraction(0.75).limit_denominator(10))
print(Fraction(22, 7) - Fraction(355, 113), round(Fraction(7, 3), 2))

getcontext().prec = 28
prices = [Decimal("19.99"), Decimal("5.01"), Decimal("0.333")]
subtotal = sum(prices)
vat = (subtotal * Decimal("0.21")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
print(f"subtotal {subtotal} vat {vat} total {subtotal + vat}")
print(Decimal("2.675").quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN), round(2.675, 2))

with localcontext() as ctx:
    ctx.prec = 50
    print(Decimal(2).sqrt())
print(Decimal(1) / Decimal(7))

share, remainder = divmod(Decimal("100.00"), 3)
print("split 100 three ways:", [Decimal("33.33")] * 2 + [Decimal("100.00") - 2 * Decimal("33.33")], share, remainder)
