//! `ace-ipsec bench ike`: IKE SA + first Child SA establishments per second
//! with the responder on one core, for PSK + X25519 and raw P-256 keys +
//! ECP-256:
//!
//! * **in-process**: initiator and responder endpoints in one thread, the
//!   datagrams handed across in memory; the time spent in each side's calls
//!   is measured separately (one thread, so wall time in a call is that
//!   side's CPU time);
//! * **loopback**: our load initiator (one thread, many IKE SAs in flight)
//!   against our responder on its own thread over UDP on 127.0.0.1; the
//!   responder thread's CPU time comes from `/proc/thread-self/schedstat`;
//! * **remote** (`--target`): the same load initiator against another
//!   responder (charon in `scripts/bench-ike.sh`).
//!
//! Also the bytes on the wire of each exchange (UDP payloads, the non-ESP
//! marker included) for the full profile and the RFC 7815 minimal
//! initiator. The responders' DoS protections (cookies, the per-source
//! rate limit) are relaxed, as `dos_protection = no` does for charon: one
//! source opens every IKE SA here.

use std::collections::VecDeque;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ikev2::config::key_id;
use ikev2::crypto::{P256PublicKey, P256SigningKey};
use ikev2::payload::{IdRepr, TrafficSelector};
use ikev2::{
    ChildPolicy, ChildSuite, Config, Credential, Endpoint, Event, IdType, IkeSuite,
    InitiatorParams, Mode, PeerAuth, PeerEntry, Secret, Transmit,
};
use serde::Serialize;

/// Which credentials and group a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Auth {
    /// PSK (AUTH method 2), X25519, AES-128-GCM.
    PskX25519,
    /// Raw P-256 keys (RFC 7427 ECDSA), ECP-256, AES-128-GCM.
    P256Ecp256,
}

impl Auth {
    pub fn name(self) -> &'static str {
        match self {
            Auth::PskX25519 => "PSK + X25519",
            Auth::P256Ecp256 => "raw keys + P-256",
        }
    }
    fn suite(self) -> IkeSuite {
        match self {
            Auth::PskX25519 => IkeSuite::AES128GCM_SHA256_X25519,
            Auth::P256Ecp256 => IkeSuite::AES128GCM_SHA256_P256,
        }
    }
}

/// The keys of both sides (raw keys: fresh; PSK: fixed, or given).
pub struct Creds {
    pub psk: Secret,
    pub i_key: Arc<P256SigningKey>,
    pub r_key: Arc<P256SigningKey>,
    /// The responder's public key when it is not ours (charon).
    pub r_pub: Option<P256PublicKey>,
}

impl Creds {
    pub fn new() -> Result<Self, String> {
        let k = || {
            P256SigningKey::generate()
                .map(Arc::new)
                .map_err(|e| e.to_string())
        };
        Ok(Creds {
            psk: Secret::from_slice(&[0x42; 32]),
            i_key: k()?,
            r_key: k()?,
            r_pub: None,
        })
    }
}

fn i_id() -> IdRepr {
    key_id(b"kid-01")
}
fn r_id() -> IdRepr {
    IdRepr {
        id_type: IdType::ID_FQDN,
        data: b"rs.example".to_vec(),
    }
}

fn policy() -> ChildPolicy {
    ChildPolicy {
        mode: Mode::Tunnel,
        local_ts: vec![TrafficSelector::host_v4([10, 98, 1, 1].into())],
        remote_ts: vec![TrafficSelector::host_v4([10, 98, 2, 1].into())],
        lifetime: Duration::from_secs(3600),
    }
}

fn config(auth: Auth, natt_port: u16, minimal: bool) -> Config {
    Config {
        ike_suites: vec![auth.suite()],
        child_suites: vec![ChildSuite::ESP_AES128GCM16],
        natt_port,
        minimal,
        // As charon with dos_protection = no: one source opens them all.
        cookie_threshold: usize::MAX,
        init_rate_per_source: u32::MAX,
        max_half_open: 1 << 20,
        ..Config::default()
    }
}

