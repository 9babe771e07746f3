//! One test, three backends: `Backend::open` gives a fresh store in memory,
//! in a temporary SQLite file, or in a new database on the PostgreSQL server
//! named by `ACE_TEST_PG_URL` (`scripts/postgres.sh start` prints it).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use ace_store::{AnyStore, GroupCommitConfig, NewToken, SpiSaC, StoreConfig};
use sqlx::{Connection, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

/// A fresh database of one backend, which can be opened again (a second AS
/// instance, or the same AS after a restart).
pub struct Db {
    pub backend: Backend,
    config: StoreConfig,
    _dir: Option<tempfile::TempDir>,
    /// For memory: the one store (it cannot be reopened, only shared).
    memory: Option<AnyStore>,
    pg_admin: Option<(String, String)>,
}

/// `Some(url)`, or `None` when PostgreSQL tests are explicitly skipped.
/// Without the variable the test fails and says how to get a server.
pub fn pg_url() -> Option<String> {
    match std::env::var("ACE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("ACE_TEST_SKIP_PG").as_deref() == Ok("1") => {
            eprintln!("PostgreSQL test skipped: ACE_TEST_SKIP_PG=1");
            None
        }
        _ => panic!(
            "ACE_TEST_PG_URL is not set: run `export ACE_TEST_PG_URL=\"$(scripts/postgres.sh start)\"` \
             first (or set ACE_TEST_SKIP_PG=1 to skip the PostgreSQL tests explicitly)"
        ),
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{nanos}_{n}", std::process::id())
}

pub fn group_commit() -> GroupCommitConfig {
    GroupCommitConfig::default()
}

impl Backend {
    /// A fresh, empty database; `None` if this backend's tests are skipped.
    pub async fn db(self) -> Option<Db> {
        match self {
            Backend::Memory => {
                let store = AnyStore::open(&StoreConfig::Memory, group_commit())
                    .await
                    .unwrap();
                Some(Db {
                    backend: self,
                    config: StoreConfig::Memory,
                    _dir: None,
                    memory: Some(store),
                    pg_admin: None,
                })
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path: PathBuf = dir.path().join("as.db");
                Some(Db {
                    backend: self,
                    config: StoreConfig::Sqlite(path),
                    _dir: Some(dir),
                    memory: None,
                    pg_admin: None,
                })
            }
            Backend::Postgres => {
                let url = pg_url()?;
                let name = unique("ace_t");
                let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
                admin
                    .execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                let (base, _) = url.rsplit_once('/').unwrap();
                Some(Db {
                    backend: self,
                    config: StoreConfig::Postgres(format!("{base}/{name}")),
                    _dir: None,
                    memory: None,
                    pg_admin: Some((url, name)),
                })
            }
        }
    }

    /// Opens a fresh database and a store on it.
    pub async fn open(self) -> Option<(Db, AnyStore)> {
        let db = self.db().await?;
        let store = db.open().await;
        Some((db, store))
    }
}

impl Db {
    /// A new store on this database: new pool, new committer (memory: the
    /// same store, which is all a memory store can offer).
    pub async fn open(&self) -> AnyStore {
        match &self.memory {
            Some(store) => store.clone(),
            None => AnyStore::open(&self.config, group_commit()).await.unwrap(),
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Drops the PostgreSQL test database (after every store on it closed).
    pub async fn cleanup(self) {
        if let Some((url, name)) = &self.pg_admin {
            let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
            admin
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await
                .unwrap();
            admin.close().await.unwrap();
        }
    }
}

/// A Direct Provisioning token for `audience` that reserves SPI_SA_C from `range`.
pub fn dp_token(cti: &[u8], audience: &str, spi_sa_c: SpiSaC) -> NewToken {
    NewToken {
        cti: cti.to_vec(),
        client_id: "client1".into(),
        audience: audience.into(),
        scope: b"temp r".to_vec(),
        issued_at: 1_700_000_000,
        exp: 1_700_003_600,
        method: "dp".into(),
        spi_sa_c,
        spi_sa_rs: Some(0x8000_0001),
    }
}

/// Every test function runs once per backend: `memory::name`,
/// `sqlite::name`, `postgres::name`.
#[macro_export]
macro_rules! for_each_backend {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Memory).await }) *
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Sqlite).await }) *
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Postgres).await }) *
        }
    };
}
