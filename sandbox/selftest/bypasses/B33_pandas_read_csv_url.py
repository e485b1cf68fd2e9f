# row: B33
# attack: A socket without importing socket: a reader of an allowed library fetches a URL itself
#   (`pandas.read_csv("http://...")` through urllib).
# v-on-finding: rule=network.url source=ast
# v-off-status: ok
# v-off-stdout-contains: connect 10.0.0.1: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B33_pandas_read_csv_url
# limits: wall_time_s=10
import pandas as pd

URL = "http://10.0.0.1/data.csv"
try:
    pd.read_csv(URL)
except Exception as exc:
    print(f"connect 10.0.0.1: DENIED ({type(exc).__name__}: {exc})")
else:
    print("connect 10.0.0.1: ALLOWED")
