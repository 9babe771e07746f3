//! RFC 4301 §4.4.1: the Security Policy Database.
//!
//! An ordered list of entries per direction; each entry has selectors
//! (§4.4.1.1: local and remote addresses, next-layer protocol, local and
//! remote ports or ICMP type/code) and an action: PROTECT with an SA,
//! BYPASS, or DISCARD. The first entry whose selectors all match decides
//! (§4.4.1: "the SPD is ordered ... the first matching entry"); when none
//! matches, the default action applies (DISCARD unless configured).
//!
//! Cost: [`Spd::match_packet`] and [`Spd::match_selector`] allocate
//! nothing and scan the entries of one direction linearly, each entry
//! costing at most two 128-bit range comparisons and four integer range
//! comparisons: well under a microsecond for tens of entries. (A decorrelated
//! SPD or a cache, RFC 4301 §4.4.1.2 / §4.4.2, pays off at thousands.)
//!
//! Directions use the host's point of view: for an outbound packet the
//! local address is the source; for an inbound packet it is the destination.
//!
//! RFC 4301 §5.2 step 4: after an inbound packet was unprotected with an SA,
//! [`Spd::check_inbound`] requires that the packet matches an inbound entry
//! whose action is PROTECT with that very SA; otherwise it is dropped and
//! counted (an auditable event). A cleartext packet matching a PROTECT entry
//! is dropped the same way (§5.2 step 3a).

use std::net::IpAddr;

use thiserror::Error;

use crate::ip::{IpPacket, IpVersion, IPPROTO_ICMP, IPPROTO_ICMPV6};

/// Traffic direction, from this host's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Leaving this host (from the TUN device towards the network).
    Outbound,
    /// Arriving at this host (from the network towards the TUN device).
    Inbound,
}

/// A reference to the SA (or SA bundle) a PROTECT entry names. Opaque to
/// the SPD: the driver chooses the numbering (e.g. one id per Child SA
/// pair, used by the outbound and the inbound entry alike) and maps it to
/// its [`crate::OutboundSa`] and to the inbound SPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SaRef(pub u32);

/// RFC 4301 §4.4.1: what to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// PROTECT: apply (outbound) or require (inbound) the referenced SA.
    Protect(SaRef),
    /// BYPASS: pass without IPsec.
    Bypass,
    /// DISCARD: drop.
    Discard,
}

/// The outcome of an SPD lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision {
    /// The action to take.
    pub action: Action,
    /// Index of the matching entry in its direction's list; `None` when
    /// the default action applied.
    pub entry: Option<usize>,
}

/// Errors building selectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SelectorError {
    /// A prefix longer than the address (32 for IPv4, 128 for IPv6).
    #[error("prefix length {0} too long for the address family")]
    BadPrefixLength(u8),
    /// A range whose ends are of different families.
    #[error("range ends of different address families")]
    FamilyMismatch,
    /// A range whose start is after its end.
    #[error("range start after range end")]
    EmptyRange,
}

/// An address selector (RFC 4301 §4.4.1.1 "Remote/Local IP Address(es)"):
/// any address, or an inclusive range of one family (a prefix is a range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrSelector {
    /// ANY: matches every address of either family.
    Any,
    /// Every address of one family.
    AnyOf(IpVersion),
    /// An inclusive range `lo ..= hi` of one family.
    Range {
        /// IPv4 or IPv6.
        family: IpVersion,
        /// First address (as an integer; IPv4 in the low 32 bits).
        lo: u128,
        /// Last address.
        hi: u128,
    },
}

