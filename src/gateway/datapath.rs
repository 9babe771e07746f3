//! The gateway's data path: two blocking threads, one per direction, each
//! owning its half of the core ([`Outbound`] / [`Inbound`]).
//!
//! * TUN → network: reads the TUN device (a 64 KiB TCP super-packet per read
//!   with TUN offloads, split by [`ipsec_io::offload`]), drains what else is
//!   queued without blocking, protects each packet into one contiguous
//!   arena, and sends the batch with one `sendmmsg`, runs of equal-sized ESP
//!   packets to one peer as one UDP GSO message each.
//! * network → TUN: `recvmmsg` on the ESP-in-UDP socket (with UDP GRO a
//!   buffer holds many ESP packets of one stride), or raw ESP/AH sockets;
//!   opens each packet and writes it to the TUN device.
//!
//! The only thing the directions share is the NAT rebindings the inbound
//! half reports and the counters published for the stop log. Packets the
//! threads drop themselves (a short TUN read, a super-packet that cannot be
//! split, no socket to send on) are counted with the core's drops.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipsec_dp::spd::SaRef;
use ipsec_gw::{GwCounters, Inbound, Outbound, Output};
use ipsec_io::offload::{for_each_segment, TcpCoalescer};
use ipsec_io::raw::RawIp;
use ipsec_io::tun::{Tun, VirtioNetHdr};
use ipsec_io::udp::{RecvMeta, Transmit, UdpBatch, MAX_BATCH, MAX_GSO_BYTES, MAX_GSO_SEGMENTS};

/// Socket buffers of the ESP-in-UDP socket (bursts of small packets).
pub const SOCKET_BUFFER: usize = 8 << 20;
/// The largest packet a TUN read or a UDP datagram holds.
const MAX_PACKET: usize = 65_536;
/// Room the core needs beyond the packet it protects (outer header, ESP
/// header, IV, padding, trailer, ICV).
const ESP_ROOM: usize = 256;
/// Sealed packets waiting for one `sendmmsg`.
const ARENA: usize = 512 * 1024;
/// TUN reads per batch.
const TUN_BATCH: usize = 64;
/// UDP receive buffers per `recvmmsg` (64 KiB each for GRO).
const RX_BUFFERS: usize = 16;
/// How often the threads publish their counters.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// What the data path runs on.
pub struct Io {
    pub tun: Tun,
    pub udp: Option<UdpBatch>,
    /// Send runs of equal-sized packets with UDP GSO.
    pub gso: bool,
    pub raw_esp: Option<RawIp>,
    pub raw_ah: Option<RawIp>,
    /// The ESP-in-UDP socket's address (the `dst` of what it receives);
    /// set with `udp`. The configuration refuses an unspecified address.
    pub local_udp_ip: Option<IpAddr>,
}

/// State the two threads share.
#[derive(Default)]
struct Shared {
    /// NAT rebindings from the inbound half, for the outbound half: the
    /// latest per pair, so it stays small while the TUN side is idle.
    peer_updates: Mutex<HashMap<SaRef, SocketAddr>>,
    peer_updated: AtomicBool,
    out_counters: Mutex<GwCounters>,
    in_counters: Mutex<GwCounters>,
    /// Packets the core produced that the OS refused (send / TUN write).
    send_errors: AtomicU64,
    tun_write_errors: AtomicU64,
}

/// The running data path.
pub struct DataPath {
    shared: Arc<Shared>,
    stopped: tokio::sync::mpsc::UnboundedReceiver<String>,
}

/// Counters of both directions as last published (at most a second old).
#[derive(Debug)]
#[allow(dead_code)] // read through Debug in the stop log
pub struct Counters {
    core: GwCounters,
    send_errors: u64,
    tun_write_errors: u64,
}

impl DataPath {
    pub fn counters(&self) -> Counters {
        let mut core = lock(&self.shared.out_counters).clone();
        core.merge(&lock(&self.shared.in_counters));
        Counters {
            core,
            send_errors: self.shared.send_errors.load(Ordering::Relaxed),
            tun_write_errors: self.shared.tun_write_errors.load(Ordering::Relaxed),
        }
    }

