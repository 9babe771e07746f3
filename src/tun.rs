//! The `[tun]` option of `ace-ipsec rs` and `ace-ipsec client`: SA pairs
//! set up by access tokens protect an unmodified CoAP program through a TUN
//! device (issue #3, item 5).
//!
//! One ESP-in-UDP socket per host (`esp_listen`), owned by the data path
//! (`gateway::datapath`, the same one `ace-ipsec gateway` runs): the data
//! path keeps the ESP of the SPIs it owns and passes every other datagram
//! to the ACE node, which sends through the same socket. The profile's
//! exchange runs in the node as without `[tun]`; once the RS has queued
//! its 2.01 (EDHOC: 2.04) over the new pair, and once the client has
//! received it, the pair moves from the node into the data path
//! (`ace_node::transparent`). On the RS the scope filter
//! (`ace_node::scope_filter`) checks every request against the token bound
//! to the pair it came on.
//!
//! Routing is the system's, as for `gateway`: the client host routes the
//! protected server's address and port into the TUN device, the RS host
//! routes the server's replies (source port) into it and keeps plain
//! traffic to the server's port from reaching the server (README).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ace_client::{Access, Client, ClientHost};
use ace_coap::Method;
use ace_node::driver::{AfterTurn, EspPort, Running, SharedEsp};
use ace_node::scope_filter::ScopeFilter;
use ace_node::transparent::{Transparent, TransparentConfig, TransparentHost, TunMode};
use ace_node::{DpRole, Host, Node, Now};
use ace_rs::{EdhocResponderConfig, ResourceServer};
use ipsec_gw::Gateway;
use serde::Deserialize;
use tokio::net::UdpSocket;

use crate::config::{ClientToml, ConfigError, RsToml};
use crate::gateway::datapath::{self, Control, DataPath, Tokens};
use crate::gateway::{open_tun, open_udp};

/// Datagrams waiting for the node (the data path drops and counts beyond).
const NODE_QUEUE: usize = 1024;
/// First pause after a failed token acquisition; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(2);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// `[tun]` in an RS or client configuration.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct TunToml {
    /// TUN device to create or attach (addresses and routes are the system's).
    pub device: String,
    /// "transport" (default) or "tunnel"; both ends must agree.
    pub mode: Option<String>,
    /// The protected CoAP server as clients address it, e.g.
    /// "192.168.77.2:5683": on the RS, the unmodified server's address and
    /// port; on a client, where its unmodified CoAP programs send.
    pub server: SocketAddr,
    /// TUN offloads (`IFF_VNET_HDR`, TSO). Default true.
    pub offload: Option<bool>,
    /// Raise the TUN transmit queue to this many packets. Default 5000.
    pub txqueuelen: Option<u32>,
    /// UDP GSO / GRO on the ESP-in-UDP socket. Default true.
    pub udp_gso: Option<bool>,
    pub udp_gro: Option<bool>,
}

fn err(file: &Path, key: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        key: key.to_string(),
        msg: msg.into(),
    }
}

impl TunToml {
    /// Checks the option against the service's sockets (`listen`: plain
    /// CoAP, `esp_listen`: the shared ESP-in-UDP socket).
    pub fn validate(
        &self,
        file: &Path,
        role: DpRole,
        listen: SocketAddr,
        esp_listen: SocketAddr,
    ) -> Result<TransparentConfig, ConfigError> {
        let mode = match self.mode.as_deref().unwrap_or("transport") {
            "transport" => TunMode::Transport,
            "tunnel" => TunMode::Tunnel,
            other => {
                return Err(err(
                    file,
                    "tun.mode",
                    format!("{other:?}: use transport or tunnel"),
                ))
            }
        };
        if esp_listen.ip().is_unspecified() || esp_listen.port() == 0 {
            return Err(err(
                file,
                "esp_listen",
                format!(
                    "{esp_listen}: with [tun], name this host's address and port (the \
                     data path's socket: the destination of what it receives)"
                ),
            ));
        }
        if listen.ip() != esp_listen.ip() {
            return Err(err(
                file,
                "listen",
                format!(
                    "{listen}: with [tun], use the address of esp_listen ({}): the pair's \
                     policies and its transport-mode packets use one address per host",
                    esp_listen.ip()
                ),
            ));
        }
        let s = self.server;
        if s.port() == 0 || s.ip().is_unspecified() || s.is_ipv4() != esp_listen.is_ipv4() {
            return Err(err(
                file,
                "tun.server",
                format!(
                    "{s}: an address and port of the family of esp_listen ({})",
                    esp_listen.ip()
                ),
            ));
        }
        if role == DpRole::Server {
            if mode == TunMode::Transport && s.ip() != esp_listen.ip() {
                return Err(err(
                    file,
                    "tun.server",
                    format!(
                        "{s}: in transport mode the server's address is this host's ESP \
                         address {} (opened packets are rebuilt for it); use tunnel mode \
                         for another address",
                        esp_listen.ip()
                    ),
                ));
            }
            if s == listen {
                return Err(err(
                    file,
                    "tun.server",
                    format!(
                        "{s} is the RS's own plain CoAP socket (listen, /authz-info): \
                         the protected server needs another port"
                    ),
                ));
            }
        }
        Ok(TransparentConfig {
            role,
            mode,
            server: s,
        })
    }
}

