//! The SQL backends: SQLite and PostgreSQL through sqlx's `Any` driver, with
//! one schema and one set of queries (`$n` parameters, `ON CONFLICT`,
//! `RETURNING`: both dialects have them). What differs is named by
//! [`Dialect`]: how a write transaction begins, PostgreSQL's advisory locks,
//! the connection settings, and BYTEA/BLOB in the migrations.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Connection, Row};

use crate::error::{Result, StoreError};
use crate::log::{BatchWriter, GroupCommitConfig, LogStats, Op, Outcome, TokenLog};
use crate::model::*;
use crate::spi::pick_free;
use crate::{schema, unix_now};

/// Which SQL database a [`SqlStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Rows per multi-row INSERT (10 parameters a token row: far below both
/// databases' limits on parameters per statement).
const ROWS_PER_STATEMENT: usize = 256;
/// Pools of at most this many SPIs are read whole before choosing; larger
/// ones are drawn from at random first (see [`reserve`]).
const DENSE_POOL: u64 = 1 << 16;
/// Rounds of candidates before a reservation gives up (only reachable if the
/// database keeps refusing candidates the store believed free).
const MAX_ROUNDS: usize = 8;
/// Attempts of one batch when the database aborts it as a lost race.
const BATCH_ATTEMPTS: usize = 3;
/// Page size of a new SQLite database (see `open`).
const SQLITE_PAGE_SIZE: u32 = 1024;
/// How often the SQLite WAL is checkpointed in the background.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// How long a SQLite writer waits for another's lock (another process).
const SQLITE_BUSY_TIMEOUT_MS: u32 = 30_000;

/// A store in SQLite or PostgreSQL. Cheap to clone; clones share the pool and
/// the group committer.
#[derive(Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    dialect: Dialect,
    log: TokenLog,
}