fn addr_bits(a: IpAddr) -> (IpVersion, u128) {
    match a {
        IpAddr::V4(v4) => (IpVersion::V4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (IpVersion::V6, u128::from(v6)),
    }
}

impl AddrSelector {
    /// The single address `a`.
    pub fn host(a: IpAddr) -> Self {
        let (family, v) = addr_bits(a);
        AddrSelector::Range {
            family,
            lo: v,
            hi: v,
        }
    }

    /// The prefix `a/len` (host bits of `a` are ignored).
    pub fn prefix(a: IpAddr, len: u8) -> Result<Self, SelectorError> {
        let (family, v) = addr_bits(a);
        let width: u32 = match family {
            IpVersion::V4 => 32,
            IpVersion::V6 => 128,
        };
        let len32 = u32::from(len);
        if len32 > width {
            return Err(SelectorError::BadPrefixLength(len));
        }
        let host_bits = width - len32;
        let host_mask: u128 = if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        Ok(AddrSelector::Range {
            family,
            lo: v & !host_mask,
            hi: v | host_mask,
        })
    }

    /// The inclusive range `lo ..= hi`.
    pub fn range(lo: IpAddr, hi: IpAddr) -> Result<Self, SelectorError> {
        let ((f1, l), (f2, h)) = (addr_bits(lo), addr_bits(hi));
        if f1 != f2 {
            return Err(SelectorError::FamilyMismatch);
        }
        if l > h {
            return Err(SelectorError::EmptyRange);
        }
        Ok(AddrSelector::Range {
            family: f1,
            lo: l,
            hi: h,
        })
    }

    /// Does `a` fall in this selector?
    pub fn matches(&self, a: IpAddr) -> bool {
        let (family, v) = addr_bits(a);
        match *self {
            AddrSelector::Any => true,
            AddrSelector::AnyOf(f) => f == family,
            AddrSelector::Range { family: f, lo, hi } => f == family && lo <= v && v <= hi,
        }
    }
}

/// An inclusive port range (RFC 4301 §4.4.1.1 "Local/Remote Port(s)").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl PortRange {
    /// ANY: 0 ..= 65535. Also matches packets without ports ("OPAQUE",
    /// RFC 4301 §4.4.1.1).
    pub const ANY: PortRange = PortRange {
        lo: 0,
        hi: u16::MAX,
    };

    /// A single port.
    pub const fn single(p: u16) -> Self {
        PortRange { lo: p, hi: p }
    }

    /// Is this ANY?
    pub const fn is_any(&self) -> bool {
        self.lo == 0 && self.hi == u16::MAX
    }

    /// Does `p` fall in the range? `None` (no port in the packet) matches
    /// only ANY.
    pub fn matches(&self, p: Option<u16>) -> bool {
        match p {
            Some(p) => self.lo <= p && p <= self.hi,
            None => self.is_any(),
        }
    }
}

/// An inclusive range of one octet (ICMP type or code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OctetRange {
    /// First value.
    pub lo: u8,
    /// Last value.
    pub hi: u8,
}

impl OctetRange {
    /// ANY: 0 ..= 255.
    pub const ANY: OctetRange = OctetRange { lo: 0, hi: u8::MAX };

    /// A single value.
    pub const fn single(v: u8) -> Self {
        OctetRange { lo: v, hi: v }
    }

    fn matches(&self, v: u8) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// RFC 4301 §4.4.1.1: for ICMP / ICMPv6 the ICMP message type and code take
/// the place of the ports. (IKEv2 traffic selectors carry them packed as
/// one 16-bit "port" with the type in the high octet, RFC 7296 §3.13.1.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpSelector {
    /// Message types.
    pub types: OctetRange,
    /// Message codes.
    pub codes: OctetRange,
}

impl IcmpSelector {
    /// Every ICMP message.
    pub const ANY: IcmpSelector = IcmpSelector {
        types: OctetRange::ANY,
        codes: OctetRange::ANY,
    };
}

/// The selectors of one SPD entry (RFC 4301 §4.4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selector {
    /// Local address(es).
    pub local: AddrSelector,
    /// Remote address(es).
    pub remote: AddrSelector,
    /// Next Layer Protocol; `None` is ANY.
    pub protocol: Option<u8>,
    /// Local ports (TCP, UDP, SCTP).
    pub local_ports: PortRange,
    /// Remote ports (TCP, UDP, SCTP).
    pub remote_ports: PortRange,
    /// ICMP type/code, for protocol ICMP / ICMPv6.
    pub icmp: IcmpSelector,
}

impl Selector {
    /// Matches every packet.
    pub const ANY: Selector = Selector {
        local: AddrSelector::Any,
        remote: AddrSelector::Any,
        protocol: None,
        local_ports: PortRange::ANY,
        remote_ports: PortRange::ANY,
        icmp: IcmpSelector::ANY,
    };

    /// Every packet between `local` and `remote` (any protocol, any port).
    pub fn between(local: AddrSelector, remote: AddrSelector) -> Self {
        Selector {
            local,
            remote,
            ..Selector::ANY
        }
    }

    /// Restricts to `protocol`.
    pub fn with_protocol(mut self, protocol: u8) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Restricts the local ports.
    pub fn with_local_ports(mut self, ports: PortRange) -> Self {
        self.local_ports = ports;
        self
    }

    /// Restricts the remote ports.
    pub fn with_remote_ports(mut self, ports: PortRange) -> Self {
        self.remote_ports = ports;
        self
    }

    /// Restricts the ICMP type and code.
    pub fn with_icmp(mut self, icmp: IcmpSelector) -> Self {
        self.icmp = icmp;
        self
    }

