//! The register's schema as numbered migrations: each a `.sql` file under `migrations/`, built
//! into the binary so a register can be created or brought up to date wherever curtain runs,
//! and each run in a transaction of its own, so a failure leaves the register at the version
//! before it rather than half changed.
//!
//! `PRAGMA user_version` counts the migrations that ran, as it always has: registers written by
//! earlier versions carry on from where they stopped, and those versions still open registers
//! written by this one (they read the count, and ignore tables they do not know).
//! `schema_migrations` also records each by number and name, and when it ran.

use rusqlite::{params, Connection, Transaction, TransactionBehavior};

use crate::Error;

pub(crate) struct Migration {
    pub(crate) version: u32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration { version: $version, name: $name, sql: include_str!(concat!("../migrations/", $name, ".sql")) }
    };
}

/// In order, numbered from 1. A released migration is never edited (registers that ran it would
/// not run it again): a change is a new one at the end.
pub(crate) const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_tasks_enis_sources"),
    migration!(2, "0002_services_definitions_instances"),
    migration!(3, "0003_enis_ecs_proof"),
    migration!(4, "0004_tasks_by_container_instance"),
    migration!(5, "0005_acquisitions"),
    migration!(6, "0006_eni_owners"),
    migration!(7, "0007_ec2_instances"),
    migration!(8, "0008_address_spells"),
    migration!(9, "0009_lambda_configs"),
];

/// Kept apart from the migrations: registers older than it hold it only once opened by a
/// version that keeps it, whatever their `user_version`.
const RECORD: &str = "CREATE TABLE schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    -- Nanoseconds since the epoch, UTC; NULL: it ran before the register kept this record.
    applied_at INTEGER
)";

/// Brings the register's schema up to date.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), Error> {
    migrate_with(conn, MIGRATIONS)
}

fn migrate_with(conn: &mut Connection, migrations: &[Migration]) -> Result<(), Error> {
    let latest = migrations.last().map_or(0, |m| m.version);
    // Only reads when nothing is to be done: opening a register to ask it something neither
    // waits for nor holds up a sync writing to it.
    if user_version(conn)? >= latest && recorded(conn)? {
        return Ok(());
    }
    loop {
        // One migration per transaction, taken for writing before the version is read: a
        // second process opening the same old register waits, then finds that work done.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = user_version(&tx)?;
        if !recorded(&tx)? {
            tx.execute_batch(RECORD)?;
            for m in migrations.iter().take_while(|m| m.version <= version) {
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, NULL)",
                    params![m.version, m.name],
                )?;
            }
        }
        let Some(m) = migrations.iter().find(|m| m.version > version) else {
            tx.commit()?;
            return Ok(());
        };
        apply(tx, m).map_err(|source| Error::Migration { version: m.version, name: m.name, source })?;
    }
}

fn apply(tx: Transaction<'_>, m: &Migration) -> rusqlite::Result<()> {
    tx.execute_batch(m.sql)?;
    tx.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
        params![m.version, m.name, now_ns()],
    )?;
    tx.pragma_update(None, "user_version", m.version)?;
    tx.commit()
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

fn recorded(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", [], |r| {
        r.get(0)
    })
}

/// NULL rather than a wrong time when the clock is before 1970 or past 2262.
fn now_ns() -> Option<i64> {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_nanos()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_and_named_by_their_number() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)), "{}", m.name);
        }
    }

    #[test]
    fn every_file_under_migrations_is_one_of_them() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| format!("{}.sql", m.name)).collect();
        assert_eq!(files, listed);
    }

    fn applied(conn: &Connection) -> Vec<(u32, String, bool)> {
        let mut st = conn.prepare("SELECT version, name, applied_at IS NOT NULL FROM schema_migrations").unwrap();
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn a_new_register_records_each_migration_and_counts_them() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let expected: Vec<_> = MIGRATIONS.iter().map(|m| (m.version, m.name.to_string(), true)).collect();
        assert_eq!(applied(&conn), expected);
        assert_eq!(user_version(&conn).unwrap(), MIGRATIONS.len() as u32);
        // Up to date: nothing runs twice.
        migrate(&mut conn).unwrap();
        assert_eq!(applied(&conn), expected);
    }

    #[test]
    fn a_failing_migration_leaves_the_register_at_the_one_before() {
        let broken = [
            Migration { version: 1, name: "0001_a", sql: "CREATE TABLE a (x);" },
            Migration { version: 2, name: "0002_b", sql: "CREATE TABLE b (x); INSERT INTO nowhere VALUES (1);" },
        ];
        let mut conn = Connection::open_in_memory().unwrap();
        let e = migrate_with(&mut conn, &broken).unwrap_err();
        assert!(matches!(e, Error::Migration { version: 2, name: "0002_b", .. }), "{e:?}");
        assert!(e.to_string().starts_with("migration 0002_b: no such table: nowhere"), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(user_version(&conn).unwrap(), 1);
        assert_eq!(applied(&conn), [(1, "0001_a".to_string(), true)]);
        let b: i64 = conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'b'", [], |r| r.get(0)).unwrap();
        assert_eq!(b, 0, "migration 2 rolled back whole");
    }

    #[test]
    fn a_register_from_a_newer_version_is_left_as_it_is() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 99);
    }
}