impl SqlStore {
    /// Opens (creating if needed) the SQLite database at `path`, in WAL mode
    /// with `synchronous = FULL`, and migrates it.
    pub async fn open_sqlite(path: &Path, config: GroupCommitConfig) -> Result<Self> {
        let path = path
            .to_str()
            .ok_or_else(|| StoreError::Config(format!("path {path:?} is not UTF-8")))?;
        // sqlx percent-decodes the file name.
        let encoded = path
            .replace('%', "%25")
            .replace('?', "%3F")
            .replace('#', "%23");
        let url = format!("sqlite://{encoded}?mode=rwc");
        Self::open(&url, Dialect::Sqlite, config).await
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://...`) and
    /// migrates it.
    pub async fn open_postgres(url: &str, config: GroupCommitConfig) -> Result<Self> {
        Self::open(url, Dialect::Postgres, config).await
    }

    async fn open(url: &str, dialect: Dialect, config: GroupCommitConfig) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let options: AnyConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| StoreError::Config(e.to_string()))?;
        // One connection first: WAL must be switched on while nobody else
        // holds the file open through this process, and migrations run once.
        let mut first = AnyConnection::connect_with(&options).await?;
        configure(&mut first, dialect).await?;
        if dialect == Dialect::Sqlite {
            // Before the first table exists (no effect on an existing
            // file): token IDs and SPIs are random keys, so every token of
            // a batch dirties its own index pages, and every dirty page goes
            // to the WAL whole. Smaller pages, fewer bytes per commit.
            sqlx::query(&format!("PRAGMA page_size = {SQLITE_PAGE_SIZE}"))
                .execute(&mut first)
                .await?;
            let mode: String = sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_one(&mut first)
                .await?
                .try_get(0)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Config(format!(
                    "SQLite refused WAL mode (journal_mode is {mode})"
                )));
            }
        }
        schema::migrate(&mut first, dialect, to_i64(unix_now(), "time")?).await?;
        first.close().await?;

        let max_connections = match dialect {
            // One writer at a time anyway; readers run beside it in WAL mode.
            Dialect::Sqlite => 4,
            Dialect::Postgres => 8,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .after_connect(move |conn, _meta| configure(conn, dialect))
            .connect_with(options)
            .await?;
        let writer = SqlWriter {
            pool: pool.clone(),
            dialect,
            rng: StdRng::from_os_rng(),
        };
        let log = TokenLog::spawn(writer, config);
        if dialect == Dialect::Sqlite {
            tokio::spawn(checkpointer(pool.clone()));
        }
        Ok(SqlStore {
            inner: Arc::new(Inner { pool, dialect, log }),
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    pub(crate) fn log(&self) -> &TokenLog {
        &self.inner.log
    }

    pub fn stats(&self) -> LogStats {
        self.inner.log.stats()
    }

    /// Commits what is queued, stops the committer and closes the pool.
    pub async fn close(&self) {
        self.inner.log.close().await;
        self.inner.pool.close().await;
    }

    /// The settings the durability promise rests on, as the database reports
    /// them on a pool connection: SQLite `journal_mode=wal synchronous=full`,
    /// PostgreSQL `fsync=on synchronous_commit=on` (or stronger).
    pub async fn durability_settings(&self) -> Result<String> {
        let mut conn = self.pool().acquire().await?;
        let (a, b, names) = match self.dialect() {
            Dialect::Sqlite => (
                "PRAGMA journal_mode",
                "PRAGMA synchronous",
                ["journal_mode", "synchronous"],
            ),
            Dialect::Postgres => (
                "SHOW fsync",
                "SHOW synchronous_commit",
                ["fsync", "synchronous_commit"],
            ),
        };
        let first = sqlx::query(a).fetch_one(&mut *conn).await?;
        let second = sqlx::query(b).fetch_one(&mut *conn).await?;
        let a: String = match first.try_get::<String, _>(0) {
            Ok(v) => v,
            Err(_) => first.try_get::<i64, _>(0)?.to_string(),
        };
        let b: String = match second.try_get::<String, _>(0) {
            Ok(v) => v,
            // SQLite answers a number: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
            Err(_) => match second.try_get::<i64, _>(0)? {
                0 => "off".into(),
                1 => "normal".into(),
                2 => "full".into(),
                3 => "extra".into(),
                n => n.to_string(),
            },
        };
        Ok(format!(
            "{}={} {}={}",
            names[0],
            a.to_lowercase(),
            names[1],
            b
        ))
    }

    pub async fn put_client(&self, c: &Client) -> Result<()> {
        sqlx::query(
            "INSERT INTO clients (id, name, cose_key, spi_c, spi_as, registration)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, cose_key = excluded.cose_key,
                 spi_c = excluded.spi_c, spi_as = excluded.spi_as,
                 registration = excluded.registration",
        )
        .bind(c.id.as_str())
        .bind(c.name.as_str())
        .bind(c.cose_key.as_deref())
        .bind(c.spi_c.map(i64::from))
        .bind(c.spi_as.map(i64::from))
        .bind(c.registration.as_slice())
        .execute(self.pool())
        .await
        .map_err(conflict_or_db)?;
        Ok(())
    }

    pub async fn get_client(&self, id: &str) -> Result<Option<Client>> {
        sqlx::query(&format!("{SELECT_CLIENT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .map(|r| client_from_row(&r))
            .transpose()
    }

    pub async fn client_by_spi_as(&self, spi_as: u32) -> Result<Option<Client>> {
        sqlx::query(&format!("{SELECT_CLIENT} WHERE spi_as = $1"))
            .bind(i64::from(spi_as))
            .fetch_optional(self.pool())
            .await?
            .map(|r| client_from_row(&r))
            .transpose()
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>> {
        sqlx::query(&format!("{SELECT_CLIENT} ORDER BY id"))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(client_from_row)
            .collect()
    }

    pub async fn delete_client(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn put_resource_server(&self, rs: &ResourceServer) -> Result<()> {
        sqlx::query(
            "INSERT INTO resource_servers
                 (audience, token_key, esp_alg, sa_life, edhoc_public_key, ike_public_key)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (audience) DO UPDATE SET token_key = excluded.token_key,
                 esp_alg = excluded.esp_alg, sa_life = excluded.sa_life,
                 edhoc_public_key = excluded.edhoc_public_key,
                 ike_public_key = excluded.ike_public_key",
        )
        .bind(rs.audience.as_str())
        .bind(rs.token_key.as_slice())
        .bind(rs.esp_alg.as_str())
        .bind(to_i64(rs.sa_life, "sa_life")?)
        .bind(rs.edhoc_public_key.as_deref())
        .bind(rs.ike_public_key.as_deref())
        .execute(self.pool())
        .await
        .map_err(conflict_or_db)?;
        Ok(())
    }

    pub async fn get_resource_server(&self, audience: &str) -> Result<Option<ResourceServer>> {
        sqlx::query(&format!("{SELECT_RS} WHERE audience = $1"))
            .bind(audience)
            .fetch_optional(self.pool())
            .await?
            .map(|r| rs_from_row(&r))
            .transpose()
    }

    pub async fn list_resource_servers(&self) -> Result<Vec<ResourceServer>> {
        sqlx::query(&format!("{SELECT_RS} ORDER BY audience"))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(rs_from_row)
            .collect()
    }

    pub async fn delete_resource_server(&self, audience: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM resource_servers WHERE audience = $1")
            .bind(audience)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn add_policy(&self, p: &Policy) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO policies (client_id, audience, scope) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(p.client_id.as_str())
        .bind(p.audience.as_str())
        .bind(p.scope.as_slice())
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_kind(&e, sqlx::error::ErrorKind::ForeignKeyViolation) => {
                if self.get_client(&p.client_id).await?.is_none() {
                    Err(StoreError::UnknownClient(p.client_id.clone()))
                } else {
                    Err(StoreError::UnknownAudience(p.audience.clone()))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn remove_policy(&self, p: &Policy) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM policies WHERE client_id = $1 AND audience = $2 AND scope = $3",
        )
        .bind(p.client_id.as_str())
        .bind(p.audience.as_str())
        .bind(p.scope.as_slice())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn policies(&self, client_id: &str, audience: Option<&str>) -> Result<Vec<Policy>> {
        let rows = sqlx::query(
            "SELECT client_id, audience, scope FROM policies
             WHERE client_id = $1 AND ($2 IS NULL OR audience = $2)
             ORDER BY audience, scope",
        )
        .bind(client_id)
        .bind(audience)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Policy {
                    client_id: r.try_get("client_id")?,
                    audience: r.try_get("audience")?,
                    scope: r.try_get("scope")?,
                })
            })
            .collect()
    }

    pub async fn spis_in_use(&self, audience: &str) -> Result<Vec<u32>> {
        let rows = sqlx::query("SELECT spi FROM spi_pool WHERE audience = $1 ORDER BY spi")
            .bind(audience)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| to_u32(r.try_get("spi")?, "spi"))
            .collect()
    }

    pub async fn get_token(&self, cti: &[u8]) -> Result<Option<TokenRecord>> {
        sqlx::query(&format!("{SELECT_TOKEN} WHERE cti = $1"))
            .bind(cti)
            .fetch_optional(self.pool())
            .await?
            .map(|r| token_from_row(&r))
            .transpose()
    }

    pub async fn list_tokens(&self, filter: &TokenFilter) -> Result<Vec<TokenRecord>> {
        let mut sql = format!("{SELECT_TOKEN} WHERE 1 = 1");
        let mut n = 0;
        let mut param = |sql: &mut String, clause: &str| {
            n += 1;
            sql.push_str(&clause.replace("$?", &format!("${n}")));
        };
        if filter.client_id.is_some() {
            param(&mut sql, " AND client_id = $?");
        }
        if filter.audience.is_some() {
            param(&mut sql, " AND audience = $?");
        }
        match filter.revoked {
            Some(true) => sql.push_str(" AND revoked_at IS NOT NULL"),
            Some(false) => sql.push_str(" AND revoked_at IS NULL"),
            None => {}
        }
        if filter.revoked_since.is_some() {
            param(&mut sql, " AND revoked_at >= $?");
        }
        if filter.unexpired_at.is_some() {
            param(&mut sql, " AND exp > $?");
        }
        sql.push_str(" ORDER BY issued_at, cti");
        if filter.limit.is_some() {
            param(&mut sql, " LIMIT $?");
        }
        let mut q = sqlx::query(&sql);
        if let Some(c) = &filter.client_id {
            q = q.bind(c.as_str());
        }
        if let Some(a) = &filter.audience {
            q = q.bind(a.as_str());
        }
        if let Some(s) = filter.revoked_since {
            q = q.bind(to_i64(s, "revoked_since")?);
        }
        if let Some(t) = filter.unexpired_at {
            q = q.bind(to_i64(t, "unexpired_at")?);
        }
        if let Some(l) = filter.limit {
            q = q.bind(i64::from(l));
        }
        q.fetch_all(self.pool())
            .await?
            .iter()
            .map(token_from_row)
            .collect()
    }

    pub async fn revoke(&self, cti: &[u8], now: u64) -> Result<Revocation> {
        let done =
            sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE cti = $1 AND revoked_at IS NULL")
                .bind(cti)
                .bind(to_i64(now, "revocation time")?)
                .execute(self.pool())
                .await?;
        if done.rows_affected() > 0 {
            return Ok(Revocation::Revoked);
        }
        match self.get_token(cti).await?.map(|t| t.revoked_at) {
            Some(Some(at)) => Ok(Revocation::AlreadyRevoked { at }),
            // Revoked and un-revoked in between cannot happen: nothing un-revokes.
            Some(None) => Err(StoreError::Corrupt("revocation did not stick".into())),
            None => Err(StoreError::UnknownToken),
        }
    }

    pub async fn update_spi_sa_rs(&self, cti: &[u8], spi_sa_rs: u32) -> Result<()> {
        let done = sqlx::query("UPDATE tokens SET spi_sa_rs = $2 WHERE cti = $1")
            .bind(cti)
            .bind(i64::from(spi_sa_rs))
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownToken);
        }
        Ok(())
    }
}

const SELECT_CLIENT: &str = "SELECT id, name, cose_key, spi_c, spi_as, registration FROM clients";
const SELECT_RS: &str = "SELECT audience, token_key, esp_alg, sa_life, edhoc_public_key, \
     ike_public_key FROM resource_servers";
const SELECT_TOKEN: &str = "SELECT cti, client_id, audience, scope, issued_at, exp, method, \
     spi_sa_c, spi_sa_rs, revoked_at FROM tokens";

/// Every [`CHECKPOINT_EVERY`], copies what the WAL holds into the database
/// file (`wal_checkpoint(PASSIVE)`: beside the writer, never blocking it),
/// so the WAL is restarted from its beginning instead of growing, and the
/// committer never pays for a checkpoint. Ends when the pool is closed.
async fn checkpointer(pool: AnyPool) {
    use sqlx::Executor;
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!("SQLite checkpoint failed: {e}");
        }
    }
}