    /// Do the packet's selector values fall in this entry's selectors?
    pub fn matches(&self, p: &PacketSelector) -> bool {
        if !self.local.matches(p.local) || !self.remote.matches(p.remote) {
            return false;
        }
        if self.protocol.is_some_and(|proto| proto != p.protocol) {
            return false;
        }
        if is_icmp(p.protocol) {
            // Ports selectors other than ANY never match ICMP; the ICMP
            // selector applies instead.
            if !self.local_ports.is_any() || !self.remote_ports.is_any() {
                return false;
            }
            return match p.icmp {
                Some((t, c)) => self.icmp.types.matches(t) && self.icmp.codes.matches(c),
                None => self.icmp == IcmpSelector::ANY,
            };
        }
        self.local_ports.matches(p.local_port) && self.remote_ports.matches(p.remote_port)
    }
}

fn is_icmp(protocol: u8) -> bool {
    protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6
}

/// The selector values of one packet, oriented for a direction (RFC 4301
/// §4.4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketSelector {
    /// Local address (source if outbound, destination if inbound).
    pub local: IpAddr,
    /// Remote address.
    pub remote: IpAddr,
    /// Next Layer Protocol.
    pub protocol: u8,
    /// Local port, if the protocol has ports and the packet holds them.
    pub local_port: Option<u16>,
    /// Remote port.
    pub remote_port: Option<u16>,
    /// ICMP type and code, for ICMP / ICMPv6.
    pub icmp: Option<(u8, u8)>,
}

impl PacketSelector {
    /// The selector values of `packet` travelling in `direction`.
    pub fn from_packet(direction: Direction, packet: &IpPacket<'_>) -> Self {
        let ports = packet.ports();
        let (src_port, dst_port) = (ports.map(|p| p.0), ports.map(|p| p.1));
        let (local, remote, local_port, remote_port) = match direction {
            Direction::Outbound => (packet.src(), packet.dst(), src_port, dst_port),
            Direction::Inbound => (packet.dst(), packet.src(), dst_port, src_port),
        };
        PacketSelector {
            local,
            remote,
            protocol: packet.protocol(),
            local_port,
            remote_port,
            icmp: packet.icmp_type_code(),
        }
    }
}

/// One SPD entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpdEntry {
    /// Its selectors.
    pub selector: Selector,
    /// Its action.
    pub action: Action,
}

/// Why [`Spd::check_inbound`] refuses a packet (RFC 4301 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum PolicyViolation {
    /// §5.2 step 4: the packet arrived on an SA but the first matching
    /// inbound entry does not PROTECT with that SA.
    #[error("packet arrived on {arrived:?} but the policy says {decision:?}")]
    WrongSa {
        /// The SA the packet arrived on.
        arrived: SaRef,
        /// What the SPD says for it.
        decision: Decision,
    },
    /// §5.2 step 3a: a cleartext packet whose policy requires protection.
    #[error("cleartext packet where policy requires {0:?}")]
    Unprotected(SaRef),
    /// The matching inbound entry (or the default) is DISCARD.
    #[error("discarded by policy")]
    Discarded,
}

impl PolicyViolation {
    /// Stable snake_case label, for metrics.
    pub const fn as_str(&self) -> &'static str {
        match self {
            PolicyViolation::WrongSa { .. } => "policy_wrong_sa",
            PolicyViolation::Unprotected(_) => "policy_unprotected",
            PolicyViolation::Discarded => "policy_discard",
        }
    }
}

/// Counters of [`Spd::check_inbound`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyCounters {
    /// Packets accepted.
    pub accepted: u64,
    /// §5.2 step 4 drops: arrived on an SA the policy does not name.
    pub wrong_sa: u64,
    /// §5.2 step 3a drops: cleartext where protection is required.
    pub unprotected: u64,
    /// Drops by a DISCARD entry or the default.
    pub discarded: u64,
}

/// The Security Policy Database (RFC 4301 §4.4.1): one ordered list of
/// entries per direction and a default action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spd {
    outbound: Vec<SpdEntry>,
    inbound: Vec<SpdEntry>,
    default: Action,
    counters: PolicyCounters,
}

impl Default for Spd {
    fn default() -> Self {
        Self::new()
    }
}

impl Spd {
    /// An empty SPD whose default is DISCARD.
    pub fn new() -> Self {
        Self::with_default(Action::Discard)
    }

    /// An empty SPD with another default action.
    pub fn with_default(default: Action) -> Self {
        Spd {
            outbound: Vec::new(),
            inbound: Vec::new(),
            default,
            counters: PolicyCounters::default(),
        }
    }

    /// Appends an entry (lowest priority so far) for `direction`, returning
    /// its index.
    pub fn push(&mut self, direction: Direction, selector: Selector, action: Action) -> usize {
        let list = self.list_mut(direction);
        list.push(SpdEntry { selector, action });
        list.len() - 1
    }

    /// Appends the same entry to both directions (selectors are in local /
    /// remote terms, so one description fits both).
    pub fn push_both(&mut self, selector: Selector, action: Action) {
        self.push(Direction::Outbound, selector, action);
        self.push(Direction::Inbound, selector, action);
    }

