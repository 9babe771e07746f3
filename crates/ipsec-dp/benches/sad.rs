//! The SAD at 100 000 SAs: bytes per installed SA pair (inbound in the SAD +
//! outbound owned by the caller), measured with a counting Rust allocator
//! and with glibc's `mallinfo2` (which also sees AWS-LC's C allocations),
//! and the cost of a lookup by SPI (hits in random order, and misses).
//!
//! `cargo bench -p ipsec-dp --bench sad`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ipsec_dp::{EspSuite, InboundSa, OutboundSa, SaKeys, Sad};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// glibc's `struct mallinfo2` (all `size_t`).
#[repr(C)]
#[derive(Default)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

extern "C" {
    fn mallinfo2() -> MallInfo2;
}

/// Bytes in use in the C heap (Rust's System allocator and AWS-LC both use it).
fn c_heap_in_use() -> usize {
    // SAFETY: mallinfo2 has no preconditions (glibc >= 2.33).
    let m = unsafe { mallinfo2() };
    m.uordblks + m.hblkhd
}

const N: u32 = 100_000;

fn spi(i: u32) -> u32 {
    // spread like random SPIs, never reserved
    i.wrapping_mul(0x9E37_79B1) | 0x100
}

fn build(suite: EspSuite) -> (Sad, Vec<OutboundSa>, f64, f64) {
    let now = Instant::now();
    let km: Vec<u8> = (0..suite.keymat_len() as u8).collect();
    let c_before = c_heap_in_use();
    let before = LIVE.load(Ordering::Relaxed);
    let mut sad = Sad::with_capacity(N as usize);
    let mut outs = Vec::with_capacity(N as usize);
    for i in 0..N {
        let keys = || SaKeys::new(suite, &km).expect("keys");
        sad.insert_inbound(InboundSa::new(spi(i), keys(), now, None).expect("sa"))
            .expect("unique");
        outs.push(OutboundSa::new(spi(i) ^ 1, keys(), now, None).expect("sa"));
    }
    let after = LIVE.load(Ordering::Relaxed);
    let c_after = c_heap_in_use();
    let per_pair = (after - before) as f64 / f64::from(N);
    let c_per_pair = (c_after as f64 - c_before as f64) / f64::from(N);
    (sad, outs, per_pair, c_per_pair)
}

fn benches(c: &mut Criterion) {
    for suite in [
        EspSuite::AesGcm16_128,
        EspSuite::AesCcm8_128,
        EspSuite::AesCbc128HmacSha256,
    ] {
        let (sad, outs, per_pair, c_per_pair) = build(suite);
        println!(
            "{suite}: {N} SA pairs installed, {c_per_pair:.0} bytes per pair in the C heap \
             (mallinfo2, malloc overhead and AWS-LC contexts included), {per_pair:.0} bytes \
             requested from Rust's allocator (inbound in the SAD, outbound in a Vec; \
             size_of InboundSa {} B, OutboundSa {} B)",
            std::mem::size_of::<InboundSa>(),
            std::mem::size_of::<OutboundSa>()
        );
        if suite == EspSuite::AesGcm16_128 {
            let order: Vec<u32> = (0..N).map(|i| spi(i.wrapping_mul(7919) % N)).collect();
            let mut k = 0usize;
            c.bench_function("sad-100k/lookup-hit", |b| {
                b.iter(|| {
                    k = (k + 1) % order.len();
                    black_box(sad.inbound(order[k]).map(|sa| sa.spi()))
                })
            });
            c.bench_function("sad-100k/lookup-miss", |b| {
                b.iter(|| {
                    k = (k + 1) % order.len();
                    black_box(sad.inbound(order[k] ^ 0x8000_0000).is_some())
                })
            });
        }
        drop(outs);
    }
}

criterion_group! {
    name = sad;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = benches
}
criterion_main!(sad);
