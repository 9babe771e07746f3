//! A wire tap: what a node sent and received, with sizes, for the demo's
//! transcript and for tests. Off unless enabled; never records key material
//! (ESP bytes are ciphertext; plain CoAP is what was on the wire anyway).

use std::net::SocketAddr;

use crate::node::PairId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// One datagram seen by a node.
#[derive(Clone, Debug)]
pub struct TapRecord {
    pub dir: Direction,
    pub peer: SocketAddr,
    /// Bytes of the UDP payload on the wire (plain CoAP, or the whole ESP packet).
    pub wire_len: usize,
    /// Bytes of the CoAP message inside.
    pub coap_len: usize,
    /// The SA pair for ESP, None for plain CoAP.
    pub pair: Option<PairId>,
    /// "CON POST /token", "ACK 2.01", … parsed from the CoAP message.
    pub summary: String,
    /// The datagram itself, for outbound ESP when capture is on (ciphertext only).
    pub bytes: Option<Vec<u8>>,
}

impl TapRecord {
    pub fn plain(dir: Direction, peer: SocketAddr, coap: &[u8]) -> Self {
        TapRecord {
            dir,
            peer,
            wire_len: coap.len(),
            coap_len: coap.len(),
            pair: None,
            summary: summarize(coap),
            bytes: None,
        }
    }
    /// An IKEv2 message on the ESP-in-UDP port (behind the 4-octet non-ESP
    /// marker): "IKEv2 IKE_AUTH request #1".
    pub fn ike(dir: Direction, peer: SocketAddr, msg: &[u8]) -> Self {
        let summary = match ikev2::HeaderRepr::parse(msg) {
            Ok(h) => format!(
                "IKEv2 {} {} #{}",
                exchange_name(h.exchange_type),
                if h.response { "response" } else { "request" },
                h.message_id
            ),
            Err(_) => "IKEv2 (malformed)".to_string(),
        };
        TapRecord {
            dir,
            peer,
            wire_len: msg.len() + 4,
            coap_len: 0,
            pair: None,
            summary,
            bytes: None,
        }
    }
    pub fn esp(
        dir: Direction,
        peer: SocketAddr,
        wire_len: usize,
        coap: &[u8],
        pair: Option<PairId>,
    ) -> Self {
        TapRecord {
            dir,
            peer,
            wire_len,
            coap_len: coap.len(),
            pair,
            summary: summarize(coap),
            bytes: None,
        }
    }
    /// ESP overhead of this datagram: everything on the wire that is not CoAP
    /// (inner UDP header, ESP header, IV, padding, trailer, ICV). Zero for plain.
    pub fn overhead(&self) -> usize {
        self.wire_len.saturating_sub(self.coap_len)
    }
}

/// Records while enabled, bounded.
#[derive(Default)]
pub struct Tap {
    enabled: bool,
    capture: bool,
    records: Vec<TapRecord>,
}

const TAP_LIMIT: usize = 10_000;

impl Tap {
    pub fn enable(&mut self, on: bool) {
        self.enabled = on;
    }
    /// Also keep the bytes of outbound ESP datagrams (for replay tests and demos).
    pub fn capture_esp(&mut self, on: bool) {
        self.capture = on;
    }
    pub fn capturing(&self) -> bool {
        self.enabled && self.capture
    }
    pub fn record(&mut self, r: TapRecord) {
        if self.enabled && self.records.len() < TAP_LIMIT {
            self.records.push(r);
        }
    }
    pub fn take(&mut self) -> Vec<TapRecord> {
        std::mem::take(&mut self.records)
    }
}

/// A one-line description of a CoAP message, for transcripts.
pub fn summarize(coap: &[u8]) -> String {
    use coap_lite::{MessageClass, MessageType, Packet};
    let Ok(p) = Packet::from_bytes(coap) else {
        return format!("<{} bytes, not CoAP>", coap.len());
    };
    let t = match p.header.get_type() {
        MessageType::Confirmable => "CON",
        MessageType::NonConfirmable => "NON",
        MessageType::Acknowledgement => "ACK",
        MessageType::Reset => "RST",
    };
    match p.header.code {
        MessageClass::Empty => format!("{t} (empty)"),
        MessageClass::Request(m) => {
            let path: Vec<String> = p
                .get_option(coap_lite::CoapOption::UriPath)
                .map(|segs| {
                    segs.iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect()
                })
                .unwrap_or_default();
            format!("{t} {:?} /{}", m, path.join("/"))
                .replace("Get", "GET")
                .replace("Post", "POST")
                .replace("Put", "PUT")
                .replace("Delete", "DELETE")
        }
        MessageClass::Response(_) => {
            let raw: u8 = p.header.code.into();
            format!("{t} {}.{:02}", raw >> 5, raw & 0x1f)
        }
        MessageClass::Reserved(c) => format!("{t} reserved {c}"),
    }
}

fn exchange_name(t: ikev2::ExchangeType) -> &'static str {
    match t {
        ikev2::ExchangeType::IKE_SA_INIT => "IKE_SA_INIT",
        ikev2::ExchangeType::IKE_AUTH => "IKE_AUTH",
        ikev2::ExchangeType::CREATE_CHILD_SA => "CREATE_CHILD_SA",
        ikev2::ExchangeType::INFORMATIONAL => "INFORMATIONAL",
        _ => "other exchange",
    }
}