/// Per-connection settings. SQLite: `synchronous = FULL` (the WAL is synced
/// at every commit; the bundled SQLite would otherwise default to NORMAL in
/// WAL mode, which may lose the last commits on power loss), a busy timeout
/// for other processes' locks. PostgreSQL: a server configured with
/// `synchronous_commit = off` would acknowledge commits before they are
/// durable; the store's sessions turn it back on.
///
/// Boxed, because the pool's `after_connect` wants a future that is `Send`
/// for every connection lifetime, which rustc cannot prove of an `async fn`
/// that is generic over sqlx's executors.
fn configure(
    conn: &mut AnyConnection,
    dialect: Dialect,
) -> Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
    Box::pin(configure_inner(conn, dialect))
}

async fn configure_inner(conn: &mut AnyConnection, dialect: Dialect) -> Result<(), sqlx::Error> {
    // `Executor`'s own methods return boxed futures; `Query::execute` would
    // put the executor's lifetime into this future's type (see above).
    use sqlx::Executor;
    match dialect {
        Dialect::Sqlite => {
            conn.execute("PRAGMA synchronous = FULL").await?;
            // Checkpoints run in the background (`checkpointer`), not
            // inside a commit that callers are waiting for.
            conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
            conn.execute(format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}").as_str())
                .await?;
        }
        Dialect::Postgres => {
            let level: String = conn
                .fetch_one("SHOW synchronous_commit")
                .await?
                .try_get(0)?;
            if level == "off" {
                conn.execute("SET synchronous_commit = on").await?;
            }
        }
    }
    Ok(())
}