    /// Yields why a data-path thread ended (it does not on its own).
    pub fn stopped(&mut self) -> &mut tokio::sync::mpsc::UnboundedReceiver<String> {
        &mut self.stopped
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Logs the first ten of a kind, then every power of two.
fn throttled(count: u64) -> bool {
    count <= 10 || count.is_power_of_two()
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Starts both threads.
pub fn start(io: Io, outbound: Outbound, inbound: Inbound) -> io::Result<DataPath> {
    let shared = Arc::new(Shared::default());
    let (tx, stopped) = tokio::sync::mpsc::unbounded_channel();
    let vnet = io.tun.vnet_hdr();
    let tun = Arc::new(io.tun);
    let udp = io.udp.map(Arc::new);
    let raw_esp = io.raw_esp.map(Arc::new);
    let raw_ah = io.raw_ah.map(Arc::new);

    let out_thread = TunToNet {
        tun: tun.clone(),
        udp: udp.clone(),
        gso: io.gso,
        raw_esp: raw_esp.clone(),
        raw_ah: raw_ah.clone(),
        core: outbound,
        shared: shared.clone(),
        failed_sends: 0,
    };
    let done = tx.clone();
    std::thread::Builder::new()
        .name("gw-tun-to-net".into())
        .spawn(move || {
            let why = out_thread.run();
            let _ = done.send(format!("TUN → network thread ended: {why}"));
        })?;

    let in_thread = NetToTun {
        tun,
        udp,
        raw_esp,
        raw_ah,
        local_udp_ip: io.local_udp_ip,
        core: inbound,
        shared: shared.clone(),
        out: vec![0u8; MAX_PACKET + ESP_ROOM + VirtioNetHdr::LEN],
        gro: vnet.then(TcpCoalescer::new),
    };
    std::thread::Builder::new()
        .name("gw-net-to-tun".into())
        .spawn(move || {
            let why = in_thread.run();
            let _ = tx.send(format!("network → TUN thread ended: {why}"));
        })?;
    Ok(DataPath { shared, stopped })
}

/// A run of sealed ESP packets in the arena, to one peer: one message, a
/// GSO message when it holds more than one packet.
#[derive(Clone, Copy)]
struct Run {
    to: SocketAddr,
    start: usize,
    total: usize,
    segment: usize,
    count: usize,
    /// A shorter packet ended the run (GSO allows only the last one shorter).
    closed: bool,
}

struct TunToNet {
    tun: Arc<Tun>,
    udp: Option<Arc<UdpBatch>>,
    gso: bool,
    raw_esp: Option<Arc<RawIp>>,
    raw_ah: Option<Arc<RawIp>>,
    core: Outbound,
    shared: Arc<Shared>,
    /// `sendmmsg` messages refused (for the log's throttle).
    failed_sends: u64,
}

/// The TUN → network batch being built.
struct TxBatch {
    arena: Vec<u8>,
    used: usize,
    runs: Vec<Run>,
}

impl TunToNet {
    fn run(mut self) -> String {
        let vnet = self.tun.vnet_hdr();
        let hdr_len = if vnet { VirtioNetHdr::LEN } else { 0 };
        let mut rd = vec![0u8; MAX_PACKET + hdr_len];
        let mut scratch = vec![0u8; MAX_PACKET];
        let mut batch = TxBatch {
            arena: vec![0u8; ARENA],
            used: 0,
            runs: Vec::with_capacity(MAX_BATCH),
        };
        let mut read_errors = 0u64;
        let mut last_publish = Instant::now();
        loop {
            let mut reads = 0;
            let now = Instant::now();
            self.take_peer_updates();
            while reads < TUN_BATCH {
                let r = if reads == 0 {
                    self.tun.read(&mut rd)
                } else {
                    self.tun.read_nowait(&mut rd)
                };
                let n = match r {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        read_errors += 1;
                        if throttled(read_errors) {
                            tracing::warn!(error = %e, count = read_errors, "TUN read");
                        }
                        if ipsec_io::tun::is_detached(&e) {
                            return format!("TUN read: {e}");
                        }
                        std::thread::sleep(Duration::from_millis(1));
                        break;
                    }
                };
                reads += 1;
                if vnet {
                    let Some(hdr) = VirtioNetHdr::parse(&rd[..n]) else {
                        let c = self.core.count_drop("tun-short-read");
                        if throttled(c) {
                            tracing::warn!(
                                len = n,
                                count = c,
                                "TUN read shorter than its virtio-net header, dropped"
                            );
                        }
                        continue;
                    };
                    let pkt = &mut rd[VirtioNetHdr::LEN..n];
                    let r = for_each_segment(&hdr, pkt, &mut scratch, |seg| {
                        self.protect(now, seg, &mut batch)
                    });
                    if let Err(e) = r {
                        let c = self.core.count_drop("tun-offload");
                        if throttled(c) {
                            tracing::warn!(error = ?e, count = c, "TUN super-packet not split, dropped");
                        }
                    }
                } else {
                    self.protect(now, &rd[..n], &mut batch);
                }
            }
            self.flush(&mut batch);
            if now.duration_since(last_publish) >= PUBLISH_EVERY {
                *lock(&self.shared.out_counters) = self.core.counters().clone();
                last_publish = now;
            }
        }
    }

    fn take_peer_updates(&mut self) {
        if self.shared.peer_updated.swap(false, Ordering::Acquire) {
            for (sa_ref, peer) in lock(&self.shared.peer_updates).drain() {
                self.core.set_peer(sa_ref, peer);
            }
        }
    }

    /// Protects one IP packet into the arena and queues it.
    fn protect(&mut self, now: Instant, packet: &[u8], b: &mut TxBatch) {
        let need = packet.len() + ESP_ROOM;
        if b.used + need > b.arena.len() || b.runs.len() == MAX_BATCH {
            self.flush(b);
        }
        let end = (b.used + MAX_PACKET + ESP_ROOM).min(b.arena.len());
        let start = b.used;
        match self.core.from_tun(now, packet, &mut b.arena[start..end]) {
            Output::Udp { to, len } => {
                b.used += len;
                let gso = self.gso;
                if let Some(r) = b.runs.last_mut() {
                    if gso
                        && r.to == to
                        && !r.closed
                        && r.count < MAX_GSO_SEGMENTS
                        && r.start + r.total == start
                        && len <= r.segment
                        && r.total + len <= MAX_GSO_BYTES
                    {
                        r.total += len;
                        r.count += 1;
                        r.closed = len < r.segment;
                        return;
                    }
                }
                b.runs.push(Run {
                    to,
                    start,
                    total: len,
                    segment: len,
                    count: 1,
                    closed: false,
                });
            }
            Output::Raw { to, protocol, len } => {
                let sock = if protocol == ipsec_dp::consts::IPPROTO_AH {
                    self.raw_ah.as_ref()
                } else {
                    self.raw_esp.as_ref()
                };
                match sock {
                    Some(s) => {
                        if let Err(e) = s.send(&b.arena[start..start + len], to) {
                            self.send_error(&e);
                        }
                    }
                    None => {
                        let c = self.core.count_drop("no-raw-socket");
                        if throttled(c) {
                            tracing::warn!(
                                protocol,
                                count = c,
                                "no raw socket for the protocol, dropped"
                            );
                        }
                    }
                }
            }
            // The outbound half only sends; a drop is counted by the core.
            Output::Tun { .. } | Output::Answer { .. } | Output::NotOwned | Output::Dropped(_) => {}
        }
    }

    fn send_error(&self, e: &io::Error) {
        let n = self.shared.send_errors.fetch_add(1, Ordering::Relaxed) + 1;
        if throttled(n) {
            tracing::warn!(error = %e, count = n, "send failed");
        }
    }

    /// Sends the queued runs with as few `sendmmsg` calls as the kernel allows.
    fn flush(&mut self, b: &mut TxBatch) {
        let Some(udp) = self.udp.clone() else {
            for r in b.runs.drain(..) {
                for _ in 0..r.count {
                    let c = self.core.count_drop("no-udp-socket");
                    if throttled(c) {
                        tracing::warn!(count = c, "no ESP-in-UDP socket, dropped");
                    }
                }
            }
            b.used = 0;
            return;
        };
        let n = b.runs.len();
        let mut list = [Transmit {
            to: SocketAddr::from(([0, 0, 0, 0], 0)),
            data: &[],
            segment: None,
        }; MAX_BATCH];
        for (i, r) in b.runs.iter().enumerate() {
            list[i] = Transmit {
                to: r.to,
                data: &b.arena[r.start..r.start + r.total],
                segment: (r.count > 1).then_some(r.segment as u16),
            };
        }
        let mut i = 0;
        while i < n {
            match udp.send_batch(&list[i..n]) {
                Ok(k) => i += k.max(1),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if list[i].segment.is_some() && ipsec_io::udp::gso_refused(&e) => {
                    // No GSO on this path: send the run's packets one by one
                    // from now on.
                    tracing::info!(error = %e, "UDP GSO refused, sending packets one by one");
                    self.gso = false;
                    let r = b.runs[i];
                    let data = &b.arena[r.start..r.start + r.total];
                    for p in data.chunks(r.segment) {
                        let t = [Transmit {
                            to: r.to,
                            data: p,
                            segment: None,
                        }];
                        if let Err(e) = udp.send_batch(&t) {
                            self.send_error(&e);
                        }
                    }
                    i += 1;
                }
                Err(e) => {
                    // The message at `i` failed: count its packets, go on.
                    let count = b.runs[i].count as u64;
                    self.shared.send_errors.fetch_add(count, Ordering::Relaxed);
                    self.failed_sends += 1;
                    if throttled(self.failed_sends) {
                        tracing::warn!(error = %e, packets = count, count = self.failed_sends, "send failed");
                    }
                    i += 1;
                }
            }
        }
        b.runs.clear();
        b.used = 0;
    }
}

struct NetToTun {
    tun: Arc<Tun>,
    udp: Option<Arc<UdpBatch>>,
    raw_esp: Option<Arc<RawIp>>,
    raw_ah: Option<Arc<RawIp>>,
    local_udp_ip: Option<IpAddr>,
    core: Inbound,
    shared: Arc<Shared>,
    /// The opened packet, after room for the TUN's virtio-net header.
    out: Vec<u8>,
    /// With TUN offloads: TCP segments joined before the TUN write.
    gro: Option<TcpCoalescer>,
}

impl NetToTun {
    fn run(mut self) -> String {
        let mut bufs = vec![0u8; RX_BUFFERS * MAX_PACKET];
        let mut meta = [RecvMeta::default(); RX_BUFFERS];
        let mut raw_buf = vec![0u8; MAX_PACKET];
        let mut errors = 0u64;
        let mut last_publish = Instant::now();
        let mut fds = Vec::new();
        if let Some(s) = &self.udp {
            fds.push(s.as_raw_fd());
        }
        for s in [&self.raw_esp, &self.raw_ah].into_iter().flatten() {
            fds.push(s.as_raw_fd());
        }
        if fds.is_empty() {
            return "no network socket".into();
        }
        // With one socket, block in it; with several, poll them.
        let block = fds.len() == 1;
        loop {
            let mut got_any = false;
            if let Some(udp) = self.udp.clone() {
                let mut slices: Vec<&mut [u8]> = bufs.chunks_mut(MAX_PACKET).collect();
                match udp.recv_batch(&mut slices, &mut meta, !block) {
                    Ok(n) => {
                        got_any = n > 0;
                        let now = Instant::now();
                        for (buf, m) in slices.iter_mut().zip(&meta).take(n) {
                            let len = m.len.min(buf.len());
                            self.open_datagrams(now, &mut buf[..len], m);
                        }
                        self.flush();
                    }
                    Err(e) if is_transient(&e) => {}
                    Err(e) => {
                        errors += 1;
                        if throttled(errors) {
                            tracing::warn!(error = %e, count = errors, "UDP receive");
                        }
                    }
                }
            }
            for raw in [self.raw_esp.clone(), self.raw_ah.clone()]
                .into_iter()
                .flatten()
            {
                for _ in 0..MAX_BATCH {
                    match raw.recv(&mut raw_buf, !block) {
                        Ok((n, _)) => {
                            got_any = true;
                            let hdr = self.hdr_len();
                            let o = self.core.from_raw(
                                Instant::now(),
                                &mut raw_buf[..n],
                                &mut self.out[hdr..],
                            );
                            self.deliver(o);
                        }
                        Err(e) if is_transient(&e) => break,
                        Err(e) => {
                            errors += 1;
                            if throttled(errors) {
                                tracing::warn!(error = %e, count = errors, "raw receive");
                            }
                            break;
                        }
                    }
                    if block {
                        break;
                    }
                }
                self.flush();
            }
            let now = Instant::now();
            if now.duration_since(last_publish) >= PUBLISH_EVERY {
                *lock(&self.shared.in_counters) = self.core.counters().clone();
                last_publish = now;
            }
            if !block && !got_any {
                if let Err(e) = ipsec_io::poll::wait_readable(&fds, Some(PUBLISH_EVERY)) {
                    return format!("poll: {e}");
                }
            }
        }
    }

    fn hdr_len(&self) -> usize {
        if self.tun.vnet_hdr() {
            VirtioNetHdr::LEN
        } else {
            0
        }
    }

    /// One receive buffer: one datagram, or with GRO several of `m.stride`.
    fn open_datagrams(&mut self, now: Instant, buf: &mut [u8], m: &RecvMeta) {
        let Some(dst) = self.local_udp_ip else {
            // Not reached: the socket comes with its address.
            let c = self.core.count_drop("no-local-address");
            if throttled(c) {
                tracing::warn!(
                    count = c,
                    "ESP-in-UDP socket without a local address, dropped"
                );
            }
            return;
        };
        let hdr = self.hdr_len();
        if buf.is_empty() {
            // A zero-length datagram: the core counts it.
            let o = self
                .core
                .from_udp(now, m.src, dst, buf, &mut self.out[hdr..]);
            self.deliver(o);
            return;
        }
        for dgram in buf.chunks_mut(m.stride.max(1)) {
            let o = self
                .core
                .from_udp(now, m.src, dst, dgram, &mut self.out[hdr..]);
            self.deliver(o);
        }
        let mut updated = false;
        while let Some((sa_ref, peer)) = self.core.take_peer_update() {
            lock(&self.shared.peer_updates).insert(sa_ref, peer);
            updated = true;
        }
        if updated {
            self.shared.peer_updated.store(true, Ordering::Release);
        }
    }

    /// Writes an opened packet to the TUN device, or joins it to the
    /// pending super-packet (with TUN offloads).
    fn deliver(&mut self, o: Output) {
        let Output::Tun { len } = o else {
            return; // dropped: counted by the core
        };
        let hdr = self.hdr_len();
        if let Some(gro) = self.gro.as_mut() {
            let pkt = &self.out[hdr..hdr + len];
            if gro.push(pkt) {
                return;
            }
            flush_gro(gro, &self.tun, &self.shared);
            if gro.push(pkt) {
                return;
            }
            VirtioNetHdr::default().emit(&mut self.out[..hdr]);
        }
        if write_tun(&self.tun, &self.shared, &self.out[..hdr + len]).is_err() {
            self.shared.tun_write_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes the pending super-packet, if any.
    fn flush(&mut self) {
        if let Some(gro) = self.gro.as_mut() {
            flush_gro(gro, &self.tun, &self.shared);
        }
    }
}

/// Writes the coalescer's pending packet; a kernel that refuses UDP GSO
/// packets on TUN writes gets datagrams one by one from then on.
fn flush_gro(gro: &mut TcpCoalescer, tun: &Tun, shared: &Shared) {
    let Some(sup) = gro.finish() else {
        return;
    };
    if let Err(e) = write_tun(tun, shared, sup) {
        shared
            .tun_write_errors
            .fetch_add(gro.finished_count() as u64, Ordering::Relaxed);
        if gro.finished_udp_gso() && e.kind() == io::ErrorKind::InvalidInput {
            tracing::info!(error = %e, "TUN refuses UDP GSO packets, writing datagrams one by one");
            gro.stop_joining_udp();
        }
    }
}

fn write_tun(tun: &Tun, shared: &Shared, packet: &[u8]) -> io::Result<()> {
    tun.write(packet).map(|_| ()).inspect_err(|e| {
        let n = shared.tun_write_errors.load(Ordering::Relaxed) + 1;
        if throttled(n) {
            tracing::warn!(error = %e, count = n, "TUN write");
        }
    })
}
