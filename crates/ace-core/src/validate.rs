//! Claim checks of the RS on an opened token (RFC 9200 §5.10.1.1), and the
//! CoAP code each failure is answered with at `/authz-info`.

use thiserror::Error;

use crate::cwt::Claims;
use crate::error::CoapCode;
use crate::labels::ace_profile;

/// Why a token with a valid security wrapper is still not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenInvalid {
    /// `exp` is not in the future.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `aud` does not name this RS.
    #[error("token is for another audience")]
    WrongAudience,
    /// `iss` does not name the AS whose key protected the token.
    #[error("token issued by another AS")]
    WrongIssuer,
    /// A claim this profile needs is absent.
    #[error("token lacks the {0} claim")]
    MissingClaim(&'static str),
    /// `ace_profile` names another profile than `coap_ipsec`.
    #[error("token is for ACE profile {0}, not coap_ipsec")]
    WrongProfile(i64),
}

impl TokenInvalid {
    /// CoAP code for the authz-info answer (RFC 9200 §5.10.1.1): 4.01 for a
    /// wrong issuer or an expired token (and, by the same reasoning, a token
    /// not yet valid); 4.03 for a wrong audience; 4.00 for a token whose
    /// claims the RS cannot use (missing claims, wrong profile: RFC 9200 uses
    /// 4.00 for claims it cannot obtain or a scope it does not recognise).
    pub fn coap_code(&self) -> CoapCode {
        match self {
            TokenInvalid::WrongIssuer | TokenInvalid::Expired | TokenInvalid::NotYetValid => {
                CoapCode::UNAUTHORIZED
            }
            TokenInvalid::WrongAudience => CoapCode::FORBIDDEN,
            TokenInvalid::MissingClaim(_) | TokenInvalid::WrongProfile(_) => CoapCode::BAD_REQUEST,
        }
    }
}

/// Check the claims of an opened token, in the priority order of RFC 9200
/// §5.10.1.1 (`iss`, `exp`, `aud`, then the rest):
///
/// * `iss`, when `expected_iss` is given, must be present and equal it;
/// * `exp` must be after `now` (unix seconds); a token without `exp` must
///   carry `exi` (RFC 9200 §5.10.3), whose counter is the caller's job;
/// * `nbf`, if present, must not be after `now`;
/// * `aud` must be present and equal `expected_aud`;
/// * `scope` and `cnf` must be present (this profile's tokens are
///   proof-of-possession tokens with a scope);
/// * `ace_profile`, if present, must be `coap_ipsec`; absent, the profile is
///   implicit (RFC 9200 §5.8.2).
pub fn validate_claims(
    claims: &Claims,
    now: u64,
    expected_aud: &str,
    expected_iss: Option<&str>,
) -> Result<(), TokenInvalid> {
    // An RS that names its AS accepts only tokens that name it too.
    if let Some(want) = expected_iss {
        if claims.iss.as_deref() != Some(want) {
            return Err(TokenInvalid::WrongIssuer);
        }
    }
    match (claims.exp, claims.exi) {
        (Some(exp), _) if now >= exp => return Err(TokenInvalid::Expired),
        (None, None) => return Err(TokenInvalid::MissingClaim("exp")),
        _ => {}
    }
    if let Some(nbf) = claims.nbf {
        if now < nbf {
            return Err(TokenInvalid::NotYetValid);
        }
    }
    match claims.aud.as_deref() {
        None => return Err(TokenInvalid::MissingClaim("aud")),
        Some(aud) if aud != expected_aud => return Err(TokenInvalid::WrongAudience),
        Some(_) => {}
    }
    if claims.scope.is_none() {
        return Err(TokenInvalid::MissingClaim("scope"));
    }
    if claims.cnf.is_none() {
        return Err(TokenInvalid::MissingClaim("cnf"));
    }
    match claims.ace_profile {
        Some(p) if p != ace_profile::COAP_IPSEC => Err(TokenInvalid::WrongProfile(p)),
        _ => Ok(()),
    }
}