fn is_kind(e: &sqlx::Error, kind: sqlx::error::ErrorKind) -> bool {
    e.as_database_error().is_some_and(|d| d.kind() == kind)
}

fn conflict_or_db(e: sqlx::Error) -> StoreError {
    match e.as_database_error() {
        Some(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            StoreError::Conflict(d.message().to_owned())
        }
        _ => e.into(),
    }
}

pub(crate) fn to_i64(v: u64, what: &'static str) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::OutOfRange(what))
}

fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} = {v}")))
}

fn to_u32(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} = {v}")))
}

fn opt_u32(v: Option<i64>, what: &str) -> Result<Option<u32>> {
    v.map(|v| to_u32(v, what)).transpose()
}

fn client_from_row(r: &AnyRow) -> Result<Client> {
    Ok(Client {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        cose_key: r.try_get("cose_key")?,
        spi_c: opt_u32(r.try_get("spi_c")?, "spi_c")?,
        spi_as: opt_u32(r.try_get("spi_as")?, "spi_as")?,
        registration: r.try_get("registration")?,
    })
}

fn rs_from_row(r: &AnyRow) -> Result<ResourceServer> {
    Ok(ResourceServer {
        audience: r.try_get("audience")?,
        token_key: r.try_get("token_key")?,
        esp_alg: r.try_get("esp_alg")?,
        sa_life: to_u64(r.try_get("sa_life")?, "sa_life")?,
        edhoc_public_key: r.try_get("edhoc_public_key")?,
        ike_public_key: r.try_get("ike_public_key")?,
    })
}

