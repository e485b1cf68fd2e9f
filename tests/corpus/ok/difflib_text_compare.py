"""Compare two versions of a text with difflib: unified diff, ratios and close matches."""

import difflib

old = """def greet(name):
    print("Hello " + name)

greet("world")
""".splitlines(keepends=True)

new = """def greet(name, punctuation="!"):
    print(f"Hello {name}{punctuation}")

greet("world")
greet("sandbox", "?")
""".splitlines(keepends=True)

for line in difflib.unified_diff(old, new, fromfile="v1.py", tofile="v2.py"):
    print(line, end="")

matcher = difflib.SequenceMatcher(None, "".join(old), "".join(new))
print(f"similarity {matcher.ratio():.2f}")
for tag, i1, i2, j1, j2 in matcher.get_opcodes()[:4]:
    print(tag, i1, i2, j1, j2)

commands = ["commit", "checkout", "cherry-pick", "clone", "config", "push", "pull"]
for typo in ["comit", "chekout", "pul", "xyz"]:
    print(typo, "->", difflib.get_close_matches(typo, commands, n=2, cutoff=0.6))
print(list(difflib.ndiff(["one", "two"], ["one", "too"])))
