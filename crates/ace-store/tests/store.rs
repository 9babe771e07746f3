#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The store's contract, the same test functions against memory, SQLite and
//! PostgreSQL (see `common`).

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use ace_store::*;
use common::{dp_token, Backend};

for_each_backend!(
    migrations_are_idempotent_and_settings_durable,
    clients_are_registered_updated_found_and_deleted,
    resource_servers_are_registered_updated_and_deleted,
    policies_need_their_client_and_audience,
    tokens_are_recorded_listed_and_revoked,
    token_update_rewrites_spi_sa_rs,
    a_small_pool_runs_dry_and_a_released_spi_is_reused,
    pool_spis_stay_unique_under_concurrent_churn,
    two_instances_never_hand_out_the_same_spi,
    group_commit_answers_every_submitter_and_survives_reopen,
    a_resolved_issue_is_found_by_a_fresh_store,
    queue_full_is_a_typed_error,
    the_pool_follows_a_model_under_random_reserve_and_release,
);

fn client(id: &str, spi_as: Option<u32>) -> Client {
    Client {
        id: id.into(),
        name: format!("client {id}"),
        cose_key: Some(vec![0xa1, 0x01, 0x02]),
        spi_c: Some(0x1000),
        spi_as,
        registration: vec![0xa0],
    }
}

fn rs(audience: &str) -> ResourceServer {
    ResourceServer {
        audience: audience.into(),
        token_key: vec![7; 16],
        esp_alg: "AES-CCM-8-128".into(),
        sa_life: 3600,
        edhoc_public_key: None,
        ike_public_key: Some(vec![0xa4, 1, 2]),
    }
}

async fn migrations_are_idempotent_and_settings_durable(b: Backend) {
    let Some(db) = b.db().await else { return };
    let first = db.open().await;
    first.put_client(&client("c1", None)).await.unwrap();
    // A second store on the same database migrates nothing and sees the data.
    let second = db.open().await;
    assert_eq!(second.get_client("c1").await.unwrap().unwrap().id, "c1");
    if let AnyStore::Sql(sql) = &second {
        let want = match sql.dialect() {
            Dialect::Sqlite => "journal_mode=wal synchronous=full",
            Dialect::Postgres => "fsync=on synchronous_commit=on",
        };
        assert_eq!(sql.durability_settings().await.unwrap(), want);
    }
    second.close().await;
    first.close().await;
    // Opened a third time after both closed: still one schema, same data.
    let third = db.open().await;
    assert_eq!(third.list_clients().await.unwrap().len(), 1);
    third.close().await;
    db.cleanup().await;
}

async fn clients_are_registered_updated_found_and_deleted(b: Backend) {
    let Some((db, s)) = b.open().await else {
        return;
    };
    assert_eq!(s.get_client("c1").await.unwrap(), None);
    s.put_client(&client("c1", Some(0x2001))).await.unwrap();
    s.put_client(&client("c2", Some(0x2002))).await.unwrap();
    let mut c1 = client("c1", Some(0x2001));
    c1.name = "renamed".into();
    c1.cose_key = None;
    s.put_client(&c1).await.unwrap();
    assert_eq!(s.get_client("c1").await.unwrap(), Some(c1.clone()));
    assert_eq!(s.client_by_spi_as(0x2002).await.unwrap().unwrap().id, "c2");
    assert_eq!(s.client_by_spi_as(0x2003).await.unwrap(), None);
    // The AS's inbound SPI names one client only.
    let err = s.put_client(&client("c3", Some(0x2001))).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let ids: Vec<String> = s
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert!(s.delete_client("c1").await.unwrap());
    assert!(!s.delete_client("c1").await.unwrap());
    assert_eq!(s.get_client("c1").await.unwrap(), None);
    s.close().await;
    db.cleanup().await;
}

