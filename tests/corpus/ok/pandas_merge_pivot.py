"""Join orders with customers, then pivot by month and segment."""

import pandas as pd

customers = pd.DataFrame(
    {
        "customer_id": [1, 2, 3, 4],
        "name": ["Acme", "Globex", "Initech", "Umbrella"],
        "segment": ["enterprise", "smb", "smb", "enterprise"],
    }
)
orders = pd.DataFrame(
    {
        "order_id": range(100, 110),
        "customer_id": [1, 2, 2, 3, 4, 4, 1, 3, 5, 2],
        "date": pd.to_datetime(
            [
                "2024-01-03",
                "2024-01-15",
                "2024-02-01",
                "2024-02-11",
                "2024-02-20",
                "2024-03-02",
                "2024-03-09",
                "2024-03-15",
                "2024-03-20",
                "2024-03-28",
            ]
        ),
        "amount": [250.0, 80.5, 120.0, 60.0, 900.0, 310.0, 75.0, 42.5, 13.0, 99.9],
    }
)

merged = orders.merge(customers, on="customer_id", how="left", indicator=True)
orphans = merged[merged["_merge"] == "left_only"]
print("orders without a customer:", orphans["order_id"].tolist())

known = merged[merged["_merge"] == "both"].copy()
known["month"] = known["date"].dt.to_period("M").astype(str)
pivot = known.pivot_table(index="month", columns="segment", values="amount", aggfunc="sum", fill_value=0)
print(pivot)
print("month totals:", pivot.sum(axis=1).to_dict())

wide = known.pivot_table(index="name", columns="month", values="order_id", aggfunc="count", fill_value=0)
long = wide.reset_index().melt(id_vars="name", var_name="month", value_name="orders")
print(long[long["orders"] > 0].sort_values(["name", "month"]).to_string(index=False))
