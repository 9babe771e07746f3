//! Migrations: one set of SQL files in the PostgreSQL dialect, applied in
//! order by version, under a lock so that several AS processes opening one
//! database at once apply each migration exactly once.

use sqlx::{AnyConnection, Row};

use crate::error::{Result, StoreError};
use crate::sql::Dialect;

/// A schema change: its version, a name and the SQL.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration this build knows, by ascending version.
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "init",
    sql: include_str!("../migrations/0001_init.sql"),
}];

/// The SQL of `m` for `dialect`. The files use BYTEA for byte strings;
/// SQLite gets BLOB, which is the only difference between the two.
pub(crate) fn sql_for(m: &Migration, dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => m.sql.to_owned(),
        Dialect::Sqlite => m.sql.replace("BYTEA", "BLOB"),
    }
}

/// FNV-1a over the migration's text: a migration edited after it was
/// applied somewhere is refused rather than silently skipped.
pub(crate) fn checksum(sql: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sql.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// Key of the PostgreSQL advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x4143_4553_544f_5245; // "ACESTORE"

/// Brings the database at `conn` to the newest schema; does nothing when it
/// is there already. SQLite: the write lock (`BEGIN IMMEDIATE`); PostgreSQL:
/// a transaction-scoped advisory lock. DDL is transactional in both, so a
/// failed migration leaves nothing behind.
pub(crate) async fn migrate(conn: &mut AnyConnection, dialect: Dialect, now: i64) -> Result<()> {
    use sqlx::Connection;
    let mut tx = match dialect {
        Dialect::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
        Dialect::Postgres => conn.begin().await?,
    };
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS ace_store_migrations (
            version    BIGINT PRIMARY KEY,
            name       TEXT   NOT NULL,
            checksum   BIGINT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(&mut *tx)
    .await?;
    let applied =
        sqlx::query("SELECT version, checksum FROM ace_store_migrations ORDER BY version")
            .fetch_all(&mut *tx)
            .await?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    for row in &applied {
        let version: i64 = row.try_get("version")?;
        let sum: i64 = row.try_get("checksum")?;
        match MIGRATIONS.iter().find(|m| m.version == version) {
            None if version > known => {
                return Err(StoreError::SchemaTooNew {
                    found: version,
                    known,
                })
            }
            Some(m) if checksum(m.sql) == sum => {}
            _ => return Err(StoreError::MigrationChanged { version }),
        }
    }
    for m in MIGRATIONS {
        let done = applied
            .iter()
            .any(|r| r.try_get::<i64, _>("version").ok() == Some(m.version));
        if done {
            continue;
        }
        sqlx::raw_sql(&sql_for(m, dialect))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO ace_store_migrations (version, name, checksum, applied_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(checksum(m.sql))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_gets_blob_where_postgres_gets_bytea_and_nothing_else_changes() {
        for m in MIGRATIONS {
            let pg = sql_for(m, Dialect::Postgres);
            let lite = sql_for(m, Dialect::Sqlite);
            assert!(pg.contains("BYTEA"));
            assert!(!lite.contains("BYTEA"));
            assert_eq!(lite.replace("BLOB", "BYTEA"), pg);
        }
    }

    #[test]
    fn versions_ascend() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    }
}
