"""Sales report: group, aggregate and rank with pandas."""

import io

import pandas as pd

CSV = """region,rep,product,units,price
north,ana,widget,12,2.50
north,ana,gadget,3,10.00
north,ben,widget,7,2.50
south,cho,gadget,9,10.00
south,cho,widget,20,2.25
south,dev,gizmo,4,7.75
east,eli,gizmo,11,7.50
east,eli,widget,5,2.50
"""

df = pd.read_csv(io.StringIO(CSV))
df["revenue"] = df["units"] * df["price"]

by_region = (
    df.groupby("region")
    .agg(total_units=("units", "sum"), revenue=("revenue", "sum"), reps=("rep", "nunique"))
    .sort_values("revenue", ascending=False)
)
print(by_region.to_string())

top_rep = df.groupby(["region", "rep"])["revenue"].sum().groupby(level=0).idxmax()
for region, (_, rep) in top_rep.items():
    print(f"best in {region}: {rep}")

share = df.groupby("product")["revenue"].sum() / df["revenue"].sum()
print((share * 100).round(1).to_dict())

big = df.query("units >= 10 and price < 5")
print(len(big), "bulk orders of cheap products")
df["rank_in_region"] = df.groupby("region")["revenue"].rank(ascending=False).astype(int)
print(df.sort_values(["region", "rank_in_region"])[["region", "rep", "revenue", "rank_in_region"]])