fn token_from_row(r: &AnyRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        cti: r.try_get("cti")?,
        client_id: r.try_get("client_id")?,
        audience: r.try_get("audience")?,
        scope: r.try_get("scope")?,
        issued_at: to_u64(r.try_get("issued_at")?, "issued_at")?,
        exp: to_u64(r.try_get("exp")?, "exp")?,
        method: r.try_get("method")?,
        spi_sa_c: opt_u32(r.try_get("spi_sa_c")?, "spi_sa_c")?,
        spi_sa_rs: opt_u32(r.try_get("spi_sa_rs")?, "spi_sa_rs")?,
        revoked_at: r
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(|v| to_u64(v, "revoked_at"))
            .transpose()?,
    })
}

/// `items` cut into runs of power-of-two lengths (at most
/// [`ROWS_PER_STATEMENT`]), longest first: a multi-row statement comes in a
/// handful of shapes only, each prepared once per connection and cached,
/// instead of one new statement text (and one parse) per batch size.
fn prepared_chunks<T>(items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let n = ROWS_PER_STATEMENT.min(1 << rest.len().ilog2());
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
    }
    out
}

/// `($1, $2, ...), ($k+1, ...)`: `rows` groups of `cols` parameters. SQLite
/// gets anonymous `?` parameters: sqlx looks every `$n` up by name, which
/// SQLite answers by a linear search, quadratic in a statement of hundreds
/// of parameters.
fn values_list(dialect: Dialect, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            match dialect {
                Dialect::Sqlite => s.push('?'),
                Dialect::Postgres => s.push_str(&format!("${}", r * cols + c + 1)),
            }
        }
        s.push(')');
    }
    s
}

/// Key of the PostgreSQL advisory lock of one audience's SPI pool.
fn pool_lock_key(audience: &str) -> i64 {
    schema::checksum(&format!("ace-store spi_pool {audience}"))
}

/// The group committer's side of a SQL store.
struct SqlWriter {
    pool: AnyPool,
    dialect: Dialect,
    rng: StdRng,
}

impl BatchWriter for SqlWriter {
    async fn write_batch(&mut self, ops: &[Op]) -> Result<Vec<Result<Outcome>>> {
        let mut attempt = 0;
        let mut mode = Mode::Optimistic;
        loop {
            attempt += 1;
            match self.try_batch(ops, mode).await {
                Err(e) if mode == Mode::Optimistic && e.is_unique_violation() => {
                    // A duplicate cti or a taken SPI: redo the batch the
                    // careful way, which sorts out who gets what.
                    mode = Mode::Careful;
                }
                Err(e) if e.is_transient() && attempt < BATCH_ATTEMPTS => {
                    tracing::debug!(attempt, "batch aborted by the database, retrying: {e}");
                }
                done => return done,
            }
        }
    }
}

