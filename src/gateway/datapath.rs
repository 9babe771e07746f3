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
//!
//! The same data path serves the transparent mode of `rs` and `client`
//! ([`Tokens`]): SA pairs come and go while it runs ([`Control::apply`]:
//! each thread takes its part from a channel, the inbound thread after each
//! receive and before it opens anything, the outbound thread after each
//! wake-up and before it reads the TUN device); the ESP-in-UDP socket is
//! shared with the ACE node (the datagrams the inbound half does not own go
//! to the node, [`Control::send_esp`] sends the node's); on an RS the scope
//! filter checks what the inbound half delivers, and its 4.03/4.05 answers
//! go to the outbound thread, which a wake socket gets out of its wait on
//! the TUN device.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ace_node::scope::Grants;
use ace_node::scope_filter::{FilterStats, ScopeFilter};
use ace_node::transparent::Change;
use ipsec_dp::spd::SaRef;
use ipsec_gw::{
    GwCounters, Inbound, InboundFilter, InboundPart, Outbound, OutboundPart, Output, SplitPair,
};
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

/// What the token-fed transparent mode (`rs`/`client` with `[tun]`) adds.
pub struct Tokens {
    /// The RS's scope filter; none on a client.
    pub filter: Option<ScopeFilter>,
    /// Where ESP-in-UDP the data path does not own goes: the ACE node.
    pub to_node: tokio::sync::mpsc::Sender<(SocketAddr, Vec<u8>)>,
}

/// Changes for the outbound thread.
enum OutControl {
    Install(Box<OutboundPart>),
    Remove(SaRef),
    /// A rekeyed Child SA takes over the pair's outbound direction.
    Rekey(Box<OutboundPart>),
    /// The filter's answer to a request that came on this pair.
    Answer(SaRef, Vec<u8>),
}

/// Changes for the inbound thread.
enum InControl {
    Install(Box<InboundPart>, Option<Grants>),
    Remove(SaRef),
    /// A rekeyed Child SA's inbound SA joins its pair.
    Rekey(Box<InboundPart>),
    /// One inbound SA of a pair goes (the old SA of a rekey).
    RemoveSpi(u32),
}

/// Changes pairs in the running data path, and sends the node's ESP.
#[derive(Clone)]
pub struct Control {
    out_tx: mpsc::Sender<OutControl>,
    in_tx: mpsc::Sender<InControl>,
    /// Wakes the outbound thread from its wait on the TUN device.
    wake: Arc<UnixDatagram>,
    udp: Option<Arc<UdpBatch>>,
}

impl Control {
    /// Passes a hand-over change on to both threads.
    pub fn apply(&self, change: Change) {
        let sent = match change {
            Change::Install { pair, grants } => {
                let SplitPair {
                    inbound, outbound, ..
                } = *pair;
                self.in_tx
                    .send(InControl::Install(Box::new(inbound), grants))
                    .is_ok()
                    && self.send_out(OutControl::Install(Box::new(outbound)))
            }
            Change::Remove(sa) => {
                self.in_tx.send(InControl::Remove(sa)).is_ok()
                    && self.send_out(OutControl::Remove(sa))
            }
        };
        if !sent {
            tracing::error!("data path gone: change not applied");
        }
    }

    /// Installs an SA pair (an IKEv2 Child SA) without grants.
    pub fn install(&self, pair: SplitPair) {
        self.apply(Change::Install {
            pair: Box::new(pair),
            grants: None,
        });
    }

    /// Removes a pair (its SAs and policies).
    pub fn remove(&self, sa: SaRef) {
        self.apply(Change::Remove(sa));
    }