/// The data path with its socket shared with the node.
struct Started {
    dp: DataPath,
    control: Control,
    esp: EspPort,
}

fn start_data_path(
    tun: &TunToml,
    esp_listen: SocketAddr,
    filter: Option<ScopeFilter>,
) -> Result<Started, String> {
    let dev = open_tun(
        &tun.device,
        tun.offload.unwrap_or(true),
        tun.txqueuelen.unwrap_or(5000),
    )?;
    let udp =
        open_udp(esp_listen, tun.udp_gro.unwrap_or(true)).map_err(|e| format!("esp_listen {e}"))?;
    let gso = tun.udp_gso.unwrap_or(true) && udp.gso_supported();
    let io = datapath::Io {
        tun: dev,
        udp: Some(udp),
        gso,
        raw_esp: None,
        raw_ah: None,
        local_udp_ip: Some(esp_listen.ip()),
    };
    let (to_node, incoming) = tokio::sync::mpsc::channel(NODE_QUEUE);
    let (outbound, inbound) = Gateway::new().split();
    let dp = datapath::start(io, outbound, inbound, Some(Tokens { filter, to_node }))
        .map_err(|e| format!("data path: {e}"))?;
    let control = dp
        .control()
        .ok_or("data path started without its control")?;
    let sender = control.clone();
    let esp = EspPort::Shared(SharedEsp {
        local: esp_listen,
        incoming,
        send: Arc::new(move |to, data| sender.send_esp(to, data)),
    });
    tracing::info!(device = %tun.device, esp = %esp_listen, gso, "TUN data path running");
    Ok(Started { dp, control, esp })
}

async fn bind_plain(listen: SocketAddr) -> Result<UdpSocket, String> {
    UdpSocket::bind(listen)
        .await
        .map_err(|e| format!("bind {listen}: {e}"))
}

fn node(name: &str, plain: &UdpSocket, esp: SocketAddr) -> Result<Node, String> {
    let local = plain.local_addr().map_err(|e| e.to_string())?;
    Ok(Node::new(
        name,
        local,
        esp,
        ace_coap::Config::default(),
        rand::random(),
    ))
}

/// `ace-ipsec rs` with `[tun]`: `/authz-info` as always; each accepted
/// token's pair moves into the data path, bound to the token's grants.
pub async fn run_rs(
    file: &Path,
    t: &RsToml,
    cfg: ace_rs::RsConfig,
    tun: &TunToml,
) -> Result<(), String> {
    let tc = tun
        .validate(file, DpRole::Server, t.listen, t.esp_listen)
        .map_err(|e| e.to_string())?;
    let edhoc = t
        .edhoc_key(file)
        .map_err(|e| e.to_string())?
        .map(EdhocResponderConfig::new);
    let plain = bind_plain(t.listen).await?;
    let Started {
        mut dp,
        control,
        esp,
    } = start_data_path(tun, t.esp_listen, Some(ScopeFilter::new(rand::random())))?;
    let mut rs = ResourceServer::new(node("RS", &plain, t.esp_listen)?, cfg, Now::system().unix);
    if let Some(e) = edhoc {
        rs.enable_edhoc(e, None);
    }
    rs.enable_hand_over();
    let host = TransparentHost::new(rs, tc);
    let hook: AfterTurn<TransparentHost<ResourceServer>> = Box::new(move |h, now| {
        h.after_turn(now);
        while let Some(c) = h.poll_change() {
            control.apply(c);
        }
    });
    let running =
        Running::spawn_on(host, plain, esp, None, Some(hook)).map_err(|e| e.to_string())?;
    tracing::info!(plain = %running.plain_addr, esp = %running.esp_addr, audience = %t.audience, server = %tc.server, mode = ?tc.mode, device = %tun.device, "RS running, transparent mode");
    let r = tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(()),
        why = dp.stopped().recv() => Err(why.unwrap_or_else(|| "data path stopped".into())),
    };
    {
        let h = running.lock();
        tracing::info!(rs = ?h.inner.stats(), tun = ?h.tun.stats(), data_path = ?dp.counters(), "RS stopping");
    }
    running.shutdown();
    r
}

