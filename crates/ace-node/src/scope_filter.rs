//! The Resource Server's scope check in transparent mode: a CoAP-aware
//! [`InboundFilter`] on the packets the TUN data path opened.
//!
//! In transparent mode an unmodified CoAP server answers the requests, so
//! the RS cannot check the token's scope where it serves them (draft §3.3).
//! It checks them on the way in instead: every packet that arrived on a
//! token's SA pair and passed the SPD check is parsed as IP → UDP → CoAP;
//! a request's Uri-Path and method are decided against the grants of the
//! token bound to that pair ([`crate::scope::decide`]). Covered: delivered
//! to the TUN device. Not covered: never delivered; the filter writes the
//! 4.03 / 4.05 answer in place (a piggybacked ACK to a CON, a NON to a NON,
//! with the request's token and a diagnostic payload, RFC 7252 §5.2,
//! §5.5.2), and the data path sends it over the same pair. CoAP messages
//! that are not requests (empty ACK/RST, responses to the server's own
//! requests) access no resource and pass.
//!
//! Conservative where the request could be read two ways: a Uri-Path that
//! is not UTF-8, or with a segment that holds `/` or is `.` / `..`, is
//! covered by no grant (4.03); so is a request through a proxy
//! (Proxy-Uri, Proxy-Scheme): a token grants this server's resources.
//! What is not CoAP, and a packet on a pair no token is bound to, is
//! refused and counted by reason. This is peer input: nothing here panics.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ace_coap::consts::option;
use ace_coap::{Message, MessageType};
use ipsec_dp::consts::IPPROTO_UDP;
use ipsec_dp::ip::{IpPacket, Ipv4Repr, Ipv6Repr};
use ipsec_dp::transport::{parse_udp, write_udp};
use ipsec_gw::{InboundFilter, SaRef, Verdict};

use crate::node::log_throttle;
use crate::scope::{aif_bit, decide, Grants, ScopeDecision};

/// RFC 7252 §12.1.2: 4.03 Forbidden and 4.05 Method Not Allowed.
const FORBIDDEN: u8 = (4 << 5) | 3;
const METHOD_NOT_ALLOWED: u8 = (4 << 5) | 5;
/// Hop limit of the answers (the data path's own packets).
const ANSWER_HOP_LIMIT: u8 = 64;

/// What the filter decided, by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterStats {
    /// Requests the token covers, and non-request CoAP messages.
    pub delivered: u64,
    /// Answered 4.03: the token does not cover the resource.
    pub forbidden: u64,
    /// Answered 4.05: the token does not cover the method.
    pub method_not_allowed: u64,
    /// Refused without an answer, by reason ("unbound-sa", "bad-coap", …).
    pub refused: BTreeMap<&'static str, u64>,
}

/// The scope filter: the grants of the token bound to each SA pair.
#[derive(Debug)]
pub struct ScopeFilter {
    grants: HashMap<SaRef, Grants>,
    /// Message ID of the next NON answer (RFC 7252 §4.4).
    next_mid: u16,
    stats: FilterStats,
}

/// A CoAP request, as far as the scope check needs it.
struct Parsed {
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    message: Message,
}

impl ScopeFilter {
    /// An empty filter; `first_mid` is the Message ID of the first NON
    /// answer (random in a driver, fixed in a test).
    pub fn new(first_mid: u16) -> Self {
        ScopeFilter {
            grants: HashMap::new(),
            next_mid: first_mid,
            stats: FilterStats::default(),
        }
    }

    /// Binds the grants of the token that set pair `sa` up.
    pub fn bind(&mut self, sa: SaRef, grants: Grants) {
        self.grants.insert(sa, grants);
    }

    /// The pair is gone.
    pub fn unbind(&mut self, sa: SaRef) -> bool {
        self.grants.remove(&sa).is_some()
    }

    pub fn stats(&self) -> &FilterStats {
        &self.stats
    }

    fn refuse(&mut self, sa: SaRef, reason: &'static str) -> Verdict {
        let n = self.stats.refused.entry(reason).or_default();
        *n += 1;
        if log_throttle(*n) {
            tracing::warn!(sa = ?sa, reason, count = *n, "packet refused by the scope filter");
        }
        Verdict::Refuse(reason)
    }

    /// The 4.03 / 4.05 answer to `req`, written at the start of `buf`.
    fn answer(&mut self, req: &Parsed, code: u8, diagnostic: &str, buf: &mut [u8]) -> Verdict {
        let (mtype, message_id) = match req.message.mtype {
            MessageType::Confirmable => (MessageType::Acknowledgement, req.message.message_id),
            _ => {
                let mid = self.next_mid;
                self.next_mid = mid.wrapping_add(1);
                (MessageType::NonConfirmable, mid)
            }
        };
        let response = Message {
            mtype,
            code,
            message_id,
            token: req.message.token.clone(),
            options: Vec::new(),
            payload: diagnostic.as_bytes().to_vec(),
        };
        match response
            .emit()
            .ok()
            .and_then(|coap| emit_udp_packet(req, &coap, buf))
        {
            Some(len) => Verdict::Answer { len },
            None => Verdict::Refuse("answer-failed"),
        }
    }
}

