//! RFC 7296 §3.13: the Traffic Selector payloads (TSi and TSr) and §3.13.1
//! the selectors.
//!
//! ```text
//! | Number of TSs |                 RESERVED                      |
//! ~                       <Traffic Selectors>                     ~
//!
//! |   TS Type     |IP Protocol ID*|       Selector Length         |
//! |           Start Port*         |           End Port*           |
//! ~                         Starting Address*                     ~
//! ~                         Ending Address*                       ~
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::consts::{
    TsType, TS_ANY_PROTOCOL, TS_HEADER_LEN, TS_IPV4_LEN, TS_IPV6_LEN, TS_PAYLOAD_HEADER_LEN,
};
use crate::error::{EmitError, ParseError};
use crate::wire::{len_u8, Reader};

/// The address range of a selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsRange {
    /// TS_IPV4_ADDR_RANGE: inclusive start and end.
    V4(Ipv4Addr, Ipv4Addr),
    /// TS_IPV6_ADDR_RANGE: inclusive start and end.
    V6(Ipv6Addr, Ipv6Addr),
}

/// One Traffic Selector (RFC 7296 §3.13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficSelector {
    /// IP Protocol ID (0: any).
    pub ip_protocol: u8,
    /// Start Port (0 with end 65535: any; for ICMP, type and code).
    pub start_port: u16,
    /// End Port.
    pub end_port: u16,
    /// Addresses.
    pub range: TsRange,
}

impl TrafficSelector {
    /// Every IPv4 address, protocol and port.
    pub fn any_v4() -> Self {
        TrafficSelector {
            ip_protocol: TS_ANY_PROTOCOL,
            start_port: 0,
            end_port: u16::MAX,
            range: TsRange::V4(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST),
        }
    }

    /// One IPv4 host, any protocol and port (transport mode between two
    /// hosts).
    pub fn host_v4(addr: Ipv4Addr) -> Self {
        TrafficSelector {
            range: TsRange::V4(addr, addr),
            ..Self::any_v4()
        }
    }

    /// One host of either family, any protocol and port.
    pub fn host(addr: std::net::IpAddr) -> Self {
        let range = match addr {
            std::net::IpAddr::V4(a) => TsRange::V4(a, a),
            std::net::IpAddr::V6(a) => TsRange::V6(a, a),
        };
        TrafficSelector {
            range,
            ..Self::any_v4()
        }
    }

    /// The TS Type of this selector.
    pub fn ts_type(&self) -> TsType {
        match self.range {
            TsRange::V4(..) => TsType::TS_IPV4_ADDR_RANGE,
            TsRange::V6(..) => TsType::TS_IPV6_ADDR_RANGE,
        }
    }

    /// Selector Length.
    pub fn buffer_len(&self) -> usize {
        match self.range {
            TsRange::V4(..) => TS_IPV4_LEN,
            TsRange::V6(..) => TS_IPV6_LEN,
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, ParseError> {
        let ts_type = TsType(r.u8()?);
        let ip_protocol = r.u8()?;
        let length = usize::from(r.u16()?);
        let expected = match ts_type {
            TsType::TS_IPV4_ADDR_RANGE => TS_IPV4_LEN,
            TsType::TS_IPV6_ADDR_RANGE => TS_IPV6_LEN,
            other => return Err(ParseError::UnsupportedTsType(other.0)),
        };
        if length != expected {
            return Err(ParseError::BadLength {
                what: "Selector Length",
                length,
                available: expected,
            });
        }
        let start_port = r.u16()?;
        let end_port = r.u16()?;
        let range = if ts_type == TsType::TS_IPV4_ADDR_RANGE {
            TsRange::V4(
                Ipv4Addr::from(r.array::<4>()?),
                Ipv4Addr::from(r.array::<4>()?),
            )
        } else {
            TsRange::V6(
                Ipv6Addr::from(r.array::<16>()?),
                Ipv6Addr::from(r.array::<16>()?),
            )
        };
        Ok(TrafficSelector {
            ip_protocol,
            start_port,
            end_port,
            range,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.ts_type().0);
        out.push(self.ip_protocol);
        // 16 or 40: always fits.
        out.extend_from_slice(&(self.buffer_len() as u16).to_be_bytes());
        out.extend_from_slice(&self.start_port.to_be_bytes());
        out.extend_from_slice(&self.end_port.to_be_bytes());
        match self.range {
            TsRange::V4(a, b) => {
                out.extend_from_slice(&a.octets());
                out.extend_from_slice(&b.octets());
            }
            TsRange::V6(a, b) => {
                out.extend_from_slice(&a.octets());
                out.extend_from_slice(&b.octets());
            }
        }
    }
}

/// A TSi or TSr payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsRepr {
    /// The selectors.
    pub selectors: Vec<TrafficSelector>,
}

impl TsRepr {
    /// Parses the body: exactly Number of TSs selectors, each with the
    /// Selector Length of its type, filling the payload.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body, "TS payload");
        let announced = usize::from(r.u8()?);
        let _reserved = r.bytes(3)?;
        let mut selectors = Vec::with_capacity(announced);
        let mut sr = Reader::new(r.rest(), "Traffic Selector");
        while !sr.is_empty() {
            if sr.remaining() < TS_HEADER_LEN {
                return Err(ParseError::Truncated {
                    what: "Traffic Selector",
                    need: TS_HEADER_LEN,
                    have: sr.remaining(),
                });
            }
            selectors.push(TrafficSelector::parse(&mut sr)?);
        }
        if selectors.len() != announced {
            return Err(ParseError::TsCountMismatch {
                announced,
                found: selectors.len(),
            });
        }
        Ok(TsRepr { selectors })
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        TS_PAYLOAD_HEADER_LEN
            + self
                .selectors
                .iter()
                .map(TrafficSelector::buffer_len)
                .sum::<usize>()
    }

    /// Appends the body.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        out.push(len_u8(self.selectors.len(), "Number of TSs")?);
        out.extend_from_slice(&[0, 0, 0]);
        for s in &self.selectors {
            s.emit(out);
        }
        Ok(())
    }
}
