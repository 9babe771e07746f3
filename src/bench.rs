//! `ace-ipsec bench esp`: ESP seal+open against the raw transform of the same
//! backend, every suite, in one run on this machine; OpenSSL's AES-CCM and
//! AES-GCM as an outside baseline (through python `cryptography`, when
//! installed); the SAD's memory per SA pair and lookup cost at 100 000 SAs.

pub mod ike;

use std::io::Write;
use std::time::{Duration, Instant};

use ipsec_dp::bench::esp_vs_raw;
use ipsec_dp::keys::SaKeys;
use ipsec_dp::sa::{InboundSa, OutboundSa};
use ipsec_dp::sad::Sad;
use ipsec_dp::suite::EspSuite;
use serde::Serialize;

/// The figures the data-plane issue asks for: ESP/raw ratio targets.
fn target(suite: EspSuite, size: usize) -> Option<f64> {
    match (suite, size) {
        (EspSuite::AesGcm16_128, 1400) => Some(0.90),
        (EspSuite::AesGcm16_128, 100) => Some(0.70),
        (EspSuite::AesCcm8_128, 1400) => Some(0.90),
        _ => None,
    }
}

#[derive(Serialize)]
pub struct Row {
    pub suite: String,
    pub backend: String,
    pub payload_bytes: usize,
    pub raw_mib_s: f64,
    pub esp_mib_s: f64,
    pub ratio: f64,
    pub target: Option<f64>,
    pub meets_target: Option<bool>,
}

#[derive(Serialize)]
pub struct SadFigures {
    pub pairs: usize,
    pub bytes_per_pair: f64,
    pub lookup_hit_ns: f64,
    pub lookup_miss_ns: f64,
}

#[derive(Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub aes_ni: bool,
    pub vaes: bool,
    pub load_average: String,
}

#[derive(Serialize)]
pub struct Report {
    pub machine: Machine,
    pub rows: Vec<Row>,
    /// OpenSSL through python `cryptography`: (suite, size, MiB/s seal+open).
    pub openssl_python: Vec<(String, usize, f64)>,
    /// `openssl speed -aead -evp`: (suite, size, MiB/s, encrypt only).
    pub openssl_speed: Vec<(String, usize, f64)>,
    pub sad: SadFigures,
}

fn machine() -> Machine {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |k: &str| {
        info.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let flags = field("flags");
    Machine {
        cpu: field("model name"),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        aes_ni: flags.split(' ').any(|f| f == "aes"),
        vaes: flags.split(' ').any(|f| f == "vaes"),
        load_average: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Prints a report as pretty JSON on stdout (`--json`).
fn print_json<T: Serialize>(report: &T) -> Result<(), String> {
    println!(
        "{}",
        serde_json::to_string_pretty(report).map_err(|e| e.to_string())?
    );
    Ok(())
}

const OPENSSL_SCRIPT: &str = r#"
import time
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM
for name, c, nl in (("AES-CCM-8-128", AESCCM(bytes(16), tag_length=8), 11), ("AES-GCM-16-128", AESGCM(bytes(16)), 12)):
    for size in (100, 1400):
        n = bytes(nl); aad = bytes(8); pt = bytes(size); best = 0
        for _ in range(3):
            t = time.perf_counter(); k = 0
            while time.perf_counter() - t < 0.25:
                for _ in range(200):
                    ct = c.encrypt(n, pt, aad); c.decrypt(n, ct, aad)
                k += 200
            best = max(best, k * size / (time.perf_counter() - t) / 2**20)
        print(name, size, round(best, 1))
"#;

/// `openssl speed -aead -evp` (C, no interpreter overhead; encrypt only):
/// MiB/s per size, or nothing when the `openssl` command is missing.
fn openssl_speed(sizes: &[usize]) -> Vec<(String, usize, f64)> {
    let mut out = Vec::new();
    for (name, evp) in [
        ("AES-CCM-8-128", "aes-128-ccm"),
        ("AES-GCM-16-128", "aes-128-gcm"),
    ] {
        for &size in sizes {
            let Ok(o) = std::process::Command::new("openssl")
                .args([
                    "speed",
                    "-seconds",
                    "1",
                    "-bytes",
                    &size.to_string(),
                    "-aead",
                    "-evp",
                    evp,
                ])
                .output()
            else {
                continue;
            };
            let text = String::from_utf8_lossy(&o.stdout);
            // Last line: "AES-128-CCM    1020725.25k" (thousands of bytes per second).
            let v = text
                .lines()
                .last()
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.trim_end_matches('k').parse::<f64>().ok());
            if let Some(kb) = v {
                out.push((name.to_string(), size, kb * 1000.0 / (1024.0 * 1024.0)));
            }
        }
    }
    out
}

/// OpenSSL's figures, or None when python3 with `cryptography` is not installed.
fn openssl() -> Option<Vec<(String, usize, f64)>> {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(OPENSSL_SCRIPT)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some((
                    it.next()?.to_string(),
                    it.next()?.parse().ok()?,
                    it.next()?.parse().ok()?,
                ))
            })
            .collect(),
    )
}

fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Installs `pairs` SA pairs (an inbound SA in the SAD and an outbound SA
/// beside it, as a node holds them) and measures memory and lookups.
fn sad_figures(pairs: usize) -> SadFigures {
    let suite = EspSuite::AesGcm16_128;
    let now = Instant::now();
    let keymat = vec![7u8; suite.keymat_len()];
    let before = resident_bytes().unwrap_or(0);
    let mut sad = Sad::with_capacity(pairs);
    let mut outs = Vec::with_capacity(pairs);
    for i in 0..pairs as u32 {
        let spi = 0x0100_0000 + i * 2;
        if let (Ok(k1), Ok(k2)) = (SaKeys::new(suite, &keymat), SaKeys::new(suite, &keymat)) {
            if let Ok(sa) = InboundSa::new(spi, k1, now, None) {
                let _ = sad.insert_inbound(sa);
            }
            if let Ok(sa) = OutboundSa::new(spi + 1, k2, now, None) {
                outs.push(sa);
            }
        }
    }
    let after = resident_bytes().unwrap_or(before);
    let bytes_per_pair = after.saturating_sub(before) as f64 / pairs as f64;
    // Lookups in a scrambled order (a multiplicative walk over the SPIs).
    let n = 1_000_000u64;
    let start = Instant::now();
    let mut hits = 0u64;
    for i in 0..n {
        let k = (i.wrapping_mul(2_654_435_761) % pairs as u64) as u32;
        hits += u64::from(sad.contains_spi(0x0100_0000 + k * 2));
    }
    let hit_ns = start.elapsed().as_nanos() as f64 / n as f64;
    let start = Instant::now();
    for i in 0..n {
        let k = (i.wrapping_mul(2_654_435_761) % pairs as u64) as u32;
        hits += u64::from(sad.contains_spi(0x0100_0001 + k * 2));
    }
    let miss_ns = start.elapsed().as_nanos() as f64 / n as f64;
    std::hint::black_box((hits, outs.len()));
    SadFigures {
        pairs,
        bytes_per_pair,
        lookup_hit_ns: hit_ns,
        lookup_miss_ns: miss_ns,
    }
}

/// Runs the benchmark; progress on stderr, the table (or JSON) on stdout.
pub fn run_esp(json: bool, seconds: f64) -> Result<(), String> {
    let sizes = [100usize, 1400];
    let suites = EspSuite::ALL;
    let per = Duration::from_secs_f64(seconds.max(0.05));
    let total = suites.len() * sizes.len();
    let mut rows = Vec::new();
    let mut step = 0;
    for suite in suites {
        for size in sizes {
            step += 1;
            eprint!("\r[{step:>2}/{total}] {:<28} {size:>5} B ", suite.name());
            let _ = std::io::stderr().flush();
            let r = esp_vs_raw(suite, size, per).map_err(|e| format!("{}: {e}", suite.name()))?;
            let mib = |b: f64| b / (1024.0 * 1024.0);
            let t = target(suite, size);
            rows.push(Row {
                suite: suite.name().to_string(),
                backend: ipsec_dp::provider::backend_name(suite).to_string(),
                payload_bytes: size,
                raw_mib_s: mib(r.raw_bytes_per_sec),
                esp_mib_s: mib(r.esp_bytes_per_sec),
                ratio: r.ratio(),
                target: t,
                meets_target: t.map(|t| r.ratio() >= t),
            });
        }
    }
    eprint!("\r{:<60}\r[OpenSSL baseline] ", "");
    let openssl_python = openssl().unwrap_or_default();
    let openssl_speed = openssl_speed(&sizes);
    eprint!("\r{:<60}\r[SAD with 100 000 SA pairs] ", "");
    let sad = sad_figures(100_000);
    eprintln!("\r{:<60}", "");
    let report = Report {
        machine: machine(),
        rows,
        openssl_python,
        openssl_speed,
        sad,
    };
    if json {
        return print_json(&report);
    }
    let m = &report.machine;
    println!(
        "machine: {} ({} cores, AES-NI {}, VAES {}), load {}",
        m.cpu, m.cores, m.aes_ni, m.vaes, m.load_average
    );
    println!(
        "ESP seal+open round trip vs the raw transform of the same backend, one core, same run\n"
    );
    println!(
        "{:<28} {:>6} {:>11} {:>11} {:>7} {:>9}  backend",
        "suite", "bytes", "raw MiB/s", "ESP MiB/s", "ratio", "target"
    );
    for r in &report.rows {
        let t = match (r.target, r.meets_target) {
            (Some(t), Some(true)) => format!("≥{t:.2} ok"),
            (Some(t), _) => format!("≥{t:.2} NO"),
            _ => String::new(),
        };
        println!(
            "{:<28} {:>6} {:>11.1} {:>11.1} {:>7.2} {:>9}  {}",
            r.suite, r.payload_bytes, r.raw_mib_s, r.esp_mib_s, r.ratio, t, r.backend
        );
    }
    if report.openssl_speed.is_empty() {
        println!("\nopenssl speed: not measured (no openssl command)");
    } else {
        println!("\nOpenSSL `openssl speed -aead` (encrypt only) vs ace-ipsec ESP seal+open ×2 (≈ one direction), same run:");
        for (name, size, mib) in &report.openssl_speed {
            let ours = report
                .rows
                .iter()
                .find(|r| r.suite == *name && r.payload_bytes == *size)
                .map(|r| 2.0 * r.esp_mib_s);
            match ours {
                Some(o) => println!("  {name:<16} {size:>5} B  OpenSSL {mib:>8.1} MiB/s   ace-ipsec {o:>8.1} MiB/s  ({:.2}×)", o / mib),
                None => println!("  {name:<16} {size:>5} B  OpenSSL {mib:>8.1} MiB/s"),
            }
        }
    }
    if report.openssl_python.is_empty() {
        println!("\nOpenSSL through python: not measured (needs python3 with the `cryptography` package)");
    } else {
        println!("\nOpenSSL through python `cryptography`, seal+open (interpreter overhead dominates small sizes), same run:");
        for (name, size, mib) in &report.openssl_python {
            let ours = report
                .rows
                .iter()
                .find(|r| r.suite == *name && r.payload_bytes == *size)
                .map(|r| r.esp_mib_s);
            match ours {
                Some(o) => println!("  {name:<16} {size:>5} B  OpenSSL {mib:>8.1} MiB/s   ace-ipsec ESP {o:>8.1} MiB/s  ({:.2}×)", o / mib),
                None => println!("  {name:<16} {size:>5} B  OpenSSL {mib:>8.1} MiB/s"),
            }
        }
    }
    let s = &report.sad;
    println!(
        "\nSAD: {} SA pairs, {:.0} bytes per pair (resident memory, inbound + outbound SA), lookup by SPI {:.1} ns (hit), {:.1} ns (miss)",
        s.pairs, s.bytes_per_pair, s.lookup_hit_ns, s.lookup_miss_ns
    );
    Ok(())
}
