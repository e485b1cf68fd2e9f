"""Word count over stdin (or a built-in sample when stdin is empty); options from sys.argv."""

import sys
from collections import Counter

SAMPLE = """The sandbox runs this program with an empty standard input.
When nothing arrives, the program counts words in this sample instead.
Words are lower-cased; punctuation is stripped from both ends."""


def main(argv):
    top = 5
    for arg in argv[1:]:
        if arg.startswith("--top="):
            top = int(arg.split("=", 1)[1])
    text = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    source = "stdin"
    if not text.strip():
        text, source = SAMPLE, "sample"
    words = [w.strip(".,;:!?\"'()").lower() for w in text.split()]
    words = [w for w in words if w]
    counts = Counter(words)
    lines = text.count("\n") + (not text.endswith("\n"))
    print(f"source={source} args={argv[1:]} lines={lines} words={len(words)} chars={len(text)}")
    for word, n in counts.most_common(top):
        print(f"{n:3d} {word}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
