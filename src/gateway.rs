//! `ace-ipsec gateway`: the transparent mode. Unmodified programs' packets
//! are routed into a TUN device; the `ipsec-gw` core protects them by SPD,
//! and the driver sends them as ESP-in-UDP (RFC 3948) or raw ESP/AH. The SA
//! pairs come from the configuration (`[[pair]]`) or from IKEv2 (`[ike]`,
//! see [`ike`]: the data path shares its ESP-in-UDP socket with the IKE
//! driver, which installs, rekeys and removes pairs while it runs).
//!
//! Limits the configuration enforces:
//!
//! * Raw ESP/AH is IPv4 only. An IPv6 raw socket hands over only the
//!   payload after the IPv6 header and builds the header itself on send,
//!   while the core reads and writes whole IP packets; so `raw_local`, and
//!   a raw pair's peer, tunnel endpoints and (transport mode) selectors,
//!   must be IPv4. ESP-in-UDP works over IPv6.
//! * `udp_listen` names a specific address, not `0.0.0.0` / `::`: it is the
//!   destination address of every datagram the socket receives (transport
//!   mode rebuilds the packet with it, RFC 3948 §3.1.2), and the socket
//!   does not ask the kernel for each datagram's own (`IP_PKTINFO`).
//! * ESP-in-UDP goes to the pair's `peer` (address and port), which may
//!   differ from the protected packet's destination or `tunnel_remote`
//!   (a NAT in between); it follows the peer's NAT rebindings.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use ipsec_dp::mode::EspEncap;
use ipsec_dp::spd::{AddrSelector, PortRange, Selector};
use ipsec_dp::suite::EspSuite;
use ipsec_gw::{Gateway, Mode, PairConfig, Protocol, Role, Zeroizing};
use ipsec_io::raw::RawIp;
use ipsec_io::tun::Tun;
use ipsec_io::udp::UdpBatch;
use serde::Deserialize;

use crate::config::{alg_id, parse, ConfigError};

pub mod datapath;
pub mod ike;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayToml {
    /// TUN device to create or attach (addresses and routes are set by the system).
    pub tun: String,
    /// ESP-in-UDP socket (RFC 3948), needed by pairs with `encap = "udp"`.
    /// A specific address, not `0.0.0.0` or `::` (it is the destination of
    /// what the socket receives).
    pub udp_listen: Option<SocketAddr>,
    /// Local IPv4 address for raw ESP/AH sockets, needed by raw pairs
    /// (root). IPv6 is refused: raw ESP/AH is IPv4 only.
    pub raw_local: Option<IpAddr>,
    /// TUN offloads (`IFF_VNET_HDR`, TSO): the kernel hands over 64 KiB TCP
    /// super-packets that the gateway segments itself. Default true.
    pub tun_offload: Option<bool>,
    /// Raise the TUN device's transmit queue to at least this many packets
    /// (the kernel's 500 overflows when a burst meets a descheduled
    /// gateway thread). Default 5000; 0 leaves it alone.
    pub tun_txqueuelen: Option<u32>,
    /// UDP GSO (`UDP_SEGMENT`) when sending ESP-in-UDP. Default true.
    pub udp_gso: Option<bool>,
    /// UDP GRO (`UDP_GRO`) when receiving ESP-in-UDP. Default true.
    pub udp_gro: Option<bool>,
    #[serde(default)]
    pub pair: Vec<PairToml>,
    /// IKEv2 sets pairs up with one peer (see [`ike`]); needs `udp_listen`
    /// (the NAT-T port, shared with ESP-in-UDP).
    pub ike: Option<ike::IkeToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairToml {
    pub name: String,
    /// "client" (SA-C is outbound) or "server".
    pub role: String,
    pub spi_sa_c: u32,
    pub spi_sa_rs: u32,
    /// Hex, 32 bytes (the `seed` of a Direct Provisioning token).
    pub seed: String,
    /// "esp" or "ah".
    pub protocol: String,
    /// ESP transform, COSE name (esp only).
    pub alg: Option<String>,
    /// "udp" (default) or "raw" (esp only; ah is always raw).
    pub encap: Option<String>,
    /// "transport" or "tunnel".
    pub mode: String,
    pub tunnel_local: Option<IpAddr>,
    pub tunnel_remote: Option<IpAddr>,
    /// The peer on the wire (port: its ESP-in-UDP port). ESP-in-UDP is
    /// sent here, also when it differs from the traffic's destination or
    /// `tunnel_remote`. IPv4 for raw pairs.
    pub peer: SocketAddr,
    /// Hard lifetime in seconds.
    pub lifetime: Option<u64>,
    /// Hard lifetime in payload bytes (ESP only).
    pub lifetime_bytes: Option<u64>,
    /// Hard lifetime in packets (ESP only).
    pub lifetime_packets: Option<u64>,
    /// 64-bit extended sequence numbers, RFC 4304 (ESP only; both ends must agree).
    #[serde(default)]
    pub esn: bool,
    /// Anti-replay window in packets, 32–65536 (default 64).
    pub replay_window: Option<u32>,
    #[serde(default)]
    pub selector: Vec<SelectorToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectorToml {
    /// Prefix of this side, e.g. "192.168.77.1/32".
    pub local: String,
    pub remote: String,
    /// "udp", "tcp", "icmp", "any" or a number.
    #[serde(default)]
    pub protocol: Option<String>,
    /// "5683", "1000-2000" or "any".
    #[serde(default)]
    pub local_ports: Option<String>,
    #[serde(default)]
    pub remote_ports: Option<String>,
}

fn err(file: &Path, key: impl Into<String>, msg: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        key: key.into(),
        msg: msg.into(),
    }
}

fn prefix(file: &Path, key: &str, s: &str) -> Result<AddrSelector, ConfigError> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a
        .parse()
        .map_err(|e| err(file, key, format!("{s:?}: {e}")))?;
    let len = match len {
        Some(l) => l
            .parse::<u8>()
            .map_err(|e| err(file, key, format!("{s:?}: {e}")))?,
        None => {
            if addr.is_ipv4() {
                32
            } else {
                128
            }
        }
    };
    AddrSelector::prefix(addr, len).map_err(|e| err(file, key, e.to_string()))
}

