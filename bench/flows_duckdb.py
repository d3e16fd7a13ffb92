"""DuckDB doing what `curtain flows attribute` does (run by scripts/bench-flows): parse the same
flow-log file and join each record's srcaddr and dstaddr to the same register intervals, with the
SQL `curtain flows athena` prints (athena.sql, written beside the files by the bench example).

Adapted from the Athena text, as the DuckDB test does (crates/cli/tests/it/flows.rs): the
flow-log table becomes a view over read_csv with the columns and types its Athena DDL declares
(space-separated, header, `-` null, gzip told by the name); the intervals table a view over
read_parquet. The view of address pieces and the attribution query run verbatim.

  python flows_duckdb.py DIR FILE count|parquet THREADS

`count` makes DuckDB attribute every record (count of rows, of source tasks, of destination
tasks: every join is done, nothing is written); `parquet` writes the rows with COPY ... TO.
Prints one JSON line: records, seconds of the query, and the tasks counted."""
import json
import os
import re
import sys
import time

import duckdb


def statement(script, name):
    marker = f"-- curtain: {name}\n"
    rest = script[script.index(marker) + len(marker):]
    end = rest.find("\n-- curtain: ")
    body = rest if end < 0 else rest[:end]
    lines = body.split("\n")
    while lines and lines[0].startswith("-- "):
        lines.pop(0)
    return "\n".join(lines).strip()


def main():
    work, name, mode, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(os.path.join(work, "athena.sql")) as f:
        script = f.read()
    text_table = statement(script, "flow-log table (text delivery)")
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET preserve_insertion_order = false")
    body = text_table.split("(", 1)[1].split("\n)", 1)[0]
    types = {"int": "INTEGER", "bigint": "BIGINT", "string": "VARCHAR"}
    cols = {m.group(1): types[m.group(2)] for m in re.finditer(r"`(\w+)` (\w+)", body)}
    table = re.match(r"CREATE EXTERNAL TABLE IF NOT EXISTS `(\w+)`", text_table).group(1)
    path = os.path.join(work, name)
    con.execute(
        f"CREATE VIEW {table} AS SELECT * FROM read_csv('{path}', delim=' ', header=true, nullstr='-', columns={cols!r})"
    )
    con.execute(
        f"CREATE VIEW curtain_intervals AS SELECT * FROM read_parquet('{work}/register/intervals/*.parquet')"
    )
    con.execute(statement(script, "curtain_address_timeline"))
    query = statement(script, "attribution").rstrip(";").rstrip()
    t0 = time.monotonic()
    if mode == "count":
        n, src, dst = con.execute(
            f"SELECT count(*), count(src_task_arn), count(dst_task_arn) FROM (\n{query}\n)"
        ).fetchone()
    else:
        out = os.path.join(work, f"duckdb-rows-{os.getpid()}.parquet")
        con.execute(f"COPY (\n{query}\n) TO '{out}' (FORMAT parquet)")
        n, src, dst = con.execute(
            f"SELECT count(*), count(src_task_arn), count(dst_task_arn) FROM read_parquet('{out}')"
        ).fetchone()
        os.remove(out)
    secs = time.monotonic() - t0
    print(json.dumps({"records": n, "secs": secs, "src_tasks": src, "dst_tasks": dst}))


if __name__ == "__main__":
    main()
