"""An in-memory SQLite database: schema, parameterised inserts, joins and aggregates."""

import sqlite3

conn = sqlite3.connect(":memory:")
conn.row_factory = sqlite3.Row
cur = conn.cursor()
cur.executescript(
    """
    CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE book (
        id INTEGER PRIMARY KEY,
        author_id INTEGER NOT NULL REFERENCES author(id),
        title TEXT NOT NULL,
        year INTEGER,
        copies INTEGER DEFAULT 1
    );
    """
)
authors = ["Ursula K. Le Guin", "Terry Pratchett", "Iain M. Banks"]
cur.executemany("INSERT INTO author (name) VALUES (?)", [(a,) for a in authors])
books = [
    (1, "A Wizard of Earthsea", 1968, 3),
    (1, "The Dispossessed", 1974, 2),
    (2, "Guards! Guards!", 1989, 5),
    (2, "Small Gods", 1992, 1),
    (3, "Consider Phlebas", 1987, 2),
    (3, "Excession", 1996, 0),
]
cur.executemany("INSERT INTO book (author_id, title, year, copies) VALUES (?, ?, ?, ?)", books)
conn.commit()

query = """
    SELECT a.name AS author, COUNT(b.id) AS titles, SUM(b.copies) AS copies, MIN(b.year) AS first
    FROM author a JOIN book b ON b.author_id = a.id
    GROUP BY a.id ORDER BY copies DESC
"""
for row in cur.execute(query):
    print(f"{row['author']:<18} {row['titles']} titles, {row['copies']} copies, since {row['first']}")

decade = 1980
cur.execute("SELECT title FROM book WHERE year BETWEEN ? AND ? ORDER BY year", (decade, decade + 9))
print("1980s:", [r["title"] for r in cur.fetchall()])
with conn:
    conn.execute("UPDATE book SET copies = copies - 1 WHERE copies > 0 AND title LIKE ?", ("%Gods%",))
print(conn.execute("SELECT title, copies FROM book WHERE copies = 0").fetchall()[0]["title"])
print(conn.execute("SELECT COUNT(*) FROM book").fetchone()[0], sqlite3.sqlite_version_info >= (3, 0, 0))
conn.close()