async fn resource_servers_are_registered_updated_and_deleted(b: Backend) {
    let Some((db, s)) = b.open().await else {
        return;
    };
    s.put_resource_server(&rs("tempSensor")).await.unwrap();
    s.put_resource_server(&rs("lamp")).await.unwrap();
    let mut t = rs("tempSensor");
    t.sa_life = 60;
    t.edhoc_public_key = Some(vec![1, 2, 3]);
    t.ike_public_key = None;
    s.put_resource_server(&t).await.unwrap();
    assert_eq!(s.get_resource_server("tempSensor").await.unwrap(), Some(t));
    let auds: Vec<String> = s
        .list_resource_servers()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.audience)
        .collect();
    assert_eq!(auds, ["lamp", "tempSensor"]);
    assert!(s.delete_resource_server("lamp").await.unwrap());
    assert_eq!(s.get_resource_server("lamp").await.unwrap(), None);
    // Debug never shows the token key.
    let shown = format!("{:?}", rs("x"));
    assert!(!shown.contains("7, 7"), "{shown}");
    s.close().await;
    db.cleanup().await;
}

async fn policies_need_their_client_and_audience(b: Backend) {
    let Some((db, s)) = b.open().await else {
        return;
    };
    s.put_client(&client("c1", None)).await.unwrap();
    s.put_resource_server(&rs("temp")).await.unwrap();
    s.put_resource_server(&rs("lamp")).await.unwrap();
    let p = |aud: &str, scope: &[u8]| Policy {
        client_id: "c1".into(),
        audience: aud.into(),
        scope: scope.to_vec(),
    };
    s.add_policy(&p("temp", b"r")).await.unwrap();
    s.add_policy(&p("temp", b"r")).await.unwrap(); // idempotent
    s.add_policy(&p("temp", b"w")).await.unwrap();
    s.add_policy(&p("lamp", b"rw")).await.unwrap();
    let err = s
        .add_policy(&Policy {
            client_id: "nobody".into(),
            audience: "temp".into(),
            scope: b"r".to_vec(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownClient(ref c) if c == "nobody"),
        "{err:?}"
    );
    let err = s.add_policy(&p("nowhere", b"r")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownAudience(ref a) if a == "nowhere"),
        "{err:?}"
    );
    assert_eq!(
        s.policies("c1", Some("temp")).await.unwrap(),
        vec![p("temp", b"r"), p("temp", b"w")]
    );
    assert_eq!(s.policies("c1", None).await.unwrap().len(), 3);
    assert!(s.remove_policy(&p("temp", b"w")).await.unwrap());
    assert!(!s.remove_policy(&p("temp", b"w")).await.unwrap());
    // Deleting an RS takes its policies along.
    s.delete_resource_server("lamp").await.unwrap();
    assert_eq!(s.policies("c1", None).await.unwrap(), vec![p("temp", b"r")]);
    s.delete_client("c1").await.unwrap();
    assert_eq!(s.policies("c1", None).await.unwrap(), vec![]);
    s.close().await;
    db.cleanup().await;
}