/// `ace-ipsec client` with `[tun]`: gets a token and sets the pair up as
/// always, moves it into the data path, and keeps one in place: a new
/// token three quarters into the pair's lifetime, the old pair removed when
/// the new one is installed (or when it expires, if renewal keeps failing;
/// failed acquisitions are retried after 2 s, doubling up to a minute).
pub async fn run_client(
    file: &Path,
    t: &ClientToml,
    reg: ace_client::AsRegistration,
    tun: &TunToml,
    access: Access,
    verbose: bool,
) -> Result<(), String> {
    if access.method != Method::Get || !access.payload.is_empty() {
        return Err(
            "with [tun] the client sets the SA pair up and keeps it; send requests with your \
             CoAP program (the URI's path is only used to discover the AS)"
                .into(),
        );
    }
    let tc = tun
        .validate(file, DpRole::Client, t.listen, t.esp_listen)
        .map_err(|e| e.to_string())?;
    let edhoc = t.edhoc_key(file).map_err(|e| e.to_string())?;
    let plain = bind_plain(t.listen).await?;
    let Started {
        mut dp,
        control,
        esp,
    } = start_data_path(tun, t.esp_listen, None)?;
    let state = crate::config::state_dir(file, t.state_dir.as_deref());
    let resume = crate::services::load_state(&state, ace_client::flow::REGISTRATION_STATE)?
        .unwrap_or_default();
    let mut host = ClientHost::new(
        node("C", &plain, t.esp_listen)?,
        t.id.clone(),
        reg,
        Instant::now(),
        None,
        Some(resume),
    )?;
    if let Some(k) = edhoc {
        host.set_edhoc_key(k);
    }
    let client = Client::spawn_on(host, plain, esp, Some(state)).map_err(|e| e.to_string())?;
    let mut pairs = Transparent::new(tc);
    let mut retry = FIRST_RETRY;
    let r = loop {
        let acquired = tokio::select! {
            r = acquire(&client, &mut pairs, &control, &access, &tun.device, verbose) => r,
            _ = tokio::signal::ctrl_c() => break Ok(()),
            why = dp.stopped().recv() => break Err(why.unwrap_or_else(|| "data path stopped".into())),
        };
        let next = match acquired {
            Ok(renew) => {
                retry = FIRST_RETRY;
                renew.max(Instant::now() + Duration::from_secs(1))
            }
            Err(e) => {
                eprintln!("tun: {e}; next attempt in {} s", retry.as_secs());
                let at = Instant::now() + retry;
                retry = (retry * 2).min(MAX_RETRY);
                at
            }
        };
        // Until the renewal: remove what expires on the way.
        let stop = loop {
            let wake = pairs.poll_timeout().map_or(next, |t| t.min(next));
            let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(wake));
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break Some(Ok(())),
                why = dp.stopped().recv() => break Some(Err(why.unwrap_or_else(|| "data path stopped".into()))),
                _ = sleep => {}
            }
            if pairs.poll_timeout().is_some_and(|t| t <= Instant::now()) {
                client.running().with(|w, now| {
                    pairs.handle_timeout(w.host.node(), now.mono);
                });
                forward(&mut pairs, &control);
                println!("tun: SA pair expired and removed");
            }
            if Instant::now() >= next {
                break None;
            }
        };
        if let Some(r) = stop {
            break r;
        }
    };
    tracing::info!(tun = ?pairs.stats(), data_path = ?dp.counters(), "client stopping");
    client.shutdown();
    r
}

/// One token, one pair: established in the node, then moved into the data
/// path. Returns when to renew it.
async fn acquire(
    client: &Client,
    pairs: &mut Transparent,
    control: &Control,
    access: &Access,
    device: &str,
    verbose: bool,
) -> Result<Instant, String> {
    let outcome = client
        .establish(access.clone())
        .await
        .map_err(|e| e.to_string())?;
    if verbose {
        crate::services::print_steps(&outcome.steps);
    }
    let rs = access.rs;
    let moved = client.running().with(|w, now| {
        let s = w
            .host
            .session(rs)
            .cloned()
            .ok_or("the SA pair ended before the hand-over")?;
        let sa = pairs
            .hand_over(w.host.node(), now.mono, s.pair, None)
            .map_err(|e| format!("hand-over: {e}"))?;
        w.host.drop_session(rs);
        Ok::<_, String>(sa)
    });
    forward(pairs, control);
    let sa = moved?;
    let p = pairs
        .pairs()
        .find(|p| p.sa_ref == sa)
        .ok_or("hand-over lost")?;
    let now = Instant::now();
    let renew = p.renew_at.unwrap_or(now + MAX_RETRY);
    println!(
        "tun: SA pair installed: SPI_SA_C {:#010x}, SPI_SA_RS {:#010x}, {} mode, protecting coap://{} through {}; new token in {} s",
        p.spi_out,
        p.spi_in,
        match pairs.config().mode {
            TunMode::Transport => "transport",
            TunMode::Tunnel => "tunnel",
        },
        pairs.config().server,
        device,
        renew.saturating_duration_since(now).as_secs()
    );
    Ok(renew)
}

/// Passes the controller's changes on to the data path.
fn forward(pairs: &mut Transparent, control: &Control) {
    while let Some(c) = pairs.poll_change() {
        control.apply(c);
    }
}
