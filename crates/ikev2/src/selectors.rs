//! RFC 7296 §2.9: traffic selector narrowing.
//!
//! The responder answers with the intersection of what the initiator
//! proposed and what its policy allows ("the responder is allowed to
//! narrow the choices by selecting a subset of the traffic"); an empty
//! intersection is TS_UNACCEPTABLE. The initiator accepts only an answer
//! that is a subset of its proposal.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::consts::TS_ANY_PROTOCOL;
use crate::payload::{TrafficSelector, TsRange};

/// The intersection of two selectors, if any traffic matches both.
pub fn intersect(a: &TrafficSelector, b: &TrafficSelector) -> Option<TrafficSelector> {
    let ip_protocol = match (a.ip_protocol, b.ip_protocol) {
        (TS_ANY_PROTOCOL, p) | (p, TS_ANY_PROTOCOL) => p,
        (p, q) if p == q => p,
        _ => return None,
    };
    let start_port = a.start_port.max(b.start_port);
    let end_port = a.end_port.min(b.end_port);
    if start_port > end_port {
        return None;
    }
    let range = match (a.range, b.range) {
        (TsRange::V4(s1, e1), TsRange::V4(s2, e2)) => {
            let s = Ipv4Addr::from(u32::from(s1).max(u32::from(s2)));
            let e = Ipv4Addr::from(u32::from(e1).min(u32::from(e2)));
            if u32::from(s) > u32::from(e) {
                return None;
            }
            TsRange::V4(s, e)
        }
        (TsRange::V6(s1, e1), TsRange::V6(s2, e2)) => {
            let s = Ipv6Addr::from(u128::from(s1).max(u128::from(s2)));
            let e = Ipv6Addr::from(u128::from(e1).min(u128::from(e2)));
            if u128::from(s) > u128::from(e) {
                return None;
            }
            TsRange::V6(s, e)
        }
        _ => return None,
    };
    Some(TrafficSelector {
        ip_protocol,
        start_port,
        end_port,
        range,
    })
}

/// Whether every packet `inner` matches also matches `outer`.
pub fn is_subset(inner: &TrafficSelector, outer: &TrafficSelector) -> bool {
    intersect(inner, outer).as_ref() == Some(inner)
}

/// RFC 7296 §2.9 (responder): every non-empty intersection of a proposed
/// selector with a policy selector, without duplicates. Empty: answer
/// TS_UNACCEPTABLE.
pub fn narrow(proposed: &[TrafficSelector], policy: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for p in proposed {
        for q in policy {
            if let Some(x) = intersect(p, q) {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
        }
    }
    out
}

/// RFC 7296 §2.9 (initiator): the responder's selectors must be non-empty
/// and each within one we proposed.
pub fn answer_within(answer: &[TrafficSelector], proposed: &[TrafficSelector]) -> bool {
    !answer.is_empty()
        && answer
            .iter()
            .all(|a| proposed.iter().any(|p| is_subset(a, p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: [u8; 4], e: [u8; 4]) -> TrafficSelector {
        TrafficSelector {
            range: TsRange::V4(s.into(), e.into()),
            ..TrafficSelector::any_v4()
        }
    }

    #[test]
    fn responder_narrows_a_subnet_to_its_host() {
        let proposed = [v4([10, 0, 0, 0], [10, 0, 0, 255])];
        let policy = [TrafficSelector::host_v4(Ipv4Addr::new(10, 0, 0, 7))];
        let n = narrow(&proposed, &policy);
        assert_eq!(
            n,
            vec![TrafficSelector::host_v4(Ipv4Addr::new(10, 0, 0, 7))]
        );
        assert!(answer_within(&n, &proposed));
        assert!(!answer_within(&proposed, &n));
    }

    #[test]
    fn disjoint_selectors_are_unacceptable() {
        let a = [TrafficSelector::host_v4(Ipv4Addr::new(10, 0, 0, 1))];
        let b = [TrafficSelector::host_v4(Ipv4Addr::new(10, 0, 0, 2))];
        assert!(narrow(&a, &b).is_empty());
        let udp = TrafficSelector {
            ip_protocol: 17,
            ..TrafficSelector::any_v4()
        };
        let tcp = TrafficSelector {
            ip_protocol: 6,
            ..TrafficSelector::any_v4()
        };
        assert!(intersect(&udp, &tcp).is_none());
        assert_eq!(intersect(&udp, &TrafficSelector::any_v4()), Some(udp));
    }
}
