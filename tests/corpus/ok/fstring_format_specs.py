"""f-strings with format specs: alignment, precision, thousands, percent, dates, nesting."""

from datetime import date, datetime

price = 1234567.891
ratio = 0.4567
name = "widget"
count = 42

print(f"{name:>12}|{name:<12}|{name:^12}|")
print(f"{price:,.2f} {price:_.1f} {price:e} {price:.3g}")
print(f"{ratio:.1%} {count:05d} {count:x} {count:#o} {count:b} {-count:+d}")
print(f"{count!r} {name!r} {name!s:*^14}")
width, precision = 10, 3
print(f"[{3.14159265:{width}.{precision}f}]")
print(f"{datetime(2024, 2, 29, 13, 5):%Y-%m-%d %H:%M} {date(2024, 1, 1):%A %d %B}")
print(f"{count=} {price * 2=:.1f}")

rows = [("apples", 3, 0.5), ("kiwis", 12, 0.25), ("melons", 1, 3.0)]
print(f"{'item':<8}{'qty':>5}{'each':>8}{'total':>9}")
for item, qty, each in rows:
    print(f"{item:<8}{qty:>5}{each:>8.2f}{qty * each:>9.2f}")
print(f"{'':-<30}")
print("{:<8}{:>22.2f}".format("sum", sum(q * e for _, q, e in rows)))
print("%s has %d items costing %.2f" % ("cart", len(rows), 9.5))