pub fn initiator_params(auth: Auth, c: &Creds, peer_natt_port: u16) -> InitiatorParams {
    let (credential, peer_auth) = match auth {
        Auth::PskX25519 => (Credential::Psk(c.psk.clone()), PeerAuth::Psk(c.psk.clone())),
        Auth::P256Ecp256 => (
            Credential::P256(c.i_key.clone()),
            PeerAuth::P256(c.r_pub.clone().unwrap_or_else(|| c.r_key.public_key())),
        ),
    };
    InitiatorParams {
        local_id: i_id(),
        credential,
        peer_id: Some(r_id()),
        peer_auth,
        child: policy(),
        peer_natt_port,
        not_after: None,
        tag: 1,
    }
}

fn responder_entry(auth: Auth, c: &Creds) -> PeerEntry {
    let (auth_, credential) = match auth {
        Auth::PskX25519 => (PeerAuth::Psk(c.psk.clone()), Credential::Psk(c.psk.clone())),
        Auth::P256Ecp256 => (
            PeerAuth::P256(c.i_key.public_key()),
            Credential::P256(c.r_key.clone()),
        ),
    };
    let mut child = policy();
    std::mem::swap(&mut child.local_ts, &mut child.remote_ts);
    PeerEntry {
        id: i_id(),
        auth: auth_,
        local_id: r_id(),
        credential,
        child,
        not_after: Instant::now() + Duration::from_secs(86_400),
        tag: 1,
    }
}

/// One message of an establishment as it went over the wire.
#[derive(Clone, Debug, Serialize)]
pub struct WireMessage {
    pub exchange: String,
    pub from_initiator: bool,
    /// UDP payload octets (IKE message + non-ESP marker on the NAT-T port).
    pub udp_payload: usize,
}