/// How a batch inserts its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Plain INSERTs: every cti is new and every candidate SPI free, as they
    /// almost always are. A unique violation aborts the batch, which is then
    /// redone carefully. Saves the RETURNING rows of every statement.
    Optimistic,
    /// `ON CONFLICT DO NOTHING RETURNING`: each row's fate is read back.
    Careful,
}

impl SqlWriter {
    /// One transaction for the whole batch:
    ///
    /// 1. begin: SQLite `BEGIN IMMEDIATE` (the database's write lock, so
    ///    what we read stays true until commit); PostgreSQL `BEGIN` and then
    ///    the advisory lock of every audience whose pool the batch touches,
    ///    in ascending key order (no deadlock between AS instances; another
    ///    instance's reservations for that RS are committed before we read);
    /// 2. releases (their SPIs are free for this batch's reservations);
    /// 3. duplicate ctis within the batch (`DuplicateCti`);
    /// 4. reservations, grouped by (audience, range) — see [`reserve`];
    /// 5. the token rows, multi-row INSERTs; a cti recorded before is not
    ///    inserted (`DuplicateCti`) and its fresh SPI goes back;
    /// 6. commit: durable (SQLite WAL fsync; PostgreSQL WAL flush).
    async fn try_batch(&mut self, ops: &[Op], mode: Mode) -> Result<Vec<Result<Outcome>>> {
        let mut tx = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        };
        let now = to_i64(unix_now(), "time")?;
        if self.dialect == Dialect::Postgres {
            let keys: BTreeSet<i64> = ops
                .iter()
                .filter_map(|op| match op {
                    Op::Reserve { audience, .. } | Op::Release { audience, .. } => Some(audience),
                    Op::Issue(t) if matches!(t.spi_sa_c, SpiSaC::Reserve(_)) => Some(&t.audience),
                    Op::Issue(_) => None,
                })
                .map(|a| pool_lock_key(a))
                .collect();
            for key in keys {
                sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock($1)")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let mut out: Vec<Option<Result<Outcome>>> = vec![None; ops.len()];

        for (i, op) in ops.iter().enumerate() {
            if let Op::Release { audience, spi } = op {
                let done = sqlx::query("DELETE FROM spi_pool WHERE audience = $1 AND spi = $2")
                    .bind(audience.as_str())
                    .bind(i64::from(*spi))
                    .execute(&mut *tx)
                    .await?;
                out[i] = Some(Ok(Outcome::Released(done.rows_affected() > 0)));
            }
        }

        let issues: Vec<(usize, &NewToken)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| match op {
                Op::Issue(t) => Some((i, t)),
                _ => None,
            })
            .collect();
        // A cti seen earlier in this batch is a duplicate; one recorded by
        // an earlier batch is caught by the INSERT (step 5).
        let mut seen: HashSet<&[u8]> = HashSet::new();
        for &(i, t) in &issues {
            if !seen.insert(t.cti.as_slice()) {
                out[i] = Some(Err(StoreError::DuplicateCti));
            }
        }

        let mut groups: Reservations<'_> = BTreeMap::new();
        for (i, op) in ops.iter().enumerate() {
            let want = match op {
                Op::Reserve {
                    audience,
                    range,
                    cti,
                } => Some((audience.as_str(), *range, cti.as_slice())),
                Op::Issue(t) if out[i].is_none() => match t.spi_sa_c {
                    SpiSaC::Reserve(range) => Some((t.audience.as_str(), range, t.cti.as_slice())),
                    _ => None,
                },
                _ => None,
            };
            if let Some((audience, range, cti)) = want {
                groups.entry((audience, range)).or_default().push((i, cti));
            }
        }
        let mut spi_of: Vec<Option<u32>> = vec![None; ops.len()];
        let mut pools: Vec<Pool<'_>> = groups
            .into_iter()
            .map(|((audience, range), members)| Pool::new(audience, range, members))
            .collect();
        reserve(&mut tx, &mut self.rng, &mut pools, now, mode, self.dialect).await?;
        for pool in pools {
            for (&(i, _), spi) in pool.members.iter().zip(pool.got) {
                match (spi, &ops[i]) {
                    (Some(spi), Op::Reserve { .. }) => out[i] = Some(Ok(Outcome::Reserved(spi))),
                    (Some(spi), _) => spi_of[i] = Some(spi),
                    (None, _) => {
                        out[i] = Some(Err(StoreError::PoolExhausted {
                            audience: pool.audience.to_owned(),
                            range: pool.range,
                        }))
                    }
                }
            }
        }

        let rows: Vec<(usize, &NewToken, Option<u32>)> = issues
            .iter()
            .filter(|&&(i, _)| out[i].is_none())
            .map(|&(i, t)| {
                let spi = match t.spi_sa_c {
                    SpiSaC::Reserved(spi) => Some(spi),
                    _ => spi_of[i],
                };
                (i, t, spi)
            })
            .collect();
        for chunk in prepared_chunks(&rows) {
            let sql = format!(
                "INSERT INTO tokens (cti, client_id, audience, scope, issued_at, exp, method,
                     spi_sa_c, spi_sa_rs, revoked_at)
                 VALUES {}{}",
                values_list(self.dialect, chunk.len(), 10),
                match mode {
                    Mode::Optimistic => "",
                    Mode::Careful => " ON CONFLICT (cti) DO NOTHING RETURNING cti",
                }
            );
            let mut q = sqlx::query(&sql).persistent(true);
            for &(_, t, spi) in chunk {
                q = q
                    .bind(t.cti.as_slice())
                    .bind(t.client_id.as_str())
                    .bind(t.audience.as_str())
                    .bind(t.scope.as_slice())
                    .bind(to_i64(t.issued_at, "issued_at")?)
                    .bind(to_i64(t.exp, "exp")?)
                    .bind(t.method.as_str())
                    .bind(spi.map(i64::from))
                    .bind(t.spi_sa_rs.map(i64::from))
                    .bind(None::<i64>);
            }
            if mode == Mode::Optimistic {
                q.execute(&mut *tx).await?;
                for &(i, _, spi) in chunk {
                    out[i] = Some(Ok(Outcome::Issued(Issued { spi_sa_c: spi })));
                }
                continue;
            }
            let inserted: HashSet<Vec<u8>> = q
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("cti"))
                .collect::<Result<_, _>>()?;
            for &(i, t, spi) in chunk {
                if inserted.contains(&t.cti) {
                    out[i] = Some(Ok(Outcome::Issued(Issued { spi_sa_c: spi })));
                    continue;
                }
                // Recorded before (a retried request, or another AS instance
                // drew the same cti): refuse, and give its fresh SPI back.
                out[i] = Some(Err(StoreError::DuplicateCti));
                if let (Some(spi), SpiSaC::Reserve(_)) = (spi, t.spi_sa_c) {
                    sqlx::query("DELETE FROM spi_pool WHERE audience = $1 AND spi = $2")
                        .bind(t.audience.as_str())
                        .bind(i64::from(spi))
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }

        tx.commit().await?;
        Ok(out
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| Err(StoreError::Corrupt("operation left unanswered".into())))
            })
            .collect())
    }
}

