//! Durable token records per second through group commit: memory (the
//! baseline), SQLite (WAL, synchronous = FULL) and PostgreSQL in one run.
//!
//! `cargo bench -p ace-store --bench group_commit` — PostgreSQL from
//! `ACE_TEST_PG_URL` (`scripts/postgres.sh start`), skipped with a note when
//! it is not set. `ACE_BENCH_SUBMITTERS` (64), `ACE_BENCH_SECONDS` (3),
//! `ACE_BENCH_ONLY` (e.g. `sqlite,postgres`; the ratio to memory needs memory).
//!
//! Each submitter issues Direct Provisioning tokens one after the other
//! (each waits until its record is durable), reserving SPI_SA_C from the full
//! SPI space of one of 16 RSs — the AS's token path.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ace_store::{AnyStore, GroupCommitConfig, NewToken, SpiRange, SpiSaC, Store, StoreConfig};

struct Figure {
    records: u64,
    seconds: f64,
    batches: u64,
    largest: u64,
}

async fn run(config: &StoreConfig, submitters: usize, seconds: u64) -> Result<Figure, String> {
    let store = AnyStore::open(config, GroupCommitConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    // Token IDs unique across runs on the same database.
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let before = store.stats();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..submitters {
        let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let mut cti = [0u8; 24];
                cti[..8].copy_from_slice(&run_id.to_be_bytes());
                cti[8..16].copy_from_slice(&(s as u64).to_be_bytes());
                cti[16..].copy_from_slice(&n.to_be_bytes());
                let token = NewToken {
                    cti: cti.to_vec(),
                    client_id: format!("client{}", s % 8),
                    audience: format!("rs{}", s % 16),
                    scope: b"temp r".to_vec(),
                    issued_at: 1_700_000_000,
                    exp: 1_700_003_600,
                    method: "dp".into(),
                    spi_sa_c: SpiSaC::Reserve(SpiRange::ALL),
                    spi_sa_rs: Some(0x8000_0000 | n as u32),
                };
                store.issue(token).await.map_err(|e| e.to_string())?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), String>(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let after = store.stats();
    store.close().await;
    Ok(Figure {
        records: done.load(Ordering::Relaxed),
        seconds: elapsed,
        batches: after.batches - before.batches,
        largest: after.largest_batch,
    })
}

fn main() {
    let submitters: usize = std::env::var("ACE_BENCH_SUBMITTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let seconds: u64 = std::env::var("ACE_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("no tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let dir = match tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("no temporary directory: {e}");
            std::process::exit(1);
        }
    };
    let mut backends = vec![
        ("memory", Some(StoreConfig::Memory)),
        (
            "sqlite",
            Some(StoreConfig::Sqlite(dir.path().join("bench.db"))),
        ),
    ];
    // PostgreSQL: a database of its own, dropped at the end.
    let pg = std::env::var("ACE_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let pg_db = match &pg {
        Some(url) => match runtime.block_on(create_database(url)) {
            Ok(db) => Some(db),
            Err(e) => {
                eprintln!("cannot create a bench database on {url}: {e}");
                std::process::exit(1);
            }
        },
        None => None,
    };
    backends.push((
        "postgres",
        pg_db
            .as_ref()
            .map(|(url, _)| StoreConfig::Postgres(url.clone())),
    ));

    println!("group commit: {submitters} submitters, {seconds} s each, DP tokens with SPI_SA_C reservation");
    println!(
        "{:<10} {:>12} {:>9} {:>10} {:>8}",
        "backend", "records/s", "batches", "avg batch", "largest"
    );
    let mut memory_rate = None;
    let mut failed = false;
    let only = std::env::var("ACE_BENCH_ONLY").unwrap_or_default();
    for (name, config) in backends {
        if !only.is_empty() && !only.split(',').any(|o| o == name) {
            continue;
        }
        let Some(config) = config else {
            println!("{name:<10} skipped: ACE_TEST_PG_URL not set (scripts/postgres.sh start)");
            continue;
        };
        match runtime.block_on(run(&config, submitters, seconds)) {
            Ok(f) => {
                let rate = f.records as f64 / f.seconds;
                let vs = match memory_rate {
                    None => {
                        memory_rate = Some(rate);
                        String::new()
                    }
                    Some(m) => format!("  ({:.2} × memory)", rate / m),
                };
                println!(
                    "{name:<10} {rate:>12.0} {:>9} {:>10.1} {:>8}{vs}",
                    f.batches,
                    f.records as f64 / f.batches.max(1) as f64,
                    f.largest
                );
            }
            Err(e) => {
                println!("{name:<10} failed: {e}");
                failed = true;
            }
        }
    }
    if let (Some(admin), Some((_, name))) = (&pg, &pg_db) {
        if let Err(e) = runtime.block_on(drop_database(admin, name)) {
            eprintln!("bench database {name} not dropped: {e}");
        }
    }
    if failed {
        std::process::exit(1);
    }
}

/// A new database next to the one `url` names: (its URL, its name).
async fn create_database(url: &str) -> Result<(String, String), sqlx::Error> {
    use sqlx::{Connection, Executor};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("ace_bench_{nanos}");
    let mut admin = sqlx::PgConnection::connect(url).await?;
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    admin.close().await?;
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    Ok((format!("{base}/{name}"), name))
}

async fn drop_database(url: &str, name: &str) -> Result<(), sqlx::Error> {
    use sqlx::{Connection, Executor};
    let mut admin = sqlx::PgConnection::connect(url).await?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await?;
    admin.close().await
}