/// Bytes of one IKE SA + Child SA establishment.
#[derive(Clone, Debug, Serialize)]
pub struct WireBytes {
    pub auth: Auth,
    pub minimal: bool,
    pub messages: Vec<WireMessage>,
    pub total: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct IkeRow {
    pub mode: String,
    pub auth: Auth,
    pub concurrency: usize,
    pub established: u64,
    pub seconds: f64,
    pub per_second: f64,
    /// Responder CPU per IKE SA + Child SA, µs.
    pub responder_us_per_sa: Option<f64>,
    /// Initiator CPU per IKE SA + Child SA, µs (in-process only).
    pub initiator_us_per_sa: Option<f64>,
    pub failures: u64,
}

fn exchange_name(payload: &[u8]) -> String {
    match payload.get(18) {
        Some(34) => "IKE_SA_INIT".into(),
        Some(35) => "IKE_AUTH".into(),
        Some(36) => "CREATE_CHILD_SA".into(),
        Some(37) => "INFORMATIONAL".into(),
        Some(x) => format!("exchange {x}"),
        None => "?".into(),
    }
}

fn wire_len(t: &Transmit) -> usize {
    t.payload.len() + if t.non_esp_marker { 4 } else { 0 }
}

/// Both endpoints in one thread: establishments for `seconds`, the time
/// spent in each side's calls, and the bytes of the first establishment.
pub fn in_process(
    auth: Auth,
    creds: &Creds,
    minimal: bool,
    seconds: f64,
) -> Result<(IkeRow, WireBytes), String> {
    let i_addr: SocketAddr = "10.0.0.1:500".parse().map_err(|_| "addr")?;
    let r_addr: SocketAddr = "10.0.0.2:500".parse().map_err(|_| "addr")?;
    let mut i = Endpoint::new(config(auth, 4500, minimal)).map_err(|e| e.to_string())?;
    let mut r = Endpoint::new(config(auth, 4500, false)).map_err(|e| e.to_string())?;
    r.authorize_peer(responder_entry(auth, creds));
    let params = initiator_params(auth, creds, 4500);
    let (mut t_i, mut t_r) = (Duration::ZERO, Duration::ZERO);
    let (mut done, mut failures) = (0u64, 0u64);
    let mut first: Option<Vec<WireMessage>> = None;
    let start = Instant::now();
    let budget = Duration::from_secs_f64(seconds);
    while start.elapsed() < budget || done == 0 {
        let mut msgs = Vec::new();
        let now = Instant::now();
        let t0 = Instant::now();
        i.initiate(now, i_addr, r_addr, params.clone())
            .map_err(|e| e.to_string())?;
        t_i += t0.elapsed();
        let mut up = false;
        // Ping-pong until the initiator reports the Child SA.
        for _ in 0..16 {
            let mut any = false;
            while let Some(t) = i.poll_transmit() {
                any = true;
                msgs.push(WireMessage {
                    exchange: exchange_name(&t.payload),
                    from_initiator: true,
                    udp_payload: wire_len(&t),
                });
                let t0 = Instant::now();
                r.handle(now, t.remote, t.local, &t.payload);
                t_r += t0.elapsed();
            }
            while let Some(t) = r.poll_transmit() {
                any = true;
                msgs.push(WireMessage {
                    exchange: exchange_name(&t.payload),
                    from_initiator: false,
                    udp_payload: wire_len(&t),
                });
                let t0 = Instant::now();
                i.handle(now, t.remote, t.local, &t.payload);
                t_i += t0.elapsed();
            }
            while let Some(e) = r.poll_event() {
                drop(e);
            }
            while let Some(e) = i.poll_event() {
                match e {
                    Event::ChildSaUp(_) => up = true,
                    Event::Failed { .. } => failures += 1,
                    _ => {}
                }
            }
            if !any {
                break;
            }
        }
        if !up {
            return Err(format!(
                "{} in-process: no Child SA (failures {failures}, responder {:?})",
                auth.name(),
                r.counters()
            ));
        }
        done += 1;
        if first.is_none() {
            first = Some(msgs);
        }
        // Keep memory flat: both sides forget the IKE SA (no DELETE on
        // the wire: the bench measures establishments).
        if done % 1024 == 0 {
            i = Endpoint::new(config(auth, 4500, minimal)).map_err(|e| e.to_string())?;
            r = Endpoint::new(config(auth, 4500, false)).map_err(|e| e.to_string())?;
            r.authorize_peer(responder_entry(auth, creds));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let messages = first.unwrap_or_default();
    let total = messages.iter().map(|m| m.udp_payload).sum();
    let row = IkeRow {
        mode: if minimal {
            "in-process, minimal initiator".into()
        } else {
            "in-process".into()
        },
        auth,
        concurrency: 1,
        established: done,
        seconds: secs,
        per_second: done as f64 / secs,
        responder_us_per_sa: Some(t_r.as_secs_f64() * 1e6 / done as f64),
        initiator_us_per_sa: Some(t_i.as_secs_f64() * 1e6 / done as f64),
        failures,
    };
    Ok((
        row,
        WireBytes {
            auth,
            minimal,
            messages,
            total,
        },
    ))
}

/// CPU time of the calling thread.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// An endpoint on an IKE socket and a NAT-T socket, driven in one thread.
struct UdpEnd {
    ep: Endpoint,
    ike: UdpSocket,
    natt: UdpSocket,
    ike_addr: SocketAddr,
    natt_addr: SocketAddr,
    buf: Vec<u8>,
}

impl UdpEnd {
    fn bind(ep: Endpoint, ike_addr: SocketAddr, natt_addr: SocketAddr) -> Result<Self, String> {
        let ike = UdpSocket::bind(ike_addr).map_err(|e| format!("{ike_addr}: {e}"))?;
        let natt = UdpSocket::bind(natt_addr).map_err(|e| format!("{natt_addr}: {e}"))?;
        for s in [&ike, &natt] {
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
        }
        Ok(UdpEnd {
            ike_addr: ike.local_addr().map_err(|e| e.to_string())?,
            natt_addr: natt.local_addr().map_err(|e| e.to_string())?,
            ep,
            ike,
            natt,
            buf: vec![0; 65_536],
        })
    }

    /// Waits up to `wait` for datagrams, feeds them, runs the timers and
    /// sends what the endpoint queued.
    fn turn(&mut self, wait: Duration) {
        let fds = [self.ike.as_raw_fd(), self.natt.as_raw_fd()];
        let _ = ipsec_io::poll::wait_readable(&fds, Some(wait));
        let now = Instant::now();
        for _ in 0..64 {
            let mut any = false;
            if let Ok((n, src)) = self.ike.recv_from(&mut self.buf) {
                any = true;
                self.ep.handle(now, self.ike_addr, src, &self.buf[..n]);
            }
            if let Ok((n, src)) = self.natt.recv_from(&mut self.buf) {
                any = true;
                // The non-ESP marker; nothing else comes here.
                if n > 4 && self.buf[..4] == [0; 4] {
                    self.ep.handle(now, self.natt_addr, src, &self.buf[4..n]);
                }
            }
            if !any {
                break;
            }
        }
        self.ep.handle_timeout(now);
        let mut out = Vec::new();
        while let Some(t) = self.ep.poll_transmit() {
            if t.non_esp_marker {
                out.clear();
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(&t.payload);
                let _ = self.natt.send_to(&out, t.remote);
            } else {
                let _ = self.ike.send_to(&t.payload, t.remote);
            }
        }
    }
}

/// Our load initiator: `concurrency` IKE SAs in flight against `target`
/// (its IKE port; NAT-T port `target_natt`) for `seconds`.
#[allow(clippy::too_many_arguments)]
pub fn load(
    auth: Auth,
    creds: &Creds,
    local_ike: SocketAddr,
    local_natt: SocketAddr,
    target: SocketAddr,
    target_natt: u16,
    concurrency: usize,
    seconds: f64,
    progress: &mut dyn FnMut(u64),
) -> Result<(u64, u64, f64), String> {
    let ep = Endpoint::new(config(auth, local_natt.port(), false)).map_err(|e| e.to_string())?;
    let mut end = UdpEnd::bind(ep, local_ike, local_natt)?;
    // The NAT-T port the initiator floats to is its own config's.
    let natt_port = end.natt_addr.port();
    end.ep = Endpoint::new(config(auth, natt_port, false)).map_err(|e| e.to_string())?;
    let params = initiator_params(auth, creds, target_natt);
    let (mut in_flight, mut done, mut failures) = (0usize, 0u64, 0u64);
    let start = Instant::now();
    let budget = Duration::from_secs_f64(seconds);
    let mut last = Instant::now();
    let mut recent: VecDeque<Instant> = VecDeque::new();
    while start.elapsed() < budget {
        let now = Instant::now();
        while in_flight < concurrency {
            end.ep
                .initiate(now, end.ike_addr, target, params.clone())
                .map_err(|e| e.to_string())?;
            in_flight += 1;
            recent.push_back(now);
        }
        end.turn(Duration::from_millis(5));
        while let Some(e) = end.ep.poll_event() {
            match e {
                Event::ChildSaUp(_) => {
                    done += 1;
                    in_flight = in_flight.saturating_sub(1);
                }
                Event::Failed { .. } => {
                    failures += 1;
                    in_flight = in_flight.saturating_sub(1);
                }
                _ => {}
            }
        }
        if last.elapsed() >= Duration::from_millis(500) {
            progress(done);
            last = Instant::now();
        }
    }
    Ok((done, failures, start.elapsed().as_secs_f64()))
}

/// Our responder on its own thread, the load initiator on this one, over
/// UDP on 127.0.0.1.
pub fn loopback(
    auth: Auth,
    creds: &Creds,
    concurrency: usize,
    seconds: f64,
    progress: &mut dyn FnMut(u64),
) -> Result<IkeRow, String> {
    let lo = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    // Fixed NAT-T port: the endpoint's config names it before binding.
    let probe = UdpSocket::bind(lo(0)).map_err(|e| e.to_string())?;
    let r_natt = probe.local_addr().map_err(|e| e.to_string())?;
    drop(probe);
    let mut r = Endpoint::new(config(auth, r_natt.port(), false)).map_err(|e| e.to_string())?;
    r.authorize_peer(responder_entry(auth, creds));
    let mut rend = UdpEnd::bind(r, lo(0), r_natt)?;
    let r_ike = rend.ike_addr;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::Builder::new()
        .name("ike-responder".into())
        .spawn(move || {
            let c0 = thread_cpu();
            while !stop2.load(Ordering::Relaxed) {
                rend.turn(Duration::from_millis(5));
                while rend.ep.poll_event().is_some() {}
            }
            let c1 = thread_cpu();
            (
                c0.zip(c1).map(|(a, b)| b.saturating_sub(a)),
                rend.ep.counters().ike_sa_up,
            )
        })
        .map_err(|e| e.to_string())?;
    let probe = UdpSocket::bind(lo(0)).map_err(|e| e.to_string())?;
    let i_natt = probe.local_addr().map_err(|e| e.to_string())?;
    drop(probe);
    let r = load(
        auth,
        creds,
        lo(0),
        i_natt,
        r_ike,
        r_natt.port(),
        concurrency,
        seconds,
        progress,
    );
    stop.store(true, Ordering::Relaxed);
    let (cpu, r_up) = handle.join().map_err(|_| "responder thread panicked")?;
    let (done, failures, secs) = r?;
    Ok(IkeRow {
        mode: "loopback UDP".into(),
        auth,
        concurrency,
        established: done,
        seconds: secs,
        per_second: done as f64 / secs,
        // The responder also answered SAs still in flight at the end.
        responder_us_per_sa: cpu.map(|c| c.as_secs_f64() * 1e6 / r_up.max(1) as f64),
        initiator_us_per_sa: None,
        failures,
    })
}

#[derive(Serialize)]
pub struct IkeReport {
    pub machine: super::Machine,
    pub rows: Vec<IkeRow>,
    pub wire: Vec<WireBytes>,
}

/// What `bench ike` runs.
pub struct IkeBenchArgs {
    pub json: bool,
    pub seconds: f64,
    pub concurrency: usize,
    /// A remote responder (charon): only the load initiator runs.
    pub target: Option<SocketAddr>,
    /// The load initiator's IKE address with `target` (NAT-T: port 4500
    /// of the same address unless `local_natt`).
    pub local: Option<SocketAddr>,
    pub local_natt: Option<SocketAddr>,
    pub psk: Option<String>,
    /// With `target`: our P-256 private scalar (hex) and the responder's
    /// public key (hex 04|x|y) for the raw-keys run.
    pub key: Option<String>,
    pub peer_key: Option<String>,
    /// Only `psk` or `key`.
    pub auth: Option<String>,
}

pub fn run(a: IkeBenchArgs) -> Result<(), String> {
    let mut creds = Creds::new()?;
    if let Some(p) = &a.psk {
        creds.psk = Secret::new(hex::decode(p).map_err(|e| format!("--psk: {e}"))?);
    }
    let mut auths = vec![Auth::PskX25519, Auth::P256Ecp256];
    if let (Some(k), Some(q)) = (&a.key, &a.peer_key) {
        let d = hex::decode(k).map_err(|e| format!("--key: {e}"))?;
        let d: [u8; 32] = d.try_into().map_err(|_| "--key: 32 bytes")?;
        creds.i_key = Arc::new(P256SigningKey::from_private_scalar(&d).map_err(|e| e.to_string())?);
        let q = hex::decode(q).map_err(|e| format!("--peer-key: {e}"))?;
        creds.r_pub = Some(P256PublicKey::from_sec1_uncompressed(&q).map_err(|e| e.to_string())?);
    } else if a.target.is_some() {
        auths.retain(|x| *x == Auth::PskX25519);
    }
    match a.auth.as_deref() {
        None => {}
        Some("psk") => auths.retain(|x| *x == Auth::PskX25519),
        Some("key") => auths.retain(|x| *x == Auth::P256Ecp256),
        Some(other) => return Err(format!("--auth {other}: use psk or key")),
    }
    if auths.is_empty() {
        return Err("nothing to run (raw keys against --target need --key and --peer-key)".into());
    }
    let mut rows = Vec::new();
    let mut wire = Vec::new();
    let progress = |what: &str, n: u64| {
        eprint!("\r{what}: {n} IKE SAs established{:<20}", "");
        let _ = std::io::stderr().flush();
    };
    for auth in auths {
        if let Some(target) = a.target {
            let local = a.local.ok_or("--target needs --local")?;
            let natt = a
                .local_natt
                .unwrap_or_else(|| SocketAddr::new(local.ip(), 4500));
            let label = format!("{} against {target}", auth.name());
            let (done, failures, secs) = load(
                auth,
                &creds,
                local,
                natt,
                target,
                4500,
                a.concurrency,
                a.seconds,
                &mut |n| progress(&label, n),
            )?;
            rows.push(IkeRow {
                mode: format!("remote {target}"),
                auth,
                concurrency: a.concurrency,
                established: done,
                seconds: secs,
                per_second: done as f64 / secs,
                responder_us_per_sa: None,
                initiator_us_per_sa: None,
                failures,
            });
            continue;
        }
        eprint!("\r{}: in-process…{:<30}", auth.name(), "");
        let (row, bytes) = in_process(auth, &creds, false, a.seconds)?;
        rows.push(row);
        wire.push(bytes);
        let (row, bytes) = in_process(auth, &creds, true, a.seconds.min(1.0))?;
        rows.push(row);
        wire.push(bytes);
        let label = format!("{} loopback", auth.name());
        rows.push(loopback(
            auth,
            &creds,
            a.concurrency,
            a.seconds,
            &mut |n| progress(&label, n),
        )?);
    }
    eprintln!("\r{:<70}", "");
    let report = IkeReport {
        machine: super::machine(),
        rows,
        wire,
    };
    if a.json {
        return super::print_json(&report);
    }
    let m = &report.machine;
    println!(
        "machine: {} ({} cores usable), load {}",
        m.cpu, m.cores, m.load_average
    );
    println!("IKE SA + first Child SA per second, responder on one thread\n");
    println!(
        "{:<34} {:<18} {:>5} {:>8} {:>10} {:>12} {:>12} {:>6}",
        "mode", "auth", "conc", "SAs", "SAs/s", "resp µs/SA", "init µs/SA", "fail"
    );
    let us = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
    for r in &report.rows {
        println!(
            "{:<34} {:<18} {:>5} {:>8} {:>10.0} {:>12} {:>12} {:>6}",
            r.mode,
            r.auth.name(),
            r.concurrency,
            r.established,
            r.per_second,
            us(r.responder_us_per_sa),
            us(r.initiator_us_per_sa),
            r.failures
        );
    }
    for w in &report.wire {
        println!(
            "\nbytes on the wire, {}{} (UDP payloads): {} in total",
            w.auth.name(),
            if w.minimal {
                ", RFC 7815 minimal initiator"
            } else {
                ""
            },
            w.total
        );
        for msg in &w.messages {
            println!(
                "  {:<16} {}  {:>5} B",
                msg.exchange,
                if msg.from_initiator {
                    "I → R"
                } else {
                    "R → I"
                },
                msg.udp_payload
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_process_runs_establish_and_the_minimal_initiator_sends_fewer_bytes() {
        let creds = Creds::new().unwrap();
        for auth in [Auth::PskX25519, Auth::P256Ecp256] {
            let (row, full) = in_process(auth, &creds, false, 0.0).unwrap();
            assert_eq!((row.established, row.failures), (1, 0));
            let (_, min) = in_process(auth, &creds, true, 0.0).unwrap();
            let names: Vec<_> = full.messages.iter().map(|m| m.exchange.as_str()).collect();
            assert_eq!(
                names,
                ["IKE_SA_INIT", "IKE_SA_INIT", "IKE_AUTH", "IKE_AUTH"]
            );
            assert!(min.total < full.total, "{} < {}", min.total, full.total);
        }
    }

    #[test]
    fn the_load_initiator_establishes_over_loopback() {
        let creds = Creds::new().unwrap();
        let row = loopback(Auth::PskX25519, &creds, 4, 0.3, &mut |_| {}).unwrap();
        assert!(row.established > 0 && row.failures == 0, "{row:?}");
        assert!(row.responder_us_per_sa.is_some());
    }
}
