//! ESP throughput against the raw transform of the same backend, measured
//! without criterion (for `ace-ipsec bench esp`).
//!
//! This module reads the clock (it measures time); the data plane itself
//! does not.
//!
//! - *raw*: [`EspAead::seal_esp`] then [`EspAead::open_esp`] on the same
//!   buffer, in place: nonce and AAD construction and the cipher, nothing
//!   else (the fastest an ESP packet of that size can be protected and
//!   verified with this backend).
//! - *esp*: [`OutboundSa::seal`] (payload copied into the packet, padding,
//!   trailer, sequence number, lifetime check) then [`InboundSa::open`]
//!   (SPI, lifetime, replay check and update, padding check, counters).
//!
//! Both count payload bytes per seal+open round trip. The two loops run in
//! alternating slices of ~20 ms so that a shared, throttled or busy machine
//! affects both alike.

use std::hint::black_box;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::cipher::{CryptoError, EspAead};
use crate::consts::{ESP_HEADER_LEN, IPPROTO_UDP};
use crate::error::{DropReason, SaError, SealError};
use crate::keys::SaKeys;
use crate::sa::{sealed_len, InboundSa, OutboundSa};
use crate::suite::EspSuite;

/// Throughput of ESP and of the raw transform, payload bytes per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchResult {
    /// The suite measured.
    pub suite: EspSuite,
    /// Payload bytes per packet.
    pub payload_len: usize,
    /// ESP seal+open round trips, payload bytes per second.
    pub esp_bytes_per_sec: f64,
    /// Raw transform seal+open round trips, payload bytes per second.
    pub raw_bytes_per_sec: f64,
}

impl BenchResult {
    /// `esp / raw` (1.0 = ESP costs nothing beyond the cipher).
    pub fn ratio(&self) -> f64 {
        if self.raw_bytes_per_sec > 0.0 {
            self.esp_bytes_per_sec / self.raw_bytes_per_sec
        } else {
            0.0
        }
    }
}

/// A benchmark could not run (never expected with valid inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BenchError {
    /// Building an SA failed.
    #[error(transparent)]
    Sa(#[from] SaError),
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Opening failed.
    #[error("open failed: {0}")]
    Open(DropReason),
    /// The raw transform failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Deterministic keying material for `suite` (benchmarks only).
fn bench_keys(suite: EspSuite) -> Result<SaKeys, SaError> {
    let mut km = [0u8; 64];
    for (i, b) in km.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7).wrapping_add(1);
    }
    Ok(SaKeys::new(
        suite,
        km.get(..suite.keymat_len()).unwrap_or(&[]),
    )?)
}

const SLICE: Duration = Duration::from_millis(20);

/// Measures ESP seal+open against the raw transform of the same backend for
/// `payload_len`-byte payloads, for about `duration` in total (half each).
pub fn esp_vs_raw(
    suite: EspSuite,
    payload_len: usize,
    duration: Duration,
) -> Result<BenchResult, BenchError> {
    let now = Instant::now();
    let spi = 0x0000_1000;
    let mut tx = OutboundSa::new(spi, bench_keys(suite)?, now, None)?;
    let mut rx = InboundSa::new(spi, bench_keys(suite)?, now, None)?;
    let raw = EspAead::new(&bench_keys(suite)?).map_err(SaError::from)?;
    let payload = vec![0x5Au8; payload_len];
    let total = sealed_len(suite, payload_len).ok_or(SealError::PayloadTooLong)?;
    let mut packet = vec![0u8; total];

    // The raw buffers: prefix | body (payload + trailer, aligned) | ICV.
    let prefix_len = ESP_HEADER_LEN + suite.iv_len();
    let body_len = total - prefix_len - suite.icv_len();
    let mut prefix = vec![0u8; prefix_len];
    if let Some(spi_field) = prefix.get_mut(..4) {
        spi_field.copy_from_slice(&u32::to_be_bytes(spi));
    }
    let mut body = vec![0x5Au8; body_len];
    let mut icv = vec![0u8; suite.icv_len()];

    let (mut esp_n, mut raw_n) = (0u64, 0u64);
    let (mut esp_t, mut raw_t) = (Duration::ZERO, Duration::ZERO);
    let half = duration / 2;
    // One warm-up round trip each (page faults, lazy CPU feature detection).
    let n = tx.seal(now, IPPROTO_UDP, &payload, &mut packet)?;
    rx.open(now, packet.get_mut(..n).unwrap_or(&mut []))
        .map_err(BenchError::Open)?;
    raw.seal_esp(1, false, &mut prefix, &mut body, &mut icv)?;
    raw.open_esp(1, false, &prefix, &mut body, &icv)?;

    while esp_t < half || raw_t < half {
        if esp_t < half {
            let start = Instant::now();
            loop {
                for _ in 0..16 {
                    let n = tx.seal(now, IPPROTO_UDP, &payload, &mut packet)?;
                    let o = rx
                        .open(now, packet.get_mut(..n).unwrap_or(&mut []))
                        .map_err(BenchError::Open)?;
                    black_box(o.payload.len());
                }
                esp_n += 16;
                if start.elapsed() >= SLICE {
                    break;
                }
            }
            esp_t += start.elapsed();
        }
        if raw_t < half {
            let start = Instant::now();
            loop {
                for _ in 0..16 {
                    // A fixed sequence number (and so a fixed nonce) is fine
                    // for timing only; never for traffic.
                    raw.seal_esp(1, false, &mut prefix, &mut body, &mut icv)?;
                    raw.open_esp(1, false, &prefix, &mut body, &icv)?;
                    black_box(&body);
                }
                raw_n += 16;
                if start.elapsed() >= SLICE {
                    break;
                }
            }
            raw_t += start.elapsed();
        }
    }
    let rate = |n: u64, t: Duration| n as f64 * payload_len as f64 / t.as_secs_f64().max(1e-9);
    Ok(BenchResult {
        suite,
        payload_len,
        esp_bytes_per_sec: rate(esp_n, esp_t),
        raw_bytes_per_sec: rate(raw_n, raw_t),
    })
}