/// A batch's reservations by (audience, range): (operation index, cti) each.
type Reservations<'a> = BTreeMap<(&'a str, SpiRange), Vec<(usize, &'a [u8])>>;

/// The reservations of one batch in one (audience, range) pool.
struct Pool<'a> {
    audience: &'a str,
    range: SpiRange,
    /// (operation index, cti) of each reservation.
    members: Vec<(usize, &'a [u8])>,
    /// What the store knows to be in use (exactly, once `exact`).
    known: BTreeSet<u32>,
    exact: bool,
    /// The SPI each member got; `None` while pending, or when the pool ran dry.
    got: Vec<Option<u32>>,
}

impl<'a> Pool<'a> {
    fn new(audience: &'a str, range: SpiRange, members: Vec<(usize, &'a [u8])>) -> Self {
        let n = members.len();
        Pool {
            audience,
            range,
            members,
            known: BTreeSet::new(),
            exact: false,
            got: vec![None; n],
        }
    }

    async fn read_exact(&mut self, conn: &mut AnyConnection) -> Result<()> {
        self.known = in_use(conn, self.audience, self.range).await?;
        self.exact = true;
        Ok(())
    }
}

/// Reserves one SPI for each member of every pool, inside the batch's
/// transaction; a member left `None` found its pool dry.
///
/// Candidates come from [`pick_free`] over what the store knows to be in
/// use, and go in — all pools' together, one multi-row statement per round —
/// with `INSERT ... ON CONFLICT DO NOTHING RETURNING audience, spi`: the
/// primary key `(audience, spi)` decides, and a candidate someone else holds
/// is simply not returned and replaced in the next round. Small pools (at
/// most [`DENSE_POOL`] SPIs) are read whole first, so every candidate is free
/// and exhaustion is exact; larger pools start from random draws (no read)
/// and are read whole once a candidate collides.
async fn reserve(
    conn: &mut AnyConnection,
    rng: &mut StdRng,
    pools: &mut [Pool<'_>],
    now: i64,
    mode: Mode,
    dialect: Dialect,
) -> Result<()> {
    for pool in pools.iter_mut().filter(|p| p.range.size() <= DENSE_POOL) {
        pool.read_exact(conn).await?;
    }
    for _ in 0..MAX_ROUNDS {
        // (pool, member, candidate) of this round.
        let mut rows: Vec<(usize, usize, u32)> = Vec::new();
        for (p, pool) in pools.iter_mut().enumerate() {
            let pending: Vec<usize> = (0..pool.got.len())
                .filter(|&m| pool.got[m].is_none())
                .collect();
            if pending.is_empty() {
                continue;
            }
            let mut candidates = pick_free(pool.range, &pool.known, pending.len(), rng);
            if candidates.is_empty() && !pool.exact {
                pool.read_exact(conn).await?;
                candidates = pick_free(pool.range, &pool.known, pending.len(), rng);
            }
            rows.extend(
                pending
                    .into_iter()
                    .zip(candidates)
                    .map(|(m, spi)| (p, m, spi)),
            );
        }
        if rows.is_empty() {
            return Ok(());
        }
        let mut inserted: HashSet<(String, i64)> = HashSet::new();
        for chunk in prepared_chunks(&rows) {
            let sql = format!(
                "INSERT INTO spi_pool (audience, spi, cti, reserved_at) VALUES {}{}",
                values_list(dialect, chunk.len(), 4),
                match mode {
                    Mode::Optimistic => "",
                    Mode::Careful => {
                        " ON CONFLICT (audience, spi) DO NOTHING RETURNING audience, spi"
                    }
                }
            );
            let mut q = sqlx::query(&sql).persistent(true);
            for &(p, m, spi) in chunk {
                q = q
                    .bind(pools[p].audience)
                    .bind(i64::from(spi))
                    .bind(pools[p].members[m].1)
                    .bind(now);
            }
            if mode == Mode::Optimistic {
                q.execute(&mut *conn).await?;
                for &(p, _, spi) in chunk {
                    inserted.insert((pools[p].audience.to_owned(), i64::from(spi)));
                }
                continue;
            }
            for r in q.fetch_all(&mut *conn).await? {
                inserted.insert((r.try_get("audience")?, r.try_get("spi")?));
            }
        }
        let mut collided = BTreeSet::new();
        for (p, m, spi) in rows {
            let pool = &mut pools[p];
            pool.known.insert(spi);
            if inserted.contains(&(pool.audience.to_owned(), i64::from(spi))) {
                pool.got[m] = Some(spi);
            } else {
                collided.insert(p);
            }
        }
        // Someone else holds what we believed free: read the pool whole
        // (under the batch's lock this happens to large pools only).
        for p in collided {
            pools[p].read_exact(conn).await?;
        }
    }
    if pools
        .iter()
        .all(|p| p.exact || p.got.iter().all(Option::is_some))
    {
        Ok(())
    } else {
        Err(StoreError::Conflict(
            "SPI reservations kept colliding".into(),
        ))
    }
}

/// The SPIs of `range` in use at `audience`.
async fn in_use(
    conn: &mut AnyConnection,
    audience: &str,
    range: SpiRange,
) -> Result<BTreeSet<u32>> {
    let rows =
        sqlx::query("SELECT spi FROM spi_pool WHERE audience = $1 AND spi BETWEEN $2 AND $3")
            .bind(audience)
            .bind(i64::from(range.lo()))
            .bind(i64::from(range.hi()))
            .fetch_all(&mut *conn)
            .await?;
    rows.iter()
        .map(|r| to_u32(r.try_get("spi")?, "spi"))
        .collect()
}