/// IP → UDP → CoAP; `Err` names why the packet is not a CoAP message.
fn parse(packet: &[u8]) -> Result<Parsed, &'static str> {
    let ip = IpPacket::parse(packet).map_err(|_| "bad-ip")?;
    if ip.protocol() != IPPROTO_UDP {
        return Err("not-udp");
    }
    let udp = parse_udp(ip.payload()).map_err(|_| "bad-udp")?;
    let message = Message::parse(udp.payload).map_err(|_| "bad-coap")?;
    Ok(Parsed {
        src: ip.src(),
        dst: ip.dst(),
        src_port: udp.src_port,
        dst_port: udp.dst_port,
        message,
    })
}

/// The request's path as the scope names it (`/a/b`), or `None` where it
/// cannot be read one way only.
fn request_path(m: &Message) -> Option<String> {
    if m.option(option::PROXY_URI).is_some() || m.option(option::PROXY_SCHEME).is_some() {
        return None;
    }
    let mut path = String::new();
    for segment in m.options_of(option::URI_PATH) {
        let s = std::str::from_utf8(segment).ok()?;
        if s.contains('/') || s == "." || s == ".." {
            return None;
        }
        path.push('/');
        path.push_str(s);
    }
    if path.is_empty() {
        path.push('/');
    }
    Some(path)
}

/// Writes the IP/UDP packet that carries `coap` back to the request's
/// sender, from the address and port it was sent to; its length.
fn emit_udp_packet(req: &Parsed, coap: &[u8], buf: &mut [u8]) -> Option<usize> {
    write_udp_packet((req.dst, req.dst_port), (req.src, req.src_port), coap, buf)
}

/// Writes an IPv4 or IPv6 packet carrying a UDP datagram `from → to` with
/// `payload` (checksums computed) at the start of `buf`; its length, or
/// `None` if the families differ or `buf` is too short.
pub fn write_udp_packet(
    (src, sport): (IpAddr, u16),
    (dst, dport): (IpAddr, u16),
    payload: &[u8],
    buf: &mut [u8],
) -> Option<usize> {
    let hdr = match src {
        IpAddr::V4(_) => 20,
        IpAddr::V6(_) => 40,
    };
    let udp_len = write_udp(sport, dport, src, dst, payload, buf.get_mut(hdr..)?).ok()?;
    match (src, dst) {
        (IpAddr::V4(src_addr), IpAddr::V4(dst_addr)) => Ipv4Repr {
            src_addr,
            dst_addr,
            protocol: IPPROTO_UDP,
            payload_len: udp_len,
            ttl: ANSWER_HOP_LIMIT,
            dscp: 0,
            ecn: 0,
            ident: 0,
            dont_frag: true,
        }
        .emit(buf)
        .ok()?,
        (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => Ipv6Repr {
            src_addr,
            dst_addr,
            next_header: IPPROTO_UDP,
            payload_len: udp_len,
            hop_limit: ANSWER_HOP_LIMIT,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(buf)
        .ok()?,
        _ => return None,
    }
    Some(hdr + udp_len)
}

impl InboundFilter for ScopeFilter {
    fn check(&mut self, sa: SaRef, buf: &mut [u8], len: usize) -> Verdict {
        let Some(grants) = self.grants.get(&sa).cloned() else {
            return self.refuse(sa, "unbound-sa");
        };
        let req = match buf.get(..len).ok_or("bad-ip").and_then(parse) {
            Ok(r) => r,
            Err(reason) => return self.refuse(sa, reason),
        };
        let m = &req.message;
        if !m.is_request() {
            self.stats.delivered += 1;
            return Verdict::Deliver;
        }
        // RFC 7252 §4.2, §4.3: a request travels in a CON or a NON.
        if matches!(m.mtype, MessageType::Acknowledgement | MessageType::Reset) {
            return self.refuse(sa, "bad-coap");
        }
        let path = request_path(m);
        let decision = match &path {
            Some(p) => decide(&grants, p, aif_bit(m.code)),
            None => ScopeDecision::NotResource,
        };
        let (code, text, count) = match decision {
            ScopeDecision::Granted => {
                self.stats.delivered += 1;
                return Verdict::Deliver;
            }
            ScopeDecision::NotResource => {
                self.stats.forbidden += 1;
                (
                    FORBIDDEN,
                    "the access token does not cover this resource",
                    self.stats.forbidden,
                )
            }
            ScopeDecision::NotMethod => {
                self.stats.method_not_allowed += 1;
                (
                    METHOD_NOT_ALLOWED,
                    "the access token does not cover this method",
                    self.stats.method_not_allowed,
                )
            }
        };
        if log_throttle(count) {
            let shown: String = path.as_deref().unwrap_or("?").chars().take(64).collect();
            tracing::info!(sa = ?sa, path = ?shown, method = m.code, code = %format_args!("4.{:02}", code & 0x1f), count, "request outside the token's scope answered, not delivered");
        }
        self.answer(&req, code, text, buf)
    }
}