    /// A rekeyed Child SA (RFC 7296 §2.8) joins the pair named by its
    /// [`SaRef`]: its inbound SA is added beside the old one, its outbound
    /// SA replaces the old one at once.
    pub fn rekey(&self, pair: SplitPair) {
        let SplitPair {
            inbound, outbound, ..
        } = pair;
        let sent = self.in_tx.send(InControl::Rekey(Box::new(inbound))).is_ok()
            && self.send_out(OutControl::Rekey(Box::new(outbound)));
        if !sent {
            tracing::error!("data path gone: rekey not applied");
        }
    }

    /// Removes one inbound SA of a pair that keeps another (the old SA of
    /// a rekey, once deleted).
    pub fn remove_spi(&self, spi: u32) {
        if self.in_tx.send(InControl::RemoveSpi(spi)).is_err() {
            tracing::error!("data path gone: SA removal not applied");
        }
    }

    fn send_out(&self, c: OutControl) -> bool {
        let ok = self.out_tx.send(c).is_ok();
        // A full wake socket already holds a wake-up.
        let _ = self.wake.send(&[1]);
        ok
    }

    /// Sends one ESP-in-UDP datagram of the node from the shared socket.
    pub fn send_esp(&self, to: SocketAddr, data: &[u8]) -> io::Result<()> {
        let udp = self
            .udp
            .as_ref()
            .ok_or_else(|| io::Error::other("no ESP-in-UDP socket"))?;
        udp.send_batch(&[Transmit {
            to,
            data,
            segment: None,
        }])
        .map(|_| ())
    }
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
    filter_stats: Mutex<Option<FilterStats>>,
    /// Packets the core produced that the OS refused (send / TUN write).
    send_errors: AtomicU64,
    tun_write_errors: AtomicU64,
}

/// The running data path.
pub struct DataPath {
    shared: Arc<Shared>,
    stopped: tokio::sync::mpsc::UnboundedReceiver<String>,
    control: Option<Control>,
}

/// Counters of both directions as last published (at most a second old).
#[derive(Debug)]
#[allow(dead_code)] // read through Debug in the stop log
pub struct Counters {
    core: GwCounters,
    send_errors: u64,
    tun_write_errors: u64,
    filter: Option<FilterStats>,
}

impl DataPath {
    pub fn counters(&self) -> Counters {
        let mut core = lock(&self.shared.out_counters).clone();
        core.merge(&lock(&self.shared.in_counters));
        Counters {
            core,
            send_errors: self.shared.send_errors.load(Ordering::Relaxed),
            tun_write_errors: self.shared.tun_write_errors.load(Ordering::Relaxed),
            filter: lock(&self.shared.filter_stats).clone(),
        }
    }

