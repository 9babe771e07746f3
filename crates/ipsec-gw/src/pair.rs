//! An SA pair ready to be installed: built from a configuration (keys from
//! a seed, as a Direct Provisioning token carries them) or from SAs that
//! are already in use elsewhere (a token's pair handed over by the ACE node,
//! its sequence numbers and replay window carrying on). A [`SplitPair`] has
//! one part per half of the gateway, so a driver with one thread per
//! direction hands each thread its part.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ipsec_dp::ah::{AhInbound, AhKey, AhOutbound};
use ipsec_dp::kdf::{derive_dp_sa_pair, prf_plus};
use ipsec_dp::mode::{EspEncap, TunnelConfig};
use ipsec_dp::sa::{InboundSa, OutboundSa, SaOptions};
use ipsec_dp::spd::{SaRef, Selector};
use ipsec_dp::suite::EspSuite;
use zeroize::Zeroizing;

use crate::GwError;

/// IPsec mode of an SA pair (RFC 4301 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Transport,
    /// Tunnel between these outer endpoints (the profile's IP_C / IP_RS).
    Tunnel {
        local: IpAddr,
        remote: IpAddr,
    },
}

/// Security protocol and how it reaches the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// ESP in UDP (RFC 3948) to the peer's port, or raw IP protocol 50.
    Esp { suite: EspSuite, encap: EspEncap },
    /// AH with HMAC-SHA-256-128 (RFC 4302, RFC 4868): raw IP protocol 51 only.
    Ah,
}

/// Which side of the pair this gateway is (draft §2.1: SA-C carries C → RS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// An SA pair between this gateway and one peer, keyed like a Direct
/// Provisioning token: SPIs and a seed (`docs/profile.md` §3).
pub struct PairConfig {
    pub name: String,
    pub role: Role,
    pub spi_sa_c: u32,
    pub spi_sa_rs: u32,
    /// Wiped when the configuration is dropped.
    pub seed: Zeroizing<Vec<u8>>,
    pub protocol: Protocol,
    pub mode: Mode,
    /// The peer's address on the wire. ESP-in-UDP sends to it, address and
    /// port (port 0: 4500), whatever the packet's destination or the
    /// tunnel's remote end: with a NAT in between it is the NAT's address.
    /// Raw ESP/AH go to the protected packet's (transport) or the tunnel's
    /// (tunnel mode) destination.
    pub peer: SocketAddr,
    /// SA options: ESN (ESP only), replay window, hard lifetimes in time,
    /// bytes and packets (AH: time and window only).
    pub options: SaOptions,
    /// Traffic this pair protects, from this gateway's point of view
    /// (local = this side). Installed as PROTECT for both directions.
    pub selectors: Vec<Selector>,
}

pub(crate) enum OutSa {
    Esp(OutboundSa, EspEncap),
    Ah(AhOutbound),
}

pub(crate) struct OutState {
    pub(crate) sa: OutSa,
    pub(crate) tunnel: Option<TunnelConfig>,
    pub(crate) peer: SocketAddr,
    pub(crate) name: String,
}

pub(crate) struct AhIn {
    pub(crate) sa: AhInbound,
    pub(crate) sa_ref: SaRef,
    pub(crate) tunnel: bool,
}

pub(crate) enum InSa {
    Esp(InboundSa),
    Ah(AhIn),
}

/// The outbound half's part of a pair: the outbound SA and its policies.
pub struct OutboundPart {
    pub(crate) sa_ref: SaRef,
    pub(crate) state: OutState,
    pub(crate) selectors: Vec<Selector>,
}

/// The inbound half's part of a pair: the inbound SA and its policies.
pub struct InboundPart {
    pub(crate) sa_ref: SaRef,
    pub(crate) spi: u32,
    pub(crate) sa: InSa,
    pub(crate) tunnel: bool,
    /// ESP-in-UDP: where the outbound SA sends (for NAT rebinding).
    pub(crate) udp_peer: Option<SocketAddr>,
    pub(crate) selectors: Vec<Selector>,
}

/// An SA pair ready to be installed, one part per half
/// ([`crate::Outbound::install`], [`crate::Inbound::install`]).
pub struct SplitPair {
    pub sa_ref: SaRef,
    pub outbound: OutboundPart,
    pub inbound: InboundPart,
}

impl InboundPart {
    /// The SPI the peer sends to: the data path owns it once installed.
    pub fn spi(&self) -> u32 {
        self.spi
    }
    pub fn sa_ref(&self) -> SaRef {
        self.sa_ref
    }
}

impl OutboundPart {
    pub fn sa_ref(&self) -> SaRef {
        self.sa_ref
    }
}

/// AH keys (HMAC-SHA-256, 32 bytes each) from a seed, as the DP derivation:
/// `prf+(seed, SPI_SA_C | SPI_SA_RS)`, SA-C's key first.
fn derive_ah_pair(seed: &[u8], spi_c: u32, spi_rs: u32) -> Result<(AhKey, AhKey), String> {
    let mut s = [0u8; 8];
    s[..4].copy_from_slice(&spi_c.to_be_bytes());
    s[4..].copy_from_slice(&spi_rs.to_be_bytes());
    let km = prf_plus(seed, &s, 64).map_err(|e| e.to_string())?;
    let c = AhKey::new(&km[..32]).map_err(|e| e.to_string())?;
    let rs = AhKey::new(&km[32..]).map_err(|e| e.to_string())?;
    Ok((c, rs))
}

