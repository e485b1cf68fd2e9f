"""Date and time arithmetic: durations, business days, time zones, ISO parsing."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

start = datetime(2024, 3, 8, 9, 30)
deadline = start + timedelta(days=10, hours=4)
print(deadline.isoformat(), (deadline - start).total_seconds() / 3600, "hours")


def business_days(first, last):
    days = 0
    current = first
    while current <= last:
        if current.weekday() < 5:
            days += 1
        current += timedelta(days=1)
    return days


print("business days in March 2024:", business_days(date(2024, 3, 1), date(2024, 3, 31)))

birthday = date(1990, 7, 14)
today = date(2024, 7, 13)
age = today.year - birthday.year - ((today.month, today.day) < (birthday.month, birthday.day))
print("age:", age)

utc = datetime(2024, 3, 31, 0, 30, tzinfo=timezone.utc)
for zone in ("Europe/Paris", "America/New_York", "Asia/Tokyo"):
    try:
        local = utc.astimezone(ZoneInfo(zone))
        print(f"{zone:<17} {local:%Y-%m-%d %H:%M %Z} offset {local.utcoffset()}")
    except Exception as exc:  # no tz database available
        print(zone, "unavailable:", type(exc).__name__)

parsed = datetime.fromisoformat("2024-02-28T23:15:00+01:00")
print(parsed + timedelta(hours=1), parsed.tzinfo, (parsed + timedelta(days=1)).date())
print(datetime.strptime("13/07/2024 18:05", "%d/%m/%Y %H:%M").strftime("%A %d %B %Y, %I:%M %p"))
print(date(2024, 12, 31).isocalendar(), date(2024, 1, 1).toordinal() - date(2023, 1, 1).toordinal())
