# row: B31
# attack: A format template built at run time reads attributes and items by name: `template.format(obj)`
#   with `{0.__init__.__globals__[os].environ}` assembled from pieces, so no string constant names a dunder.
# v-on-finding: rule=format.computed_template source=ast
# v-off-status: ok
# v-off-stdout-contains: attribute walk by a computed template reached os.environ
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B31_str_format_computed_template
# limits: wall_time_s=10
import os  # noqa: F401  (what the walk finds in this module's globals)


class Anything:
    def __init__(self):
        pass


template = "{0." + "__in" + "it__.__glo" + "bals__[os].environ[PATH]}"
try:
    leaked = template.format(Anything())
except Exception as exc:
    print(f"attribute walk failed: {type(exc).__name__}: {exc}")
else:
    print(f"attribute walk by a computed template reached os.environ: PATH={leaked}")
