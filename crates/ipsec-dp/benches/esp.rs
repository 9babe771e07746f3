//! ESP seal+open round trip against the raw transform of the same backend
//! (same key, same size, same nonce/AAD construction) in the same run: the
//! difference is the ESP framing, padding, replay window and bookkeeping.
//! Every suite at 100 and 1400 bytes; for CCM also the RustCrypto `ccm`
//! crate as the baseline the crate replaced.
//!
//! `cargo bench -p ipsec-dp --bench esp -- --quick`

use std::hint::black_box;
use std::time::{Duration, Instant};

use aead::{AeadInOut, KeyInit};
use ccm::consts::{U11, U8};
use ccm::Ccm;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ipsec_dp::consts::IPPROTO_UDP;
use ipsec_dp::sa::sealed_len;
use ipsec_dp::{EspAead, EspSuite, InboundSa, OutboundSa, SaKeys};

const SIZES: [usize; 2] = [100, 1400];

fn keymat(suite: EspSuite) -> Vec<u8> {
    (0..suite.keymat_len() as u8).collect()
}

fn suite_group(c: &mut Criterion, suite: EspSuite) {
    let now = Instant::now();
    let km = keymat(suite);
    let keys = || SaKeys::new(suite, &km).expect("keys");
    let raw = EspAead::new(&keys()).expect("aead");
    let mut tx = OutboundSa::new(0x1000, keys(), now, None).expect("sa");
    let mut rx = InboundSa::new(0x1000, keys(), now, None).expect("sa");
    let mut group = c.benchmark_group(suite.name());
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        // raw: the transform alone, in place (a fixed nonce is fine for timing only)
        let total = sealed_len(suite, size).expect("len");
        let plen = 8 + suite.iv_len();
        let mut prefix = vec![0u8; plen];
        let mut body = vec![0x5Au8; total - plen - suite.icv_len()];
        let mut icv = vec![0u8; suite.icv_len()];
        group.bench_with_input(BenchmarkId::new("raw", size), &size, |b, _| {
            b.iter(|| {
                raw.seal_esp(1, false, &mut prefix, &mut body, &mut icv)
                    .expect("seal");
                raw.open_esp(1, false, &prefix, &mut body, &icv)
                    .expect("open");
                black_box(&body);
            })
        });
        // esp: OutboundSa::seal + InboundSa::open
        let payload = vec![0x5Au8; size];
        let mut buf = vec![0u8; total];
        group.bench_with_input(BenchmarkId::new("esp", size), &size, |b, _| {
            b.iter(|| {
                let n = tx.seal(now, IPPROTO_UDP, &payload, &mut buf).expect("seal");
                let o = rx.open(now, &mut buf[..n]).expect("open");
                black_box(o.payload.len());
            })
        });
        if suite == EspSuite::AesCcm8_128 {
            let ccm = Ccm::<aes::Aes128, U8, U11>::new_from_slice(&km[..16]).expect("key");
            let nonce = aead::Nonce::<Ccm<aes::Aes128, U8, U11>>::default();
            let mut buf = vec![0x5Au8; size];
            group.bench_with_input(
                BenchmarkId::new("rustcrypto-ccm-raw", size),
                &size,
                |b, _| {
                    b.iter(|| {
                        let tag = ccm
                            .encrypt_inout_detached(&nonce, &[0u8; 8], buf.as_mut_slice().into())
                            .expect("seal");
                        ccm.decrypt_inout_detached(
                            &nonce,
                            &[0u8; 8],
                            buf.as_mut_slice().into(),
                            &tag,
                        )
                        .expect("open");
                        black_box(&buf);
                    })
                },
            );
        }
    }
    group.finish();
}

/// The raw CCM transform on 16 KiB messages, to compare with OpenSSL's
/// AES-CCM at a size where a Python caller's overhead is negligible
/// (tests/vectors/../../benches/openssl_ccm.py prints OpenSSL's figure).
fn ccm_16k(c: &mut Criterion) {
    let mut group = c.benchmark_group("ccm-16k");
    for suite in [EspSuite::AesCcm8_128, EspSuite::AesGcm16_128] {
        let km = keymat(suite);
        let raw = EspAead::new(&SaKeys::new(suite, &km).expect("keys")).expect("aead");
        let size = 16384;
        let mut prefix = vec![0u8; 16];
        let mut body = vec![0x5Au8; size];
        let mut icv = vec![0u8; suite.icv_len()];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new(suite.name(), size), |b| {
            b.iter(|| {
                raw.seal_esp(1, false, &mut prefix, &mut body, &mut icv)
                    .expect("seal");
                raw.open_esp(1, false, &prefix, &mut body, &icv)
                    .expect("open");
                black_box(&body);
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    for suite in EspSuite::ALL_WITH_NULL {
        suite_group(c, suite);
    }
    ccm_16k(c);
}

criterion_group! {
    name = esp;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800))
        .sample_size(20);
    targets = benches
}
criterion_main!(esp);
