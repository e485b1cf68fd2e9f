"""A plugin registry built with __init_subclass__: subclasses register themselves by name."""


class Exporter:
    registry = {}

    def __init_subclass__(cls, /, fmt, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.fmt = fmt
        Exporter.registry[fmt] = cls

    def export(self, rows):
        raise NotImplementedError


class CsvExporter(Exporter, fmt="csv"):
    def export(self, rows):
        return "\n".join(",".join(map(str, row)) for row in rows)


class MarkdownExporter(Exporter, fmt="md"):
    def export(self, rows):
        header, *body = rows
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in body])


ROWS = [("name", "qty"), ("apple", 3), ("pear", 5)]
for fmt in sorted(Exporter.registry):
    exporter = Exporter.registry[fmt]()
    print(f"--- {fmt} ({type(exporter).__name__})")
    print(exporter.export(ROWS))
