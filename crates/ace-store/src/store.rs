//! The [`Store`] contract and [`AnyStore`], the backend the configuration names.

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Result, StoreError};
use crate::log::{GroupCommitConfig, LogStats, Op, Outcome, TokenLog};
use crate::memory::MemoryStore;
use crate::model::*;
use crate::sql::SqlStore;

/// Everything the AS keeps. Every method is a typed-error async call;
/// writes are durable when they return (see the crate docs).
pub trait Store: Send + Sync {
    /// Registers a client or replaces its registration.
    fn put_client(&self, client: &Client) -> impl Future<Output = Result<()>> + Send;
    fn get_client(&self, id: &str) -> impl Future<Output = Result<Option<Client>>> + Send;
    /// The client whose Client–AS pair has this inbound SPI at the AS.
    fn client_by_spi_as(&self, spi_as: u32) -> impl Future<Output = Result<Option<Client>>> + Send;
    /// All clients, by id.
    fn list_clients(&self) -> impl Future<Output = Result<Vec<Client>>> + Send;
    /// Removes a client and its policies; `false` if there was none.
    fn delete_client(&self, id: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Registers a resource server or replaces its registration.
    fn put_resource_server(&self, rs: &ResourceServer) -> impl Future<Output = Result<()>> + Send;
    fn get_resource_server(
        &self,
        audience: &str,
    ) -> impl Future<Output = Result<Option<ResourceServer>>> + Send;
    /// All resource servers, by audience.
    fn list_resource_servers(&self) -> impl Future<Output = Result<Vec<ResourceServer>>> + Send;
    /// Removes a resource server and its policies; `false` if there was none.
    fn delete_resource_server(&self, audience: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Adds a policy entry (idempotent); its client and audience must be
    /// registered ([`StoreError::UnknownClient`], [`StoreError::UnknownAudience`]).
    fn add_policy(&self, policy: &Policy) -> impl Future<Output = Result<()>> + Send;
    /// Removes a policy entry; `false` if there was none.
    fn remove_policy(&self, policy: &Policy) -> impl Future<Output = Result<bool>> + Send;
    /// A client's policy entries, for one audience or all, by (audience, scope).
    fn policies(
        &self,
        client_id: &str,
        audience: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Policy>>> + Send;

    /// Records a token, reserving its SPI_SA_C first if it asks for one, and
    /// returns once both are durable (group commit).
    fn issue(&self, token: NewToken) -> impl Future<Output = Result<Issued>> + Send;
    /// Reserves a free SPI_SA_C in `range` at `audience` for token `cti`;
    /// durable when it returns (group commit). [`StoreError::PoolExhausted`]
    /// when none is free.
    fn reserve_spi(
        &self,
        audience: &str,
        range: SpiRange,
        cti: &[u8],
    ) -> impl Future<Output = Result<u32>> + Send;
    /// Returns an SPI to `audience`'s pool (its SA ended); `false` if it was
    /// not in use. Durable when it returns (group commit).
    fn release_spi(&self, audience: &str, spi: u32) -> impl Future<Output = Result<bool>> + Send;
    /// The SPIs in use at `audience`, ascending.
    fn spis_in_use(&self, audience: &str) -> impl Future<Output = Result<Vec<u32>>> + Send;

    fn get_token(&self, cti: &[u8]) -> impl Future<Output = Result<Option<TokenRecord>>> + Send;
    /// The tokens that pass `filter`, by (issued_at, cti).
    fn list_tokens(
        &self,
        filter: &TokenFilter,
    ) -> impl Future<Output = Result<Vec<TokenRecord>>> + Send;
    /// Tokens revoked at or after `since` (Unix s), for revocation lists and
    /// introspection caches.
    fn tokens_revoked_since(
        &self,
        since: u64,
    ) -> impl Future<Output = Result<Vec<TokenRecord>>> + Send {
        async move {
            let filter = TokenFilter {
                revoked_since: Some(since),
                ..TokenFilter::default()
            };
            self.list_tokens(&filter).await
        }
    }
    /// Marks a token revoked as of `now` (Unix s). [`StoreError::UnknownToken`]
    /// if there is none.
    fn revoke(&self, cti: &[u8], now: u64) -> impl Future<Output = Result<Revocation>> + Send;
    /// Token update for an SPI_SA_RS collision (draft §2.1): the record
    /// now carries the new SPI_SA_RS.
    fn update_spi_sa_rs(
        &self,
        cti: &[u8],
        spi_sa_rs: u32,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Group-commit counters.
    fn stats(&self) -> LogStats;
    /// Commits what is queued, then stops; later writes fail with
    /// [`StoreError::CommitterStopped`].
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// Where the store lives, as an AS configuration names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// Nothing survives the process.
    Memory,
    /// A SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL URL, `postgres://user@host:port/db`.
    Postgres(String),
}

impl FromStr for StoreConfig {
    type Err = StoreError;

    /// `memory`, `sqlite:PATH` or `postgres://...` (`postgresql://...`).
    fn from_str(s: &str) -> Result<Self> {
        if s == "memory" {
            Ok(StoreConfig::Memory)
        } else if let Some(path) = s.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(StoreError::Config("sqlite: needs a file path".into()));
            }
            Ok(StoreConfig::Sqlite(PathBuf::from(path)))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(StoreConfig::Postgres(s.to_owned()))
        } else {
            Err(StoreError::Config(format!(
                "{s:?}: expected memory, sqlite:PATH or postgres://..."
            )))
        }
    }
}

/// The store the AS holds: one of the backends, chosen at run time.
#[derive(Clone)]
pub enum AnyStore {
    Memory(MemoryStore),
    Sql(SqlStore),
}

impl AnyStore {
    /// Opens the store `config` names (SQL: connects and migrates); the
    /// committer runs on the current tokio runtime.
    pub async fn open(config: &StoreConfig, group_commit: GroupCommitConfig) -> Result<Self> {
        Ok(match config {
            StoreConfig::Memory => AnyStore::Memory(MemoryStore::new(group_commit)),
            StoreConfig::Sqlite(path) => {
                AnyStore::Sql(SqlStore::open_sqlite(path, group_commit).await?)
            }
            StoreConfig::Postgres(url) => {
                AnyStore::Sql(SqlStore::open_postgres(url, group_commit).await?)
            }
        })
    }

    fn log(&self) -> &TokenLog {
        match self {
            AnyStore::Memory(m) => m.log(),
            AnyStore::Sql(s) => s.log(),
        }
    }
}

/// `self` dispatched to the backend: the memory store's methods are
/// synchronous, the SQL store's async.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            AnyStore::Memory(m) => m.$method($($arg),*),
            AnyStore::Sql(s) => s.$method($($arg),*).await,
        }
    };
}

