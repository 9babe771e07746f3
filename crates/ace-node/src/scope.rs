//! What an access token grants on a Resource Server, and the one rule that
//! decides a request against it (draft §3.3): 4.03 when the token does not
//! cover the resource, 4.05 when it covers the resource but not the method.
//! The RS applies it to the requests it serves itself, and the transparent
//! mode's filter ([`crate::scope_filter`]) to the requests it lets through
//! to an unmodified server.

use std::sync::Arc;

/// The (path, AIF method bits) entries a token grants on this RS (RFC 9237
/// §2: bit `1 << (code - 1)` for method code 0.0x).
pub type Grants = Arc<[(String, u64)]>;

/// The outcome of [`decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeDecision {
    /// The token covers resource and method.
    Granted,
    /// draft §3.3: the token does not cover the resource → 4.03 Forbidden.
    NotResource,
    /// draft §3.3: the token covers the resource but not the method →
    /// 4.05 Method Not Allowed.
    NotMethod,
}

/// The AIF bit of a CoAP method code (0.01 GET → 1, …, 0.07 iPATCH → 64);
/// 0 for codes AIF has no bit for (no grant covers them).
pub fn aif_bit(method_code: u8) -> u64 {
    match method_code {
        1..=7 => 1 << (method_code - 1),
        _ => 0,
    }
}

/// Decides a request for `path` with AIF method bit `method` against the
/// token's `grants` (entries for the same path add up).
pub fn decide(grants: &[(String, u64)], path: &str, method: u64) -> ScopeDecision {
    let mut covered = false;
    for (p, m) in grants {
        if p == path {
            if m & method != 0 {
                return ScopeDecision::Granted;
            }
            covered = true;
        }
    }
    if covered {
        ScopeDecision::NotMethod
    } else {
        ScopeDecision::NotResource
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: u64 = 1;
    const PUT: u64 = 4;

    #[test]
    fn forbidden_resource_then_forbidden_method() {
        let g = [("/time".to_string(), GET), ("/led".to_string(), GET)];
        assert_eq!(decide(&g, "/time", GET), ScopeDecision::Granted);
        assert_eq!(decide(&g, "/time", PUT), ScopeDecision::NotMethod);
        assert_eq!(decide(&g, "/other", GET), ScopeDecision::NotResource);
        assert_eq!(decide(&g, "/time/", GET), ScopeDecision::NotResource);
        assert_eq!(decide(&[], "/time", GET), ScopeDecision::NotResource);
    }

    #[test]
    fn entries_for_one_path_add_up() {
        let g = [("/led".to_string(), GET), ("/led".to_string(), PUT)];
        assert_eq!(decide(&g, "/led", PUT), ScopeDecision::Granted);
        assert_eq!(decide(&g, "/led", aif_bit(4)), ScopeDecision::NotMethod);
    }

    #[test]
    fn unknown_method_codes_have_no_bit() {
        assert_eq!(aif_bit(1), GET);
        assert_eq!(aif_bit(3), PUT);
        assert_eq!(aif_bit(7), 64);
        for code in [0, 8, 31, 255] {
            assert_eq!(aif_bit(code), 0);
        }
        let g = [("/x".to_string(), u64::MAX)];
        assert_eq!(decide(&g, "/x", aif_bit(8)), ScopeDecision::NotMethod);
    }
}