    /// The handle that changes pairs (started with [`Tokens`]).
    pub fn control(&self) -> Option<Control> {
        self.control.clone()
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
pub(crate) fn throttled(count: u64) -> bool {
    count <= 10 || count.is_power_of_two()
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Starts both threads; with `tokens`, the transparent mode of `rs` and
/// `client` (pairs change while it runs, the socket is shared with the node).
pub fn start(
    io: Io,
    outbound: Outbound,
    mut inbound: Inbound,
    tokens: Option<Tokens>,
) -> io::Result<DataPath> {
    let shared = Arc::new(Shared::default());
    let (tx, stopped) = tokio::sync::mpsc::unbounded_channel();
    let vnet = io.tun.vnet_hdr();
    let tun = Arc::new(io.tun);
    let udp = io.udp.map(Arc::new);
    let raw_esp = io.raw_esp.map(Arc::new);
    let raw_ah = io.raw_ah.map(Arc::new);

    let (out_ctl, in_ctl, control) = match tokens {
        None => (None, None, None),
        Some(t) => {
            inbound.pass_unowned(true);
            let (out_tx, out_rx) = mpsc::channel();
            let (in_tx, in_rx) = mpsc::channel();
            let (wake_rx, wake_tx) = UnixDatagram::pair()?;
            wake_rx.set_nonblocking(true)?;
            wake_tx.set_nonblocking(true)?;
            let control = Control {
                out_tx,
                in_tx,
                wake: Arc::new(wake_tx),
                udp: udp.clone(),
            };
            let in_ctl = InTokens {
                rx: in_rx,
                filter: t.filter,
                to_node: t.to_node,
                control: control.clone(),
                answers: Vec::new(),
            };
            (Some((out_rx, wake_rx)), Some(in_ctl), Some(control))
        }
    };

    let out_thread = TunToNet {
        tun: tun.clone(),
        udp: udp.clone(),
        gso: io.gso,
        raw_esp: raw_esp.clone(),
        raw_ah: raw_ah.clone(),
        core: outbound,
        shared: shared.clone(),
        failed_sends: 0,
        control: out_ctl,
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
        tokens: in_ctl,
    };
    std::thread::Builder::new()
        .name("gw-net-to-tun".into())
        .spawn(move || {
            let why = in_thread.run();
            let _ = tx.send(format!("network → TUN thread ended: {why}"));
        })?;
    Ok(DataPath {
        shared,
        stopped,
        control,
    })
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
    /// Transparent mode: pair changes and answers, and the wake socket.
    control: Option<(mpsc::Receiver<OutControl>, UnixDatagram)>,
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
        // Transparent mode: wait for the TUN device or a wake-up, then
        // take the changes, then read without blocking.
        let block_on_tun = self.control.is_none();
        loop {
            let mut reads = 0;
            if let Err(e) = self.take_controls(&mut batch) {
                return e;
            }
            let now = Instant::now();
            self.take_peer_updates();
            while reads < TUN_BATCH {
                let r = if reads == 0 && block_on_tun {
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

    /// Transparent mode: waits until the TUN device is readable or a
    /// change arrives (at most a second), then applies the changes and
    /// sends the filter's answers.
    fn take_controls(&mut self, batch: &mut TxBatch) -> Result<(), String> {
        let Some((_, wake)) = &self.control else {
            return Ok(());
        };
        let fds = [self.tun.as_raw_fd(), wake.as_raw_fd()];
        let mask = ipsec_io::poll::wait_readable(&fds, Some(PUBLISH_EVERY))
            .map_err(|e| format!("poll: {e}"))?;
        if mask & 2 != 0 {
            let mut b = [0u8; 64];
            while wake.recv(&mut b).is_ok() {}
        }
        loop {
            let Some(c) = self.control.as_ref().and_then(|(rx, _)| rx.try_recv().ok()) else {
                break;
            };
            match c {
                OutControl::Install(part) => self.core.install(*part),
                OutControl::Remove(sa) => {
                    self.core.remove(sa);
                }
                OutControl::Rekey(part) => self.core.rekey(*part),
                OutControl::Answer(sa, packet) => {
                    let now = Instant::now();
                    self.seal(batch, packet.len(), |core, out| {
                        core.answer(now, sa, &packet, out)
                    });
                }
            }
        }
        self.flush(batch);
        Ok(())
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
        self.seal(b, packet.len(), |core, out| core.from_tun(now, packet, out));
    }

    /// Lets `f` seal a packet of `len` octets into the arena (flushed
    /// first if it has no room) and queues what it produced.
    fn seal(
        &mut self,
        b: &mut TxBatch,
        len: usize,
        f: impl FnOnce(&mut Outbound, &mut [u8]) -> Output,
    ) {
        if b.used + len + ESP_ROOM > b.arena.len() || b.runs.len() == MAX_BATCH {
            self.flush(b);
        }
        let end = (b.used + MAX_PACKET + ESP_ROOM).min(b.arena.len());
        let start = b.used;
        match f(&mut self.core, &mut b.arena[start..end]) {
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
    /// Transparent mode.
    tokens: Option<InTokens>,
}

/// The inbound thread's part of the transparent mode.
struct InTokens {
    rx: mpsc::Receiver<InControl>,
    filter: Option<ScopeFilter>,
    to_node: tokio::sync::mpsc::Sender<(SocketAddr, Vec<u8>)>,
    /// To send the filter's answers (and wake the outbound thread).
    control: Control,
    /// The filter's answers of the current batch.
    answers: Vec<(SaRef, Vec<u8>)>,
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
                        // Changes queued before these datagrams were sent
                        // apply to them.
                        self.take_controls();
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
                if let Some(f) = self.tokens.as_ref().and_then(|t| t.filter.as_ref()) {
                    *lock(&self.shared.filter_stats) = Some(f.stats().clone());
                }
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
        if buf.is_empty() {
            // A zero-length datagram: the core counts it.
            self.open(now, m.src, dst, buf);
            return;
        }
        for dgram in buf.chunks_mut(m.stride.max(1)) {
            self.open(now, m.src, dst, dgram);
        }
        let mut updated = false;
        while let Some((sa_ref, peer)) = self.core.take_peer_update() {
            lock(&self.shared.peer_updates).insert(sa_ref, peer);
            updated = true;
        }
        if updated {
            self.shared.peer_updated.store(true, Ordering::Release);
        }
        // After the rebindings: an answer leaves for the peer's address.
        if let Some(t) = self.tokens.as_mut() {
            for (sa, packet) in t.answers.drain(..) {
                t.control.send_out(OutControl::Answer(sa, packet));
            }
        }
    }

    /// One ESP-in-UDP datagram: opened (through the filter, on an RS),
    /// then delivered, answered, or passed on to the node.
    fn open(&mut self, now: Instant, src: SocketAddr, dst: IpAddr, dgram: &mut [u8]) {
        let hdr = self.hdr_len();
        let out = &mut self.out[hdr..];
        let filter = self
            .tokens
            .as_mut()
            .and_then(|t| t.filter.as_mut())
            .map(|f| f as &mut dyn InboundFilter);
        match self
            .core
            .from_udp_filtered(now, src, dst, dgram, out, filter)
        {
            Output::NotOwned => self.pass_to_node(src, dgram),
            Output::Answer { sa_ref, len } => {
                if let Some(t) = self.tokens.as_mut() {
                    t.answers.push((sa_ref, self.out[hdr..hdr + len].to_vec()));
                }
            }
            o => self.deliver(o),
        }
    }

    /// A datagram the data path does not own: the node's.
    fn pass_to_node(&mut self, src: SocketAddr, dgram: &[u8]) {
        let Some(t) = self.tokens.as_ref() else {
            return; // not reached: only a shared socket passes datagrams on
        };
        use tokio::sync::mpsc::error::TrySendError;
        let reason = match t.to_node.try_send((src, dgram.to_vec())) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => "node-busy",
            Err(TrySendError::Closed(_)) => "node-gone",
        };
        let c = self.core.count_drop(reason);
        if throttled(c) {
            tracing::warn!(%src, reason, count = c, "ESP-in-UDP datagram for the node dropped");
        }
    }

    /// Applies the pair changes queued for this thread.
    fn take_controls(&mut self) {
        let Some(t) = self.tokens.as_mut() else {
            return;
        };
        while let Ok(c) = t.rx.try_recv() {
            match c {
                InControl::Install(part, grants) => {
                    let sa = part.sa_ref();
                    match self.core.install(*part) {
                        Ok(()) => {
                            if let (Some(f), Some(g)) = (t.filter.as_mut(), grants) {
                                f.bind(sa, g);
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "pair not installed"),
                    }
                }
                InControl::Remove(sa) => {
                    self.core.remove(sa);
                    if let Some(f) = t.filter.as_mut() {
                        f.unbind(sa);
                    }
                }
                InControl::Rekey(part) => {
                    if let Err(e) = self.core.rekey(*part) {
                        tracing::error!(error = %e, "rekeyed SA not installed");
                    }
                }
                InControl::RemoveSpi(spi) => {
                    self.core.remove_spi(spi);
                }
            }
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
