"""A plain-text report: aligned table, textwrap paragraphs and a bar chart."""

import textwrap

ROWS = [
    ("Portugal", 10.3, 92_212, "Lisbon"),
    ("Iceland", 0.37, 103_000, "Reykjavik"),
    ("Netherlands", 17.8, 41_850, "Amsterdam"),
    ("Luxembourg", 0.66, 2_586, "Luxembourg"),
]
HEADERS = ("Country", "Pop (M)", "Area km2", "Capital")


def table(headers, rows):
    cells = [headers] + [(name, f"{pop:.2f}", f"{area:,}", cap) for name, pop, area, cap in rows]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(headers))]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line]
    for n, row in enumerate(cells):
        out.append(
            "| "
            + " | ".join(s.rjust(w) if 0 < i < 3 else s.ljust(w) for i, (s, w) in enumerate(zip(row, widths)))
            + " |"
        )
        if n == 0:
            out.append(line.replace("-", "="))
    out.append(line)
    return "\n".join(out)


print(table(HEADERS, ROWS))
summary = (
    "The table lists four small European countries with their population in millions, their area in "
    "square kilometres and their capital city. Population density varies by two orders of magnitude."
)
print(textwrap.fill(summary, width=50, initial_indent="  ", subsequent_indent="  "))
print(textwrap.shorten(summary, width=60, placeholder=" [...]"))
print(
    textwrap.indent(
        textwrap.dedent("""
    note:
      numbers are approximate
"""),
        "> ",
    )
)
densest = max(ROWS, key=lambda r: r[1] * 1e6 / r[2])
for name, pop, area, _ in ROWS:
    density = pop * 1e6 / area
    print(f"{name:<12} {'#' * int(density / 20):<25} {density:7.1f}/km2{' *' if name == densest[0] else ''}")
