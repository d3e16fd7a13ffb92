//! The attribution past one machine: the SQL that `curtain flows athena` prints, for Athena (or
//! any engine that reads S3 and Parquet, DuckDB included) to join terabytes of flow logs to the
//! register that `curtain inventory export --parquet` wrote.
//!
//! The flow-log table is projected over AWS's own prefixes (`AWSLogs/{account}/vpcflowlogs/
//! {region}/YYYY/MM/DD`), with every field of the flow log's format; the register is three
//! Parquet tables (address intervals, tasks, containers). The attribution is the same as
//! `curtain flows attribute`'s, by address: a view cuts each address's intervals into pieces
//! that each have one answer (the first holder, in the register's order, of those holding it
//! then: `AddressBook::at`), so that each of `srcaddr` and `dstaddr` joins at most one piece,
//! the one that holds the record's `start`. A record before any holder, between two, or with no
//! `start` joins none: `unknown`, never a guess. What only curtain does (the interface as a
//! second key, version 7's ECS fields, packet addresses, snapshots) is said in docs/FLOWS.md.
//!
//! Each statement is preceded by a line `-- curtain: NAME` naming it, so that a script (and the
//! test that runs them in DuckDB) can take them apart.

use crate::format::{Column, Layout};
use crate::record::Field;

/// What the SQL is written for.
#[derive(Clone, Debug)]
pub struct AthenaOptions {
    /// The flow-log table.
    pub table: String,
    /// Where the flow log delivers: the bucket and prefix above `AWSLogs/`.
    pub location: String,
    /// Where `curtain inventory export --parquet` was copied (its folders `intervals/`,
    /// `tasks/`, `containers/`).
    pub register: String,
    /// The fields of the text delivery, in the flow log's order.
    pub layout: Layout,
    /// The accounts and regions the partitions are projected over; none: `injected` (each query
    /// names its account and region).
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// The first day projected, `YYYY/MM/DD`.
    pub first_day: String,
}

impl Default for AthenaOptions {
    fn default() -> AthenaOptions {
        AthenaOptions {
            table: "vpc_flow_logs".into(),
            location: "s3://BUCKET/PREFIX".into(),
            register: "s3://BUCKET/curtain-register".into(),
            layout: Layout::v2(),
            accounts: Vec::new(),
            regions: Vec::new(),
            first_day: "2020/01/01".into(),
        }
    }
}

/// The tables the register becomes, and the view the attribution joins.
pub const INTERVALS_TABLE: &str = "curtain_intervals";
pub const TASKS_TABLE: &str = "curtain_tasks";
pub const CONTAINERS_TABLE: &str = "curtain_containers";
pub const TIMELINE_VIEW: &str = "curtain_address_timeline";

/// The SQL type of a field: AWS's (`int` for INT_32, `bigint` for INT_64, `string`).
pub fn sql_type(f: Field) -> &'static str {
    use Field::*;
    match f {
        Packets
        | Bytes
        | Start
        | End
        | PacketsLostNoRoute
        | PacketsLostBlackhole
        | PacketsLostMtuExceeded
        | PacketsLostTtlExpired => "bigint",
        f if f.is_int() => "int",
        _ => "string",
    }
}

fn column_name(c: &Column) -> String {
    match c {
        Column::Known(f) => f.column().to_string(),
        Column::Extra(name) => name.replace('-', "_"),
    }
}

fn column_type(c: &Column) -> &'static str {
    match c {
        Column::Known(f) => sql_type(*f),
        Column::Extra(_) => "string",
    }
}

/// Refuses what would break out of the SQL text: table names are letters, digits and `_`;
/// locations are `s3://` with no quote or space.
pub fn check(o: &AthenaOptions) -> Result<(), String> {
    let ident = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ident(&o.table) {
        return Err(format!("--table: letters, digits and _ only: {:?}", o.table));
    }
    for (what, l) in [("--location", &o.location), ("--register-parquet", &o.register)] {
        if !l.starts_with("s3://") || l.bytes().any(|b| b == b'\'' || b == b'\\' || b.is_ascii_whitespace() || b < 0x20)
        {
            return Err(format!("{what}: an s3:// address with no quote or space: {l:?}"));
        }
    }
    for v in o.accounts.iter().chain(&o.regions) {
        if !ident(&v.replace('-', "_")) {
            return Err(format!("an account or region of letters, digits and -: {v:?}"));
        }
    }
    let d = o.first_day.as_bytes();
    if d.len() != 10
        || d[4] != b'/'
        || d[7] != b'/'
        || !o.first_day.replace('/', "").bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("the first day as YYYY/MM/DD: {:?}", o.first_day));
    }
    Ok(())
}

fn trim(l: &str) -> &str {
    l.trim_end_matches('/')
}

