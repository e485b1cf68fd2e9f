"""Daily temperatures: resample, rolling means and anomalies."""

import numpy as np
import pandas as pd

rng = np.random.default_rng(7)
days = pd.date_range("2023-01-01", periods=120, freq="D")
seasonal = 10 + 8 * np.sin(np.arange(len(days)) / 120 * np.pi)
temps = pd.Series(seasonal + rng.normal(0, 1.5, len(days)), index=days, name="temp_c")

weekly = temps.resample("W").agg(["mean", "min", "max"]).round(2)
print(weekly.head())

rolling = temps.rolling(window=7, center=True).mean()
residual = temps - rolling
threshold = 2 * residual.std()
anomalies = residual[residual.abs() > threshold]
print(f"{len(anomalies)} anomalous days (|residual| > {threshold:.2f})")
for day, value in anomalies.items():
    print(f"  {day:%Y-%m-%d}: {value:+.2f}")

monthly = temps.groupby(temps.index.month).describe()[["mean", "std"]]
print(monthly.round(2))
print("warmest week starts", weekly["mean"].idxmax().date())