async fn tokens_are_recorded_listed_and_revoked(b: Backend) {
    let Some((db, s)) = b.open().await else {
        return;
    };
    let range = SpiRange::new(0x1_0000, 0x1_00ff).unwrap();
    let mut t1 = dp_token(b"cti-1", "temp", SpiSaC::Reserve(range));
    t1.issued_at = 100;
    t1.exp = 200;
    let issued = s.issue(t1.clone()).await.unwrap();
    let spi = issued.spi_sa_c.unwrap();
    assert!(range.contains(spi));
    let mut t2 = dp_token(b"cti-2", "lamp", SpiSaC::None);
    t2.issued_at = 150;
    t2.exp = 300;
    t2.client_id = "client2".into();
    t2.method = "edhoc".into();
    t2.spi_sa_rs = None;
    assert_eq!(s.issue(t2.clone()).await.unwrap().spi_sa_c, None);
    // A cti is recorded once.
    let again = s.issue(t1.clone()).await.unwrap_err();
    assert!(matches!(again, StoreError::DuplicateCti), "{again:?}");

    let r1 = s.get_token(b"cti-1").await.unwrap().unwrap();
    assert_eq!(
        (
            r1.client_id.as_str(),
            r1.audience.as_str(),
            r1.scope.as_slice()
        ),
        ("client1", "temp", &b"temp r"[..])
    );
    assert_eq!((r1.issued_at, r1.exp, r1.method.as_str()), (100, 200, "dp"));
    assert_eq!((r1.spi_sa_c, r1.spi_sa_rs), (Some(spi), Some(0x8000_0001)));
    assert!(!r1.is_revoked());
    assert_eq!(s.get_token(b"nope").await.unwrap(), None);
    assert_eq!(s.spis_in_use("temp").await.unwrap(), vec![spi]);

    let all = s.list_tokens(&TokenFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|t| t.cti.as_slice()).collect::<Vec<_>>(),
        [b"cti-1", b"cti-2"]
    );
    let by_client = TokenFilter {
        client_id: Some("client2".into()),
        ..Default::default()
    };
    assert_eq!(s.list_tokens(&by_client).await.unwrap()[0].cti, b"cti-2");
    let by_aud = TokenFilter {
        audience: Some("temp".into()),
        ..Default::default()
    };
    assert_eq!(s.list_tokens(&by_aud).await.unwrap().len(), 1);
    let live = TokenFilter {
        unexpired_at: Some(250),
        ..Default::default()
    };
    assert_eq!(s.list_tokens(&live).await.unwrap()[0].cti, b"cti-2");
    let one = TokenFilter {
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(s.list_tokens(&one).await.unwrap()[0].cti, b"cti-1");

    assert_eq!(s.revoke(b"cti-1", 1000).await.unwrap(), Revocation::Revoked);
    assert_eq!(
        s.revoke(b"cti-1", 2000).await.unwrap(),
        Revocation::AlreadyRevoked { at: 1000 }
    );
    assert!(matches!(
        s.revoke(b"nope", 1).await,
        Err(StoreError::UnknownToken)
    ));
    assert_eq!(
        s.get_token(b"cti-1").await.unwrap().unwrap().revoked_at,
        Some(1000)
    );
    let revoked = TokenFilter {
        revoked: Some(true),
        ..Default::default()
    };
    assert_eq!(s.list_tokens(&revoked).await.unwrap().len(), 1);
    let not_revoked = TokenFilter {
        revoked: Some(false),
        ..Default::default()
    };
    assert_eq!(s.list_tokens(&not_revoked).await.unwrap()[0].cti, b"cti-2");
    assert_eq!(s.tokens_revoked_since(1000).await.unwrap().len(), 1);
    assert_eq!(s.tokens_revoked_since(1001).await.unwrap().len(), 0);
    s.close().await;
    db.cleanup().await;
}

async fn token_update_rewrites_spi_sa_rs(b: Backend) {
    let Some((db, s)) = b.open().await else {
        return;
    };
    let t = dp_token(b"cti-u", "temp", SpiSaC::Reserved(0x4242));
    assert_eq!(s.issue(t).await.unwrap().spi_sa_c, Some(0x4242));
    s.update_spi_sa_rs(b"cti-u", u32::MAX).await.unwrap();
    let r = s.get_token(b"cti-u").await.unwrap().unwrap();
    assert_eq!((r.spi_sa_c, r.spi_sa_rs), (Some(0x4242), Some(u32::MAX)));
    assert!(matches!(
        s.update_spi_sa_rs(b"nope", 300).await,
        Err(StoreError::UnknownToken)
    ));
    s.close().await;
    db.cleanup().await;
}