fn unexpected(o: Outcome) -> StoreError {
    StoreError::Corrupt(format!("group commit answered {o:?}"))
}

impl Store for AnyStore {
    async fn put_client(&self, client: &Client) -> Result<()> {
        dispatch!(self.put_client(client))
    }
    async fn get_client(&self, id: &str) -> Result<Option<Client>> {
        dispatch!(self.get_client(id))
    }
    async fn client_by_spi_as(&self, spi_as: u32) -> Result<Option<Client>> {
        dispatch!(self.client_by_spi_as(spi_as))
    }
    async fn list_clients(&self) -> Result<Vec<Client>> {
        dispatch!(self.list_clients())
    }
    async fn delete_client(&self, id: &str) -> Result<bool> {
        dispatch!(self.delete_client(id))
    }
    async fn put_resource_server(&self, rs: &ResourceServer) -> Result<()> {
        dispatch!(self.put_resource_server(rs))
    }
    async fn get_resource_server(&self, audience: &str) -> Result<Option<ResourceServer>> {
        dispatch!(self.get_resource_server(audience))
    }
    async fn list_resource_servers(&self) -> Result<Vec<ResourceServer>> {
        dispatch!(self.list_resource_servers())
    }
    async fn delete_resource_server(&self, audience: &str) -> Result<bool> {
        dispatch!(self.delete_resource_server(audience))
    }
    async fn add_policy(&self, policy: &Policy) -> Result<()> {
        dispatch!(self.add_policy(policy))
    }
    async fn remove_policy(&self, policy: &Policy) -> Result<bool> {
        dispatch!(self.remove_policy(policy))
    }
    async fn policies(&self, client_id: &str, audience: Option<&str>) -> Result<Vec<Policy>> {
        dispatch!(self.policies(client_id, audience))
    }

    async fn issue(&self, token: NewToken) -> Result<Issued> {
        match self.log().submit(Op::Issue(token)).await? {
            Outcome::Issued(issued) => Ok(issued),
            other => Err(unexpected(other)),
        }
    }
    async fn reserve_spi(&self, audience: &str, range: SpiRange, cti: &[u8]) -> Result<u32> {
        let op = Op::Reserve {
            audience: audience.to_owned(),
            range,
            cti: cti.to_vec(),
        };
        match self.log().submit(op).await? {
            Outcome::Reserved(spi) => Ok(spi),
            other => Err(unexpected(other)),
        }
    }
    async fn release_spi(&self, audience: &str, spi: u32) -> Result<bool> {
        let op = Op::Release {
            audience: audience.to_owned(),
            spi,
        };
        match self.log().submit(op).await? {
            Outcome::Released(was) => Ok(was),
            other => Err(unexpected(other)),
        }
    }
    async fn spis_in_use(&self, audience: &str) -> Result<Vec<u32>> {
        dispatch!(self.spis_in_use(audience))
    }

    async fn get_token(&self, cti: &[u8]) -> Result<Option<TokenRecord>> {
        dispatch!(self.get_token(cti))
    }
    async fn list_tokens(&self, filter: &TokenFilter) -> Result<Vec<TokenRecord>> {
        dispatch!(self.list_tokens(filter))
    }
    async fn revoke(&self, cti: &[u8], now: u64) -> Result<Revocation> {
        dispatch!(self.revoke(cti, now))
    }
    async fn update_spi_sa_rs(&self, cti: &[u8], spi_sa_rs: u32) -> Result<()> {
        dispatch!(self.update_spi_sa_rs(cti, spi_sa_rs))
    }

    fn stats(&self) -> LogStats {
        self.log().stats()
    }
    async fn close(&self) {
        match self {
            AnyStore::Memory(m) => m.close().await,
            AnyStore::Sql(s) => s.close().await,
        }
    }
}
