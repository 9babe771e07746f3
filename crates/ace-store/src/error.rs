//! One error type for every backend.

use std::sync::Arc;

use crate::model::SpiRange;

/// What a store operation can fail with. `Clone`, because one failed group
/// commit fails every operation of its batch with the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Every SPI of the range is in use at this RS (draft §2.1): the AS must
    /// refuse the token request (or wait for the RS to return SPIs).
    #[error("SPI pool of audience {audience:?} exhausted in {range}")]
    PoolExhausted { audience: String, range: SpiRange },
    /// The group-commit queue holds `capacity` operations already: back
    /// pressure, the caller should answer "service unavailable" and retry later.
    #[error("group-commit queue full ({capacity} operations pending)")]
    QueueFull { capacity: usize },
    /// The committer task has ended (the store was closed, or the task failed).
    #[error("the group committer has stopped")]
    CommitterStopped,
    /// A token with this cti is already recorded.
    #[error("a token with this cti is already recorded")]
    DuplicateCti,
    /// No token with this cti.
    #[error("no token with this cti")]
    UnknownToken,
    /// A policy names a client that is not registered.
    #[error("no registered client {0:?}")]
    UnknownClient(String),
    /// A policy names an audience that is not registered.
    #[error("no registered resource server {0:?}")]
    UnknownAudience(String),
    /// A unique constraint other than a primary key refused the write (for
    /// example two clients with the same `spi_as`).
    #[error("conflict: {0}")]
    Conflict(String),
    /// An SPI range that is empty or reaches into the reserved values 0–255
    /// (RFC 4303 §2.1).
    #[error("invalid SPI range [{lo}, {hi}]: need 256 <= lo <= hi")]
    InvalidRange { lo: u32, hi: u32 },
    /// A value that does not fit the schema (a time past `i64::MAX`).
    #[error("{0} out of range for the database")]
    OutOfRange(&'static str),
    /// A row that does not decode into the model (a column changed by hand).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A migration that was applied with other text than this build carries.
    #[error("migration {version} differs from the one applied to this database")]
    MigrationChanged { version: i64 },
    /// The database was migrated by a newer build.
    #[error("database schema version {found} is newer than this build ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    /// A store location that cannot be parsed.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// Anything else the database said.
    #[error("database: {0}")]
    Database(Arc<sqlx::Error>),
}

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Arc::new(e))
    }
}

impl StoreError {
    /// A primary-key or unique constraint refused a write.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(e)
            if e.as_database_error().is_some_and(|d| d.is_unique_violation()))
    }

    /// A database error worth retrying the whole transaction for: a lost
    /// race that the database resolved by aborting us (PostgreSQL
    /// serialization failure or deadlock, SQLite busy/locked).
    pub(crate) fn is_transient(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        match e.as_database_error().and_then(|d| d.code()) {
            Some(code) => matches!(&*code, "40001" | "40P01" | "5" | "6" | "517" | "261"),
            None => false,
        }
    }
}