async fn a_small_pool_runs_dry_and_a_released_spi_is_reused(b: Backend) {
    let Some((db, s)) = b.open().await else {
        return;
    };
    let range = SpiRange::new(u32::MAX - 3, u32::MAX).unwrap();
    let mut got = Vec::new();
    for i in 0..4u8 {
        got.push(s.reserve_spi("rs", range, &[i]).await.unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, (u32::MAX - 3..=u32::MAX).collect::<Vec<_>>());
    let err = s.reserve_spi("rs", range, b"x").await.unwrap_err();
    assert!(
        matches!(err, StoreError::PoolExhausted { ref audience, range: r } if audience == "rs" && r == range),
        "{err:?}"
    );
    // A token that needs an SPI from the dry pool is not recorded.
    let err = s
        .issue(dp_token(b"dry", "rs", SpiSaC::Reserve(range)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::PoolExhausted { .. }), "{err:?}");
    assert_eq!(s.get_token(b"dry").await.unwrap(), None);
    // Another RS's pool is its own.
    assert!(range.contains(s.reserve_spi("other", range, b"o").await.unwrap()));
    // Released, then handed out again.
    assert!(s.release_spi("rs", u32::MAX - 1).await.unwrap());
    assert!(!s.release_spi("rs", u32::MAX - 1).await.unwrap());
    assert_eq!(s.spis_in_use("rs").await.unwrap().len(), 3);
    let token = s
        .issue(dp_token(b"wet", "rs", SpiSaC::Reserve(range)))
        .await
        .unwrap();
    assert_eq!(token.spi_sa_c, Some(u32::MAX - 1));
    assert_eq!(s.spis_in_use("rs").await.unwrap(), got);
    assert!(matches!(
        SpiRange::new(255, 300),
        Err(StoreError::InvalidRange { .. })
    ));
    assert!(matches!(
        SpiRange::new(400, 300),
        Err(StoreError::InvalidRange { .. })
    ));
    s.close().await;
    db.cleanup().await;
}

/// Holders of SPIs, checked for two at once: an SPI goes in when reserved
/// and out before it is released, so while it is in, the pool holds it and
/// nobody else may get it.
#[derive(Default, Clone)]
struct Holders(Arc<Mutex<HashSet<(String, u32)>>>);

impl Holders {
    fn take(&self, audience: &str, spi: u32) {
        let fresh = self.0.lock().unwrap().insert((audience.to_owned(), spi));
        assert!(fresh, "SPI {spi} handed out twice at {audience}");
    }
    fn give_back(&self, audience: &str, spi: u32) {
        assert!(self.0.lock().unwrap().remove(&(audience.to_owned(), spi)));
    }
}

/// `tasks` tasks (spread over `stores`), each reserving (half of them
/// through `issue`) and releasing until `per_task` reservations are done,
/// holding up to `hold` SPIs at a time. Exhaustion is allowed (the pool is
/// small); a duplicate is not.
async fn churn(
    stores: &[AnyStore],
    tasks: usize,
    per_task: usize,
    hold: usize,
    range: SpiRange,
) -> usize {
    let holders = Holders::default();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let s = stores[t % stores.len()].clone();
        let holders = holders.clone();
        handles.push(tokio::spawn(async move {
            let mut held: Vec<u32> = Vec::new();
            let mut done = 0;
            let mut n = 0u64;
            while done < per_task {
                n += 1;
                let cti = format!("t{t}-{n}-{}", std::process::id()).into_bytes();
                let got = if n.is_multiple_of(2) {
                    s.issue(dp_token(&cti, "rs", SpiSaC::Reserve(range)))
                        .await
                        .map(|i| i.spi_sa_c.unwrap())
                } else {
                    s.reserve_spi("rs", range, &cti).await
                };
                match got {
                    Ok(spi) => {
                        holders.take("rs", spi);
                        held.push(spi);
                        done += 1;
                    }
                    Err(StoreError::PoolExhausted { .. }) => {}
                    Err(e) => panic!("reservation failed: {e}"),
                }
                if held.len() >= hold || (n.is_multiple_of(3) && !held.is_empty()) {
                    let spi = held.swap_remove((n as usize) % held.len());
                    holders.give_back("rs", spi);
                    assert!(s.release_spi("rs", spi).await.unwrap());
                }
            }
            for spi in held {
                holders.give_back("rs", spi);
                assert!(stores_release(&s, spi).await);
            }
            done
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total
}

async fn stores_release(s: &AnyStore, spi: u32) -> bool {
    s.release_spi("rs", spi).await.unwrap()
}

async fn pool_spis_stay_unique_under_concurrent_churn(b: Backend) {
    let Some((db, s)) = b.open().await else {
        return;
    };
    let range = SpiRange::new(1000, 1063).unwrap(); // 64 SPIs
    let total = churn(std::slice::from_ref(&s), 8, 250, 6, range).await;
    assert_eq!(total, 2000);
    assert!(
        s.spis_in_use("rs").await.unwrap().is_empty(),
        "every SPI was returned"
    );
    s.close().await;
    db.cleanup().await;
}

async fn two_instances_never_hand_out_the_same_spi(b: Backend) {
    let Some(db) = b.db().await else { return };
    // Two stores = two AS processes: own pools, own committers, one database.
    let a = db.open().await;
    let c = db.open().await;
    let range = SpiRange::new(5000, 5031).unwrap(); // 32 SPIs
    let total = churn(&[a.clone(), c.clone()], 16, 640, 3, range).await;
    assert!(total >= 10_000, "{total}");
    assert!(a.spis_in_use("rs").await.unwrap().is_empty());
    a.close().await;
    c.close().await;
    db.cleanup().await;
}

async fn group_commit_answers_every_submitter_and_survives_reopen(b: Backend) {
    let Some(db) = b.db().await else { return };
    let s = db.open().await;
    let range = SpiRange::ALL;
    let mut handles = Vec::new();
    for i in 0..512u32 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let cti = format!("gc-{i}").into_bytes();
            let issued = s
                .issue(dp_token(&cti, "rs", SpiSaC::Reserve(range)))
                .await
                .unwrap();
            (cti, issued.spi_sa_c.unwrap())
        }));
    }
    let mut issued = Vec::new();
    for h in handles {
        issued.push(h.await.unwrap());
    }
    let spis: HashSet<u32> = issued.iter().map(|&(_, spi)| spi).collect();
    assert_eq!(spis.len(), 512);
    let stats = s.stats();
    assert_eq!(stats.ops, 512);
    if b != Backend::Memory {
        // The submitters arrived during commits: fewer transactions than tokens.
        assert!(stats.batches < 512 && stats.largest_batch > 1, "{stats:?}");
    }
    s.close().await;
    let reopened = db.open().await;
    for (cti, spi) in &issued {
        let t = reopened.get_token(cti).await.unwrap().unwrap();
        assert_eq!(t.spi_sa_c, Some(*spi));
    }
    let mut in_use = reopened.spis_in_use("rs").await.unwrap();
    in_use.sort_unstable();
    let mut want: Vec<u32> = spis.into_iter().collect();
    want.sort_unstable();
    assert_eq!(in_use, want);
    reopened.close().await;
    db.cleanup().await;
}

