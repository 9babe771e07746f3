//! The Authorization Server's durable state: registered clients and
//! resource servers, access policies, every issued token, and the SPI pool
//! of Direct Provisioning (draft-aragon-ace-ipsec-profile §2.1).
//!
//! # Backends and the API
//!
//! [`Store`] is the contract; [`AnyStore`] is what the AS holds: an enum of
//! [`MemoryStore`] (tests, the in-memory bench baseline) and [`SqlStore`]
//! (SQLite — embedded, the default, a file — or PostgreSQL — several AS
//! instances on one database), opened from a [`StoreConfig`]
//! (`memory`, `sqlite:PATH`, `postgres://...`).
//!
//! Why an enum rather than `Arc<dyn Store>`: the set of backends is closed
//! (three), an enum needs no boxed future per call on the token path and no
//! `async-trait`, and the AS code stays free of generics — it holds one
//! `AnyStore` (cheap to clone) whichever backend the configuration names.
//! The trait uses native `async fn`-style methods (`impl Future + Send`), so
//! tests can be written once, generic over `S: Store`, and run against every
//! backend.
//!
//! Both SQL backends go through sqlx's runtime `Any` driver with runtime
//! queries only (no compile-time `query!`, no database at build time): one
//! set of queries (`$n` parameters, `ON CONFLICT`, `RETURNING`) serves both.
//!
//! # Schema (`migrations/0001_init.sql`)
//!
//! | table | key | what |
//! |---|---|---|
//! | `clients` | `id` | name, `cose_key` (COSE_Key bytes), `spi_c`/`spi_as` of the Client–AS pair (`spi_as` UNIQUE: the AS's inbound SPI names the client), `registration` (opaque CBOR) |
//! | `resource_servers` | `audience` | `token_key` (COSE_Key the AS encrypts tokens with), `esp_alg`, `sa_life` (s), optional `edhoc_public_key`, `ike_public_key` |
//! | `policies` | `(client_id, audience, scope)` | one scope entry (text or AIF bytes) a client may get at an audience; foreign keys to `clients` and `resource_servers`, ON DELETE CASCADE |
//! | `tokens` | `cti` | client, audience, scope bytes, `issued_at`, `exp` (Unix s), `method` (`dp`, `edhoc`, ...), `spi_sa_c`, `spi_sa_rs`, `revoked_at` (revoked ⇔ not NULL); indexes by client, by (audience, exp), by `revoked_at` |
//! | `spi_pool` | `(audience, spi)` | an SPI_SA_C in use at that RS, the `cti` it was reserved for, `reserved_at`; `CHECK (spi BETWEEN 256 AND 2^32-1)` |
//! | `ace_store_migrations` | `version` | applied migrations with a checksum of their text |
//!
//! One SQL file set, written in PostgreSQL's dialect; SQLite reads `BYTEA`
//! as `BLOB` (the only rewrite). Integers are `BIGINT` (SQLite: 64-bit
//! INTEGER affinity); SPIs are `BIGINT` holding a `u32`; there is no boolean
//! column (sqlx's `Any` driver cannot carry SQLite booleans), so "revoked"
//! is `revoked_at IS NOT NULL`. Migrations run at open, each exactly once,
//! under SQLite's write lock or a PostgreSQL advisory lock, in one
//! transaction; opening an up-to-date database changes nothing, a database
//! from a newer build ([`StoreError::SchemaTooNew`]) or with an edited
//! migration ([`StoreError::MigrationChanged`]) is refused.
//!
//! # Durability
//!
//! [`Store::issue`], [`Store::reserve_spi`] and [`Store::release_spi`]
//! return only once their transaction is committed durably; the AS sends a
//! token response only after `issue` returned. Every other write is one
//! autocommitted statement, durable when it returns.
//!
//! * SQLite: WAL mode with `synchronous = FULL` on every connection: each
//!   commit fsyncs the WAL before it returns, so a committed token survives
//!   `kill -9` of the AS and an OS crash or power loss, as far as the disk
//!   honours fsync (SQLite's promise for FULL). The bundled SQLite would
//!   default to NORMAL in WAL mode, which survives a process crash but may
//!   lose the last commits on power loss; the store sets FULL explicitly.
//! * PostgreSQL: a commit returns once its WAL record is flushed
//!   (`synchronous_commit = on`; a server configured `off` is overridden for
//!   the store's sessions) — with the server's `fsync` on.
//!
//! # Group commit
//!
//! One fsync per token would cap an AS at a few hundred tokens a second.
//! The write path is a token log ([`GroupCommitConfig`]): callers queue an
//! operation and await it; one committer task per store takes everything
//! that queued while its previous transaction ran (at most `max_batch`),
//! writes it in ONE transaction (multi-row INSERTs), commits, and wakes every
//! waiter with its own result. A full queue (`queue_capacity`) refuses at
//! once with [`StoreError::QueueFull`] — back pressure the AS can turn into
//! "5.03 Service Unavailable". A batch the database aborts as a lost race
//! (deadlock, serialization failure, busy) is retried whole, up to three
//! times; any other failure fails every operation of the batch and writes
//! none of it. [`Store::stats`] counts batches and their sizes.
//!
//! What keeps a batch cheap: the committer waits a few scheduler turns (no
//! timer) for the submitters its last commit woke, so batches stay full;
//! rows go in with multi-row INSERTs of a few cached shapes (powers of two);
//! a batch is first tried optimistically with plain INSERTs (every cti new,
//! every candidate SPI free) and redone with `ON CONFLICT ... RETURNING` only
//! when a unique constraint refuses it; SQLite checkpoints the WAL in a
//! background task (`wal_autocheckpoint = 0` on the store's connections), and
//! a new SQLite file gets 1 KiB pages, because random token IDs and SPIs make
//! every token dirty its own index pages, which go to the WAL whole.
//!
//! # The SPI pool and group commit
//!
//! Draft §2.1: with Direct Provisioning the AS chooses SPI_SA_C, the SPI of
//! the RS's inbound SA, and must never choose one that is in use at that RS.
//! The reservation is part of the token's transaction: `issue` with
//! [`SpiSaC::Reserve`] reserves and records in the same batch, so the token
//! and its SPI become durable together (one fsync, one round trip for the
//! AS, which encrypts the token with the SPI `issue` returns). Within a
//! batch, reservations are grouped by (audience, range):
//!
//! 1. pools of at most 65 536 SPIs are read whole (`SELECT spi ...`), so the
//!    candidates are free and exhaustion is exact; larger pools start with
//!    random candidates and are read whole only once candidates collide;
//! 2. candidates are drawn at random among the free ones (two AS instances
//!    rarely propose the same SPI);
//! 3. `INSERT INTO spi_pool ... ON CONFLICT (audience, spi) DO NOTHING
//!    RETURNING spi`: what is not returned was taken by someone else and
//!    gets a new candidate in the next round;
//! 4. a request for which no SPI is free gets [`StoreError::PoolExhausted`];
//!    the rest of the batch commits.
//!
//! Uniqueness is enforced by the database, not by luck or by one process's
//! memory: the primary key `(audience, spi)` refuses a second reservation
//! of an SPI whoever attempts it, so several AS processes on one PostgreSQL
//! database (or on one SQLite file) cannot hand out the same SPI_SA_C to one
//! RS. The locks only keep that cheap: SQLite batches run under the
//! database's write lock (`BEGIN IMMEDIATE`); PostgreSQL batches first take
//! a transaction-scoped advisory lock per audience they touch, in ascending
//! key order, so instances reserving for the same RS take turns instead of
//! waiting on each other's uncommitted rows (which could deadlock), and what
//! a batch reads of the pool stays true until it commits. A random `cti`
//! colliding with another instance's is refused ([`StoreError::DuplicateCti`])
//! and its fresh SPI given back in the same transaction.
//!
//! The RS returns an SPI when its SA ends ([`Store::release_spi`], through
//! an AS resource designed later); a token update for an SPI_SA_RS collision
//! (§2.1) rewrites the record ([`Store::update_spi_sa_rs`]).

mod error;
mod log;
mod memory;
mod model;
mod schema;
mod spi;
mod sql;
mod store;

pub use error::{Result, StoreError};
pub use log::{GroupCommitConfig, LogStats};
pub use memory::MemoryStore;
pub use model::{
    Client, Issued, NewToken, Policy, ResourceServer, Revocation, SpiRange, SpiSaC, TokenFilter,
    TokenRecord,
};
pub use sql::{Dialect, SqlStore};
pub use store::{AnyStore, Store, StoreConfig};

/// Now, in Unix seconds (0 if the clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