fn ports(file: &Path, key: &str, s: Option<&str>) -> Result<PortRange, ConfigError> {
    match s {
        None | Some("any") => Ok(PortRange::ANY),
        Some(p) => {
            let (lo, hi) = p.split_once('-').unwrap_or((p, p));
            let lo: u16 = lo
                .trim()
                .parse()
                .map_err(|e| err(file, key, format!("{p:?}: {e}")))?;
            let hi: u16 = hi
                .trim()
                .parse()
                .map_err(|e| err(file, key, format!("{p:?}: {e}")))?;
            if lo > hi {
                return Err(err(file, key, format!("{p:?}: empty range")));
            }
            Ok(PortRange { lo, hi })
        }
    }
}

/// Whether a selector prefix ("addr/len") is IPv6 (unparsable: not; the
/// selector parser reports it).
fn is_v6_prefix(s: &str) -> bool {
    let a = s.split_once('/').map_or(s, |(a, _)| a);
    a.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6())
}

impl GatewayToml {
    /// The socket addresses: refuses what the data path cannot serve.
    fn check_sockets(&self, file: &Path) -> Result<(), ConfigError> {
        if let Some(a) = self.udp_listen {
            if a.ip().is_unspecified() {
                return Err(err(
                    file,
                    "udp_listen",
                    format!(
                        "{a}: name the local address peers send to, not a wildcard \
                         (it is the destination of the packets transport mode rebuilds)"
                    ),
                ));
            }
        }
        if let Some(a) = self.raw_local {
            if a.is_ipv6() {
                return Err(err(
                    file,
                    "raw_local",
                    format!(
                        "{a}: raw ESP/AH is IPv4 only (an IPv6 raw socket does not \
                         carry the IP header the IPsec core reads and writes); \
                         use ESP-in-UDP over IPv6"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Validates into the core's pair configurations (and the socket
    /// addresses they will use).
    pub fn pairs(&self, file: &Path) -> Result<Vec<PairConfig>, ConfigError> {
        self.check_sockets(file)?;
        let mut out = Vec::new();
        for (i, p) in self.pair.iter().enumerate() {
            let k = |f: &str| format!("pair[{i}].{f}");
            let role = match p.role.as_str() {
                "client" => Role::Client,
                "server" => Role::Server,
                other => {
                    return Err(err(
                        file,
                        k("role"),
                        format!("{other:?}: use client or server"),
                    ))
                }
            };
            for (f, v) in [("spi_sa_c", p.spi_sa_c), ("spi_sa_rs", p.spi_sa_rs)] {
                if v < 256 {
                    return Err(err(
                        file,
                        k(f),
                        format!("SPI {v} is reserved (RFC 4303 §2.1: 0–255)"),
                    ));
                }
            }
            let seed = Zeroizing::new(
                hex::decode(&p.seed).map_err(|e| err(file, k("seed"), e.to_string()))?,
            );
            if seed.len() != 32 {
                return Err(err(
                    file,
                    k("seed"),
                    format!("expected 64 hex digits (32 bytes), got {}", p.seed.len()),
                ));
            }
            let protocol = match p.protocol.as_str() {
                "esp" => {
                    let alg = p
                        .alg
                        .as_deref()
                        .ok_or_else(|| err(file, k("alg"), "ESP needs an alg"))?;
                    let id = alg_id(file, &k("alg"), alg)?;
                    let suite = EspSuite::from_cose_alg(id)
                        .ok_or_else(|| err(file, k("alg"), "not an ESP transform"))?;
                    let encap = match p.encap.as_deref().unwrap_or("udp") {
                        "udp" => EspEncap::Udp,
                        "raw" => EspEncap::RawIp,
                        other => {
                            return Err(err(file, k("encap"), format!("{other:?}: use udp or raw")))
                        }
                    };
                    Protocol::Esp { suite, encap }
                }
                "ah" => {
                    if p.alg.is_some() || p.encap.as_deref().is_some_and(|e| e != "raw") {
                        return Err(err(
                            file,
                            k("protocol"),
                            "AH is HMAC-SHA-256-128 over raw IP: no alg, no udp encap",
                        ));
                    }
                    Protocol::Ah
                }
                other => {
                    return Err(err(
                        file,
                        k("protocol"),
                        format!("{other:?}: use esp or ah"),
                    ))
                }
            };
            let mode = match (p.mode.as_str(), p.tunnel_local, p.tunnel_remote) {
                ("transport", None, None) => Mode::Transport,
                ("tunnel", Some(local), Some(remote)) => Mode::Tunnel { local, remote },
                ("tunnel", _, _) => {
                    return Err(err(
                        file,
                        k("mode"),
                        "tunnel mode needs tunnel_local and tunnel_remote",
                    ))
                }
                ("transport", _, _) => {
                    return Err(err(
                        file,
                        k("mode"),
                        "tunnel_local/tunnel_remote are for tunnel mode",
                    ))
                }
                (other, _, _) => {
                    return Err(err(
                        file,
                        k("mode"),
                        format!("{other:?}: use transport or tunnel"),
                    ))
                }
            };
            let raw = !matches!(
                protocol,
                Protocol::Esp {
                    encap: EspEncap::Udp,
                    ..
                }
            );
            if raw {
                let v6_tunnel = match mode {
                    Mode::Tunnel { local, remote } => local.is_ipv6() || remote.is_ipv6(),
                    Mode::Transport => false,
                };
                let v6_traffic = matches!(mode, Mode::Transport)
                    && p.selector
                        .iter()
                        .any(|s| is_v6_prefix(&s.local) || is_v6_prefix(&s.remote));
                let what = if p.peer.is_ipv6() {
                    Some(("peer", "an IPv6 peer"))
                } else if v6_tunnel {
                    Some(("mode", "IPv6 tunnel endpoints"))
                } else if v6_traffic {
                    Some(("selector", "IPv6 selectors in transport mode"))
                } else {
                    None
                };
                if let Some((f, what)) = what {
                    return Err(err(
                        file,
                        k(f),
                        format!(
                            "raw ESP/AH is IPv4 only ({what}): use ESP-in-UDP \
                             (protocol = \"esp\", encap = \"udp\")"
                        ),
                    ));
                }
            }
            if p.selector.is_empty() {
                return Err(err(
                    file,
                    k("selector"),
                    "a pair protects nothing without a selector",
                ));
            }
            let mut selectors = Vec::new();
            for (j, s) in p.selector.iter().enumerate() {
                let sk = |f: &str| format!("pair[{i}].selector[{j}].{f}");
                let mut sel = Selector::between(
                    prefix(file, &sk("local"), &s.local)?,
                    prefix(file, &sk("remote"), &s.remote)?,
                );
                match s.protocol.as_deref() {
                    None | Some("any") => {}
                    Some("udp") => sel = sel.with_protocol(17),
                    Some("tcp") => sel = sel.with_protocol(6),
                    Some("icmp") => sel = sel.with_protocol(1),
                    Some(n) => {
                        let v: u8 = n.parse().map_err(|_| {
                            err(
                                file,
                                sk("protocol"),
                                format!("{n:?}: udp, tcp, icmp, any or 0–255"),
                            )
                        })?;
                        sel = sel.with_protocol(v);
                    }
                }
                sel = sel
                    .with_local_ports(ports(file, &sk("local_ports"), s.local_ports.as_deref())?)
                    .with_remote_ports(ports(
                        file,
                        &sk("remote_ports"),
                        s.remote_ports.as_deref(),
                    )?);
                selectors.push(sel);
            }
            out.push(PairConfig {
                name: p.name.clone(),
                role,
                spi_sa_c: p.spi_sa_c,
                spi_sa_rs: p.spi_sa_rs,
                seed,
                protocol,
                mode,
                peer: p.peer,
                options: {
                    let window = p.replay_window.unwrap_or(64);
                    if !(32..=65_536).contains(&window) {
                        return Err(err(file, k("replay_window"), format!("{window}: use 32 to 65536 packets")));
                    }
                    if matches!(protocol, Protocol::Ah)
                        && (p.esn || p.lifetime_bytes.is_some() || p.lifetime_packets.is_some())
                    {
                        return Err(err(file, k("protocol"), "AH takes `lifetime` and `replay_window`, not esn or byte/packet lifetimes"));
                    }
                    ipsec_gw::SaOptions {
                        esn: p.esn,
                        replay_window: window,
                        lifetime: ipsec_gw::SaLifetime {
                            hard_time: p.lifetime.map(Duration::from_secs),
                            hard_bytes: p.lifetime_bytes,
                            hard_packets: p.lifetime_packets,
                            ..ipsec_gw::SaLifetime::default()
                        },
                    }
                },
                selectors,
            });
        }
        Ok(out)
    }
}

/// Creates or attaches the TUN device: with offloads (`IFF_VNET_HDR`, TSO)
/// if asked and available, its transmit queue raised to `txqueuelen`
/// packets (0: left alone).
pub fn open_tun(name: &str, offload: bool, txqueuelen: u32) -> Result<Tun, String> {
    let tun = if offload {
        Tun::open_offload(name).or_else(|e| {
            tracing::info!(error = %e, "TUN offloads unavailable, plain TUN");
            Tun::open(name)
        })
    } else {
        Tun::open(name)
    }
    .map_err(|e| format!("TUN {name}: {e}"))?;
    if txqueuelen > 0 {
        if let Err(e) = tun.raise_txqueuelen(txqueuelen) {
            tracing::warn!(error = %e, "TUN txqueuelen not raised");
        }
    }
    Ok(tun)
}

/// Binds the data path's ESP-in-UDP socket (large buffers, UDP GRO if
/// asked and available).
pub fn open_udp(addr: SocketAddr, gro: bool) -> Result<UdpBatch, String> {
    let mut s = UdpBatch::bind(addr).map_err(|e| format!("{addr}: {e}"))?;
    s.set_buffers(datapath::SOCKET_BUFFER);
    if gro && !s.enable_gro() {
        tracing::info!("UDP GRO unavailable");
    }
    Ok(s)
}

/// Loads the configuration, opens the TUN device and sockets, and runs the
/// data path (one thread per direction, see [`datapath`]) until Ctrl-C.
pub async fn run(file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    let cfg: GatewayToml = parse(file, &text).map_err(|e| e.to_string())?;
    let pairs = cfg.pairs(file).map_err(|e| e.to_string())?;
    let ike = match (&cfg.ike, cfg.udp_listen) {
        (Some(t), Some(natt)) => Some((t.settings(file, natt).map_err(|e| e.to_string())?, natt)),
        (Some(_), None) => {
            return Err(format!(
                "{}: udp_listen: needed by [ike] (the NAT-T port)",
                file.display()
            ))
        }
        (None, _) => None,
    };
    let needs_udp = ike.is_some()
        || pairs.iter().any(|p| {
            matches!(
                p.protocol,
                Protocol::Esp {
                    encap: EspEncap::Udp,
                    ..
                }
            )
        });
    let needs_esp_raw = pairs.iter().any(|p| {
        matches!(
            p.protocol,
            Protocol::Esp {
                encap: EspEncap::RawIp,
                ..
            }
        )
    });
    let needs_ah = pairs.iter().any(|p| matches!(p.protocol, Protocol::Ah));
    let now = Instant::now();
    let mut gw = Gateway::new();
    for p in pairs {
        gw.add_pair(now, p).map_err(|e| e.to_string())?;
    }
    let tun = open_tun(
        &cfg.tun,
        cfg.tun_offload.unwrap_or(true),
        cfg.tun_txqueuelen.unwrap_or(5000),
    )?;
    let udp = match (needs_udp, cfg.udp_listen) {
        (true, Some(a)) => {
            Some(open_udp(a, cfg.udp_gro.unwrap_or(true)).map_err(|e| format!("udp_listen {e}"))?)
        }
        (true, None) => {
            return Err(format!(
                "{}: udp_listen: needed by a pair with encap = \"udp\"",
                file.display()
            ))
        }
        (false, _) => None,
    };
    let gso = cfg.udp_gso.unwrap_or(true) && udp.as_ref().is_some_and(|s| s.gso_supported());
    let raw_local = cfg.raw_local;
    let open_raw = |proto: u8| -> Result<RawIp, String> {
        let local = raw_local
            .ok_or_else(|| format!("{}: raw_local: needed by raw ESP/AH pairs", file.display()))?;
        RawIp::open(proto, local).map_err(|e| format!("raw socket for protocol {proto}: {e}"))
    };
    let raw_esp = if needs_esp_raw {
        Some(open_raw(50)?)
    } else {
        None
    };
    let raw_ah = if needs_ah { Some(open_raw(51)?) } else { None };
    tracing::info!(
        tun = %tun.name(),
        tun_offload = tun.vnet_hdr(),
        udp = ?cfg.udp_listen,
        gso,
        raw = ?raw_local,
        "gateway running"
    );
    let io = datapath::Io {
        tun,
        udp,
        gso,
        raw_esp,
        raw_ah,
        local_udp_ip: cfg.udp_listen.map(|a| a.ip()),
    };
    let (outbound, inbound) = gw.split();
    let (to_ike, from_dp) = tokio::sync::mpsc::channel(1024);
    let tokens = ike.is_some().then_some(datapath::Tokens {
        filter: None,
        to_node: to_ike,
    });
    let mut dp =
        datapath::start(io, outbound, inbound, tokens).map_err(|e| format!("data path: {e}"))?;
    let ike_task = match (ike, dp.control()) {
        (Some((settings, natt)), Some(control)) => {
            let driver = ike::IkeDriver::new(settings, natt, control, from_dp)?;
            Some(tokio::spawn(driver.run()))
        }
        _ => None,
    };
    let ike_ended = async {
        match ike_task {
            Some(t) => t.await.unwrap_or_else(|e| e.to_string()),
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        why = ike_ended => {
            tracing::error!(counters = ?dp.counters(), "IKE driver ended: {why}");
            Err(why)
        }
        _ = tokio::signal::ctrl_c() => {
            tracing::info!(counters = ?dp.counters(), "gateway stopping");
            Ok(())
        }
        why = dp.stopped().recv() => {
            let why = why.unwrap_or_else(|| "data path stopped".into());
            tracing::error!(counters = ?dp.counters(), "{why}");
            Err(why)
        }
    }
}
