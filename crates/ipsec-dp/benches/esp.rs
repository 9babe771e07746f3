//! ESP seal+open round trip against the raw AEAD (same key, same size) in
//! the same run: the difference is the ESP framing, padding, replay window
//! and bookkeeping.
//!
//! `cargo bench -p ipsec-dp --bench esp -- --quick`

use std::hint::black_box;
use std::time::{Duration, Instant};

use aead::{AeadInOut, KeyInit};
use aes::Aes128;
use aes_gcm::Aes128Gcm;
use ccm::consts::{U11, U8};
use ccm::Ccm;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipsec_dp::consts::IPPROTO_UDP;
use ipsec_dp::{EspSuite, InboundSa, OutboundSa, SaKeys};

const SIZES: [usize; 2] = [100, 1400];

fn keymat(suite: EspSuite) -> Vec<u8> {
    (0..suite.keymat_len() as u8).collect()
}

fn raw_round_trip<A: AeadInOut + KeyInit>(c: &mut Criterion, suite: EspSuite) {
    let km = keymat(suite);
    let aead = A::new_from_slice(&km[..suite.key_len()]).expect("key");
    // A fixed nonce is fine for timing; never do this with real traffic.
    let nonce = aead::Nonce::<A>::default();
    let aad = [0u8; 8];
    let mut group = c.benchmark_group(format!("{}/raw-aead", suite.name()));
    for size in SIZES {
        let mut buf = vec![0x5Au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| {
                let tag = aead
                    .encrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into())
                    .expect("seal");
                aead.decrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into(), &tag)
                    .expect("open");
                black_box(&buf);
            })
        });
    }
    group.finish();
}

fn esp_round_trip(c: &mut Criterion, suite: EspSuite) {
    let now = Instant::now();
    let km = keymat(suite);
    let mut tx =
        OutboundSa::new(0x1000, SaKeys::new(suite, &km).expect("keys"), now, None).expect("sa");
    let mut rx =
        InboundSa::new(0x1000, SaKeys::new(suite, &km).expect("keys"), now, None).expect("sa");
    let mut group = c.benchmark_group(format!("{}/esp", suite.name()));
    for size in SIZES {
        let payload = vec![0x5Au8; size];
        let mut buf = vec![0u8; tx.sealed_len(size)];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| {
                let n = tx.seal(now, IPPROTO_UDP, &payload, &mut buf).expect("seal");
                let o = rx.open(now, &mut buf[..n]).expect("open");
                black_box(o.payload.len());
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    raw_round_trip::<Ccm<Aes128, U8, U11>>(c, EspSuite::AesCcm8_128);
    esp_round_trip(c, EspSuite::AesCcm8_128);
    raw_round_trip::<Aes128Gcm>(c, EspSuite::AesGcm16_128);
    esp_round_trip(c, EspSuite::AesGcm16_128);
}

criterion_group! {
    name = esp;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = benches
}
criterion_main!(esp);