async fn a_resolved_issue_is_found_by_a_fresh_store(b: Backend) {
    let Some(db) = b.db().await else { return };
    let s = db.open().await;
    let issued = s
        .issue(dp_token(b"durable", "rs", SpiSaC::Reserve(SpiRange::ALL)))
        .await
        .unwrap();
    // No close, no flush: the other store has its own connections and reads
    // only what was committed.
    let fresh = db.open().await;
    let t = fresh.get_token(b"durable").await.unwrap().unwrap();
    assert_eq!(t.spi_sa_c, issued.spi_sa_c);
    assert_eq!(
        fresh.spis_in_use("rs").await.unwrap(),
        vec![issued.spi_sa_c.unwrap()]
    );
    fresh.close().await;
    s.close().await;
    db.cleanup().await;
}

async fn queue_full_is_a_typed_error(b: Backend) {
    let Some(db) = b.db().await else { return };
    let config = GroupCommitConfig {
        max_batch: 1,
        queue_capacity: 1,
    };
    let s = AnyStore::open(db.config(), config).await.unwrap();
    let mut handles = Vec::new();
    for i in 0..64u32 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let cti = format!("q-{i}").into_bytes();
            s.issue(dp_token(&cti, "rs", SpiSaC::None)).await
        }));
    }
    let mut full = 0;
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::QueueFull { capacity: 1 }) => full += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok + full, 64);
    assert!(ok >= 1, "{ok} ok, {full} full");
    s.close().await;
    // Closed: the committer refuses.
    let err = s
        .issue(dp_token(b"late", "rs", SpiSaC::None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::CommitterStopped), "{err:?}");
    db.cleanup().await;
}