/// The partitions over AWS's prefixes, projected (no crawler, no `MSCK REPAIR`).
fn projection(o: &AthenaOptions) -> String {
    let mut p = String::new();
    for (col, values) in [("log_account", &o.accounts), ("log_region", &o.regions)] {
        if values.is_empty() {
            p.push_str(&format!("  'projection.{col}.type' = 'injected',\n"));
        } else {
            p.push_str(&format!("  'projection.{col}.type' = 'enum',\n"));
            p.push_str(&format!("  'projection.{col}.values' = '{}',\n", values.join(",")));
        }
    }
    p.push_str(&format!(
        "  'projection.log_day.type' = 'date',
  'projection.log_day.format' = 'yyyy/MM/dd',
  'projection.log_day.range' = '{},NOW',
  'projection.log_day.interval' = '1',
  'projection.log_day.interval.unit' = 'DAYS',
  'storage.location.template' = '{}/AWSLogs/${{log_account}}/vpcflowlogs/${{log_region}}/${{log_day}}'",
        o.first_day,
        trim(&o.location)
    ));
    p
}

fn columns(cols: &[(String, &str)]) -> String {
    cols.iter().map(|(n, t)| format!("  `{n}` {t}")).collect::<Vec<_>>().join(",\n")
}

/// The flow-log table over the text delivery: the format's fields in its order, separated by
/// spaces, `-` null, the header line of each file skipped (gzip is read as such).
pub fn text_table(o: &AthenaOptions) -> String {
    let cols: Vec<(String, &str)> = o.layout.columns.iter().map(|c| (column_name(c), column_type(c))).collect();
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{t}` (\n{c}\n)
PARTITIONED BY (`log_account` string, `log_region` string, `log_day` string)
ROW FORMAT DELIMITED FIELDS TERMINATED BY ' ' NULL DEFINED AS '-'
STORED AS TEXTFILE
LOCATION '{l}/AWSLogs/'
TBLPROPERTIES (
  'skip.header.line.count' = '1',
  'projection.enabled' = 'true',
{p}
);",
        t = o.table,
        c = columns(&cols),
        l = trim(&o.location),
        p = projection(o)
    )
}

/// The flow-log table over the Parquet delivery: every field AWS defines (columns are found by
/// name, so a field the format did not name is null).
pub fn parquet_table(o: &AthenaOptions) -> String {
    let mut cols: Vec<(String, &str)> = Field::ALL.iter().map(|f| (f.column().to_string(), sql_type(*f))).collect();
    for c in &o.layout.columns {
        if let Column::Extra(_) = c {
            cols.push((column_name(c), "string"));
        }
    }
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{t}` (\n{c}\n)
PARTITIONED BY (`log_account` string, `log_region` string, `log_day` string)
STORED AS PARQUET
LOCATION '{l}/AWSLogs/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
{p}
);",
        t = o.table,
        c = columns(&cols),
        l = trim(&o.location),
        p = projection(o)
    )
}

fn parquet_kind(k: crate::tables::Kind) -> &'static str {
    match k {
        crate::tables::Kind::Text => "string",
        crate::tables::Kind::Int => "bigint",
        crate::tables::Kind::Bool => "boolean",
    }
}

/// The register's three tables over `curtain inventory export --parquet`'s folders.
pub fn register_tables(o: &AthenaOptions) -> Vec<(&'static str, String)> {
    use crate::tables::{CONTAINER_COLUMNS, INTERVAL_COLUMNS, TASK_COLUMNS};
    [
        (INTERVALS_TABLE, "intervals", INTERVAL_COLUMNS),
        (TASKS_TABLE, "tasks", TASK_COLUMNS),
        (CONTAINERS_TABLE, "containers", CONTAINER_COLUMNS),
    ]
    .into_iter()
    .map(|(table, dir, cols)| {
        let cols: Vec<(String, &str)> = cols.iter().map(|(n, k)| (n.to_string(), parquet_kind(*k))).collect();
        (
            table,
            format!(
                "CREATE EXTERNAL TABLE IF NOT EXISTS `{table}` (\n{}\n)\nSTORED AS PARQUET\nLOCATION '{}/{dir}/';",
                columns(&cols),
                trim(&o.register)
            ),
        )
    })
    .collect()
}

/// Each address's intervals cut where any of them starts or ends, each piece (`seg_from` to
/// `seg_to`, whole seconds, `seg_to` null while still held) named by the first holder (`seq`)
/// of those holding it: `AddressBook::at`'s answer, made a table.
pub fn timeline_view() -> String {
    format!(
        "CREATE OR REPLACE VIEW {TIMELINE_VIEW} AS
WITH bounds AS (
  SELECT ip, from_s AS b FROM {INTERVALS_TABLE}
  UNION
  SELECT ip, to_s + 1 AS b FROM {INTERVALS_TABLE} WHERE to_s IS NOT NULL
),
pieces AS (
  SELECT ip, b AS seg_from, LEAD(b) OVER (PARTITION BY ip ORDER BY b) - 1 AS seg_to FROM bounds
),
held AS (
  SELECT p.seg_from, p.seg_to, i.*,
         ROW_NUMBER() OVER (PARTITION BY p.ip, p.seg_from ORDER BY i.seq) AS nth
  FROM pieces p
  JOIN {INTERVALS_TABLE} i
    ON i.ip = p.ip AND i.from_s <= p.seg_from AND (i.to_s IS NULL OR i.to_s >= p.seg_from)
)
SELECT ip, seg_from, seg_to, kind, account, region, cluster, service, task_arn, task_definition,
       containers, eni, certainty, sources, owner_kind, owner_id, container_instance, ec2_instance
FROM held
WHERE nth = 1;"
    )
}