    /// Inserts an entry at `index` (0 = highest priority; clamped to the end).
    pub fn insert(
        &mut self,
        direction: Direction,
        index: usize,
        selector: Selector,
        action: Action,
    ) {
        let list = self.list_mut(direction);
        let at = index.min(list.len());
        list.insert(at, SpdEntry { selector, action });
    }

    /// Removes every entry (both directions) that protects with `sa`, e.g.
    /// when the SA is deleted; returns how many were removed.
    pub fn remove_sa(&mut self, sa: SaRef) -> usize {
        let before = self.outbound.len() + self.inbound.len();
        let keep = |e: &SpdEntry| e.action != Action::Protect(sa);
        self.outbound.retain(keep);
        self.inbound.retain(keep);
        before - self.outbound.len() - self.inbound.len()
    }

    /// The entries of `direction`, in order.
    pub fn entries(&self, direction: Direction) -> &[SpdEntry] {
        match direction {
            Direction::Outbound => &self.outbound,
            Direction::Inbound => &self.inbound,
        }
    }

    fn list_mut(&mut self, direction: Direction) -> &mut Vec<SpdEntry> {
        match direction {
            Direction::Outbound => &mut self.outbound,
            Direction::Inbound => &mut self.inbound,
        }
    }

    /// The default action.
    pub fn default_action(&self) -> Action {
        self.default
    }

    /// Counters of [`check_inbound`](Self::check_inbound).
    pub fn counters(&self) -> &PolicyCounters {
        &self.counters
    }

    /// RFC 4301 §4.4.1: the first entry of `direction` whose selectors
    /// match `p`, or the default. No allocation; linear in the entries.
    pub fn match_selector(&self, direction: Direction, p: &PacketSelector) -> Decision {
        self.entries(direction)
            .iter()
            .enumerate()
            .find(|(_, e)| e.selector.matches(p))
            .map_or(
                Decision {
                    action: self.default,
                    entry: None,
                },
                |(i, e)| Decision {
                    action: e.action,
                    entry: Some(i),
                },
            )
    }

    /// [`match_selector`](Self::match_selector) on the selector values of
    /// `packet` travelling in `direction`.
    pub fn match_packet(&self, direction: Direction, packet: &IpPacket<'_>) -> Decision {
        self.match_selector(direction, &PacketSelector::from_packet(direction, packet))
    }

    /// RFC 4301 §5.2: the inbound policy check of a packet that arrived on
    /// SA `arrived_on` (after it was unprotected), or in clear (`None`).
    ///
    /// - On an SA: the first matching inbound entry must be PROTECT with
    ///   that SA (§5.2 step 4), else [`PolicyViolation::WrongSa`].
    /// - In clear: the entry must be BYPASS (§5.2 step 3a); PROTECT gives
    ///   [`PolicyViolation::Unprotected`].
    /// - DISCARD gives [`PolicyViolation::Discarded`].
    ///
    /// Every outcome is counted.
    pub fn check_inbound(
        &mut self,
        packet: &IpPacket<'_>,
        arrived_on: Option<SaRef>,
    ) -> Result<Decision, PolicyViolation> {
        let d = self.match_packet(Direction::Inbound, packet);
        let r = match (d.action, arrived_on) {
            (Action::Discard, _) => Err(PolicyViolation::Discarded),
            (Action::Protect(want), Some(got)) if want == got => Ok(d),
            (Action::Protect(want), None) => Err(PolicyViolation::Unprotected(want)),
            (_, Some(got)) => Err(PolicyViolation::WrongSa {
                arrived: got,
                decision: d,
            }),
            (Action::Bypass, None) => Ok(d),
        };
        let c = &mut self.counters;
        let slot = match &r {
            Ok(_) => &mut c.accepted,
            Err(PolicyViolation::WrongSa { .. }) => &mut c.wrong_sa,
            Err(PolicyViolation::Unprotected(_)) => &mut c.unprotected,
            Err(PolicyViolation::Discarded) => &mut c.discarded,
        };
        *slot = slot.saturating_add(1);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn prefixes_cover_their_ranges() {
        let p = AddrSelector::prefix(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), 16).unwrap();
        assert!(p.matches(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0))));
        assert!(p.matches(IpAddr::V4(Ipv4Addr::new(10, 1, 255, 255))));
        assert!(!p.matches(IpAddr::V4(Ipv4Addr::new(10, 2, 0, 0))));
        assert!(!p.matches(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        let all6 = AddrSelector::prefix(IpAddr::V6(Ipv6Addr::LOCALHOST), 0).unwrap();
        assert!(all6.matches(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        assert!(!all6.matches(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(
            AddrSelector::prefix(IpAddr::V4(Ipv4Addr::LOCALHOST), 33),
            Err(SelectorError::BadPrefixLength(33))
        );
    }
}