#[derive(Debug, Clone)]
enum PoolOp {
    Reserve { rs: usize },
    IssueReserving { rs: usize },
    Release { rs: usize, spi: u32 },
}

fn pool_op() -> impl proptest::strategy::Strategy<Value = PoolOp> {
    use proptest::prelude::*;
    prop_oneof![
        (0..2usize).prop_map(|rs| PoolOp::Reserve { rs }),
        (0..2usize).prop_map(|rs| PoolOp::IssueReserving { rs }),
        // 298..=309: a few SPIs outside the pool too.
        (0..2usize, 298u32..310).prop_map(|(rs, spi)| PoolOp::Release { rs, spi }),
    ]
}

/// Random reserve/issue/release sequences on two RSs' pools of 8 SPIs
/// against a model (a set per RS): every answer, exhaustion included, and
/// the final pools agree with it.
async fn the_pool_follows_a_model_under_random_reserve_and_release(b: Backend) {
    use proptest::test_runner::{Config, TestRunner};
    if b == Backend::Postgres && common::pg_url().is_none() {
        return;
    }
    let range = SpiRange::new(300, 307).unwrap();
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 12,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(pool_op(), 1..40);
    let result = runner.run(&strategy, |ops| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let (db, s) = b.open().await.unwrap();
                let auds = ["rs-a", "rs-b"];
                let mut model: [std::collections::BTreeSet<u32>; 2] = Default::default();
                for (n, op) in ops.iter().enumerate() {
                    let cti = format!("p{n}").into_bytes();
                    match *op {
                        PoolOp::Reserve { rs } | PoolOp::IssueReserving { rs } => {
                            let got = if matches!(op, PoolOp::Reserve { .. }) {
                                s.reserve_spi(auds[rs], range, &cti).await
                            } else {
                                s.issue(dp_token(&cti, auds[rs], SpiSaC::Reserve(range)))
                                    .await
                                    .map(|i| i.spi_sa_c.unwrap())
                            };
                            match got {
                                Ok(spi) => {
                                    assert!(range.contains(spi));
                                    assert!(model[rs].insert(spi), "{spi} given twice");
                                }
                                Err(StoreError::PoolExhausted { .. }) => {
                                    assert_eq!(model[rs].len() as u64, range.size())
                                }
                                Err(e) => panic!("{e}"),
                            }
                        }
                        PoolOp::Release { rs, spi } => {
                            let was = s.release_spi(auds[rs], spi).await.unwrap();
                            assert_eq!(was, model[rs].remove(&spi));
                        }
                    }
                }
                for (rs, aud) in auds.iter().enumerate() {
                    let want: Vec<u32> = model[rs].iter().copied().collect();
                    assert_eq!(s.spis_in_use(aud).await.unwrap(), want);
                }
                s.close().await;
                db.cleanup().await;
            })
        });
        Ok(())
    });
    result.unwrap();
}