/// One row per record: its fields, then `src_*` and `dst_*` (`kind` `unknown` when nobody held
/// the address at the record's `start`, null when the record has no address).
pub fn attribution_query(o: &AthenaOptions) -> String {
    let mut sel = vec!["  f.*".to_string()];
    for (side, alias, addr) in [("src", "s", "srcaddr"), ("dst", "d", "dstaddr")] {
        sel.push(format!(
            "  CASE WHEN f.{addr} IS NULL THEN NULL ELSE COALESCE({alias}.kind, 'unknown') END AS {side}_kind"
        ));
        for c in &crate::output::SIDE_COLUMNS[1..crate::output::REGISTER_SIDE_COLUMNS] {
            sel.push(format!("  {alias}.{c} AS {side}_{c}"));
        }
    }
    let join = |alias: &str, addr: &str| {
        format!(
            "LEFT JOIN {TIMELINE_VIEW} {alias}\n  ON {alias}.ip = f.{addr} AND f.\"start\" >= {alias}.seg_from AND ({alias}.seg_to IS NULL OR f.\"start\" <= {alias}.seg_to)"
        )
    };
    format!(
        "SELECT\n{}\nFROM {} f\n{}\n{}\n-- Name the days (and the accounts and regions when they are injected) to read only those:\n-- WHERE f.log_day BETWEEN '2026/01/01' AND '2026/01/31' AND f.log_account = '111122223333' AND f.log_region = 'us-east-1'\n;",
        sel.join(",\n"),
        o.table,
        join("s", "srcaddr"),
        join("d", "dstaddr")
    )
}

/// Everything `curtain flows athena` prints, each statement after its `-- curtain: NAME` line.
pub fn script(o: &AthenaOptions) -> Result<String, String> {
    check(o)?;
    let mut out = String::new();
    let mut part = |name: &str, note: &str, sql: &str| {
        out.push_str(&format!("-- curtain: {name}\n"));
        for l in note.lines() {
            out.push_str(&format!("-- {l}\n"));
        }
        out.push_str(sql);
        out.push_str("\n\n");
    };
    part(
        "flow-log table (text delivery)",
        "The flow log delivered to S3 as text (plain or gzip), with the fields of its format in its order.",
        &text_table(o),
    );
    part(
        "flow-log table (Parquet delivery)",
        "Instead of the table above, when the flow log delivers Parquet: every field, found by name.",
        &parquet_table(o),
    );
    for (name, sql) in register_tables(o) {
        part(name, "The register, from `curtain inventory export --parquet DIR` copied to --register-parquet.", &sql);
    }
    part(TIMELINE_VIEW, "Each address's intervals in pieces that each name one holder.", &timeline_view());
    part(
        "attribution",
        "`curtain flows attribute`'s answer by address: each record's srcaddr and dstaddr at its start.",
        &attribution_query(o),
    );
    Ok(out)
}

/// The statement after `-- curtain: NAME` in [`script`]'s text, its comment lines left out.
pub fn statement<'a>(script: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!("-- curtain: {name}\n");
    let start = script.find(&marker)? + marker.len();
    let rest = &script[start..];
    let end = rest.find("\n-- curtain: ").unwrap_or(rest.len());
    let body = &rest[..end];
    let first = body.lines().take_while(|l| l.starts_with("-- ")).map(|l| l.len() + 1).sum::<usize>();
    Some(body[first..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_names_its_statements_and_refuses_what_would_break_out() {
        let s = script(&AthenaOptions::default()).unwrap();
        let text = statement(&s, "flow-log table (text delivery)").unwrap();
        assert!(text.contains("`end` bigint") && text.contains("'skip.header.line.count' = '1'"), "{text}");
        assert!(text.contains("s3://BUCKET/PREFIX/AWSLogs/${log_account}/vpcflowlogs/${log_region}/${log_day}"));
        assert!(text.contains("NULL DEFINED AS '-'"));
        let pq = statement(&s, "flow-log table (Parquet delivery)").unwrap();
        assert!(pq.contains("`ecs_task_arn` string") && pq.contains("`reject_reason` string"), "{pq}");
        assert!(statement(&s, "attribution").unwrap().starts_with("SELECT"));
        assert!(statement(&s, TIMELINE_VIEW).unwrap().starts_with("CREATE OR REPLACE VIEW"));
        for bad in [
            AthenaOptions { table: "t; DROP".into(), ..Default::default() },
            AthenaOptions { location: "s3://b/x' --".into(), ..Default::default() },
            AthenaOptions { register: "/local".into(), ..Default::default() },
            AthenaOptions { accounts: vec!["1'".into()], ..Default::default() },
        ] {
            assert!(script(&bad).is_err(), "{bad:?}");
        }
    }
}