fn tunnel_of(mode: Mode) -> Option<TunnelConfig> {
    match mode {
        Mode::Transport => None,
        Mode::Tunnel { local, remote } => Some(TunnelConfig::new(local, remote)),
    }
}

impl SplitPair {
    /// Derives the pair's SAs from the configuration's seed (fresh
    /// sequence numbers and replay windows).
    pub fn from_config(now: Instant, sa_ref: SaRef, cfg: PairConfig) -> Result<Self, GwError> {
        let err = |e: String| GwError::Pair(cfg.name.clone(), e);
        let (spi_out, spi_in) = match cfg.role {
            Role::Client => (cfg.spi_sa_c, cfg.spi_sa_rs),
            Role::Server => (cfg.spi_sa_rs, cfg.spi_sa_c),
        };
        let tunnel = tunnel_of(cfg.mode);
        let (out, inb, udp_peer) = match cfg.protocol {
            Protocol::Esp { suite, encap } => {
                let (c, rs) = derive_dp_sa_pair(&cfg.seed, cfg.spi_sa_c, cfg.spi_sa_rs, suite)
                    .map_err(|e| err(e.to_string()))?;
                let (k_out, k_in) = match cfg.role {
                    Role::Client => (c, rs),
                    Role::Server => (rs, c),
                };
                let inbound = InboundSa::with_options(spi_in, k_in, now, cfg.options)
                    .map_err(|e| err(e.to_string()))?;
                let outbound = OutboundSa::with_options(spi_out, k_out, now, cfg.options)
                    .map_err(|e| err(e.to_string()))?;
                let udp_peer = (encap == EspEncap::Udp).then_some(cfg.peer);
                (OutSa::Esp(outbound, encap), InSa::Esp(inbound), udp_peer)
            }
            Protocol::Ah => {
                let o = cfg.options;
                let l = o.lifetime;
                if o.esn || l.hard_bytes.is_some() || l.hard_packets.is_some() {
                    return Err(err(
                        "AH supports a time lifetime and a replay window, not ESN or byte/packet lifetimes".into(),
                    ));
                }
                let (c, rs) =
                    derive_ah_pair(&cfg.seed, cfg.spi_sa_c, cfg.spi_sa_rs).map_err(err)?;
                let (k_out, k_in) = match cfg.role {
                    Role::Client => (c, rs),
                    Role::Server => (rs, c),
                };
                let inbound = AhInbound::new(spi_in, k_in, now, l.hard_time)
                    .map_err(|e| err(e.to_string()))?
                    .with_replay_window(o.replay_window);
                let outbound = AhOutbound::new(spi_out, k_out, now, l.hard_time)
                    .map_err(|e| err(e.to_string()))?;
                let ah = AhIn {
                    sa: inbound,
                    sa_ref,
                    tunnel: tunnel.is_some(),
                };
                (OutSa::Ah(outbound), InSa::Ah(ah), None)
            }
        };
        Ok(Self::assemble(
            sa_ref,
            cfg.name,
            spi_in,
            out,
            inb,
            tunnel,
            cfg.peer,
            udp_peer,
            cfg.selectors,
        ))
    }

    /// An ESP pair from SAs already in use elsewhere (the ACE node, which
    /// set the pair up with an access token and answered over it): their
    /// keys, sequence numbers, replay window and lifetimes carry on, so no
    /// sequence number (and no AES-GCM/CCM nonce) is used twice.
    #[allow(clippy::too_many_arguments)]
    pub fn from_esp_sas(
        sa_ref: SaRef,
        name: String,
        inbound: InboundSa,
        outbound: OutboundSa,
        encap: EspEncap,
        mode: Mode,
        peer: SocketAddr,
        selectors: Vec<Selector>,
    ) -> Self {
        let spi_in = inbound.spi();
        let udp_peer = (encap == EspEncap::Udp).then_some(peer);
        Self::assemble(
            sa_ref,
            name,
            spi_in,
            OutSa::Esp(outbound, encap),
            InSa::Esp(inbound),
            tunnel_of(mode),
            peer,
            udp_peer,
            selectors,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        sa_ref: SaRef,
        name: String,
        spi_in: u32,
        out: OutSa,
        inb: InSa,
        tunnel: Option<TunnelConfig>,
        peer: SocketAddr,
        udp_peer: Option<SocketAddr>,
        selectors: Vec<Selector>,
    ) -> Self {
        SplitPair {
            sa_ref,
            inbound: InboundPart {
                sa_ref,
                spi: spi_in,
                sa: inb,
                tunnel: tunnel.is_some(),
                udp_peer,
                selectors: selectors.clone(),
            },
            outbound: OutboundPart {
                sa_ref,
                state: OutState {
                    sa: out,
                    tunnel,
                    peer,
                    name,
                },
                selectors,
            },
        }
    }
}
