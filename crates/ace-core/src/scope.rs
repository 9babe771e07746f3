//! The `scope` parameter and claim: text scopes (RFC 6749 §3.3) and AIF
//! scopes (RFC 9237), and the two checks built on them: the RS's access
//! decision (draft-aragon-ace-ipsec-profile-01 §3.3: 4.03 for a resource the
//! token does not cover, 4.05 for a method it does not cover) and the AS's
//! grant (requested ∩ allowed, `invalid_scope` if empty).
//!
//! # Encoding
//!
//! RFC 9200 §5.8.1 and §5.10 let `scope` be a text string (space-separated
//! scope tokens) or a byte string whose syntax is "left to profiles or
//! applications". RFC 9237 defines the AIF data model (an array of
//! `[local-path: tstr, REST-method-set: uint]`) and its media type
//! `application/aif+cbor`, but not how it sits in `scope`. This profile
//! reads RFC 9200 literally: an AIF scope is a **byte string wrapping the
//! CBOR encoding of the AIF array** (`bstr .cbor AIF-REST`), the form the
//! later ACE profiles that use AIF (e.g. RFC 9594) adopt. A bare CBOR array
//! in place of the byte string is accepted on decode, never emitted.

use ciborium::value::Value;

use crate::cbor::{self, uint};
use crate::error::DecodeError;
use crate::labels::aif_method;

/// One AIF entry (RFC 9237 §3): a resource path local to the RS and the set
/// of REST methods allowed on it (bit `1 << (CoAP method code - 1)`, see
/// [`crate::labels::aif_method`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AifEntry {
    /// URI-local-part, an absolute path such as `/s/temp`.
    pub path: String,
    /// REST-method-set bits.
    pub methods: u64,
}

impl AifEntry {
    /// Build an entry.
    pub fn new(path: impl Into<String>, methods: u64) -> Self {
        AifEntry {
            path: path.into(),
            methods,
        }
    }
}

/// A scope as carried in a token request, a token response, the AS Request
/// Creation Hints and the access token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Space-separated scope tokens (RFC 6749 §3.3); the RS maps each token
    /// to resources and methods through its configuration.
    Text(String),
    /// AIF-CoAP entries (RFC 9237 §3).
    Aif(Vec<AifEntry>),
}

/// Result of checking a request against a scope (draft §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The scope covers the resource and the method.
    Granted,
    /// The scope does not cover the resource: answer 4.03 (Forbidden).
    WrongResource,
    /// The scope covers the resource but not the method: answer 4.05
    /// (Method Not Allowed).
    WrongMethod,
}

/// How the RS turns a text scope token into AIF entries (its configuration).
/// Closures `Fn(&str) -> Option<(String, u64)>` implement it for the simple
/// one-token-one-resource case.
pub trait ScopeResolver {
    /// Entries granted by one scope token; empty if the token is unknown.
    fn resolve(&self, token: &str) -> Vec<AifEntry>;
}

impl<F> ScopeResolver for F
where
    F: Fn(&str) -> Option<(String, u64)>,
{
    fn resolve(&self, token: &str) -> Vec<AifEntry> {
        self(token)
            .map(|(path, methods)| vec![AifEntry { path, methods }])
            .unwrap_or_default()
    }
}

/// A resolver that knows no text scope token (for an RS that only uses AIF).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTextScopes;

impl ScopeResolver for NoTextScopes {
    fn resolve(&self, _token: &str) -> Vec<AifEntry> {
        Vec::new()
    }
}

/// AIF method bit of a CoAP request method code (0.01 GET … 0.07 iPATCH),
/// RFC 9237 §3: `1 << (code - 1)`. `None` for a code that is not a request
/// method (class ≠ 0 or detail 0 / > 31).
pub fn method_bit_from_coap_code(code: u8) -> Option<u64> {
    let class = code >> 5;
    let detail = code & 0x1f;
    if class != 0 || detail == 0 {
        return None;
    }
    Some(1u64 << (detail - 1))
}

fn is_scope_token_char(c: char) -> bool {
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

fn normalize_path(p: &str) -> &str {
    p.strip_prefix('/').unwrap_or(p)
}

impl Scope {
    /// A text scope from tokens, checked against RFC 6749 §3.3.
    pub fn text<I, S>(tokens: I) -> Result<Self, DecodeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = tokens
            .into_iter()
            .map(|t| t.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join(" ");
        Self::parse_text(joined)
    }

    /// Validate a text scope: one or more scope tokens separated by single
    /// spaces (RFC 6749 §3.3).
    pub fn parse_text(s: String) -> Result<Self, DecodeError> {
        if s.is_empty()
            || s.split(' ')
                .any(|t| t.is_empty() || !t.chars().all(is_scope_token_char))
        {
            return Err(DecodeError::invalid(
                "scope",
                "not a space-separated list of RFC 6749 scope tokens",
            ));
        }
        Ok(Scope::Text(s))
    }

    /// The scope tokens of a text scope (empty iterator for AIF).
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        let s = match self {
            Scope::Text(s) => s.as_str(),
            Scope::Aif(_) => "",
        };
        s.split(' ').filter(|t| !t.is_empty())
    }

    /// The AIF entries this scope grants: the entries themselves, or the
    /// resolved text tokens.
    pub fn entries<R: ScopeResolver + ?Sized>(&self, resolver: &R) -> Vec<AifEntry> {
        match self {
            Scope::Aif(e) => e.clone(),
            Scope::Text(_) => self.tokens().flat_map(|t| resolver.resolve(t)).collect(),
        }
    }

    /// Does this scope allow `method_bit` (see [`crate::labels::aif_method`]
    /// or [`method_bit_from_coap_code`]) on `path`? Paths compare exactly,
    /// except that a leading `/` is optional on either side. Permissions of
    /// several entries for the same path add up (RFC 9237 §3).
    pub fn covers<R: ScopeResolver + ?Sized>(
        &self,
        path: &str,
        method_bit: u64,
        resolver: &R,
    ) -> Access {
        let wanted = normalize_path(path);
        let mut found = false;
        let mut methods = 0u64;
        for e in self.entries(resolver) {
            if normalize_path(&e.path) == wanted {
                found = true;
                methods |= e.methods;
            }
        }
        if !found {
            Access::WrongResource
        } else if method_bit != 0 && methods & method_bit == method_bit {
            Access::Granted
        } else {
            Access::WrongMethod
        }
    }

    /// The AS's grant: what of `self` (requested) `allowed` (the policy for
    /// this client and audience) permits. Text: the requested tokens also in
    /// `allowed`, in request order. AIF: per requested path, the requested
    /// methods also allowed for that path. `None` when nothing remains, or
    /// when the two scopes are of different kinds: the AS then answers
    /// `invalid_scope` (RFC 6749 §5.2, RFC 9200 §5.8.3).
    pub fn intersect(&self, allowed: &Scope) -> Option<Scope> {
        match (self, allowed) {
            (Scope::Text(_), Scope::Text(_)) => {
                let allowed_tokens: Vec<&str> = allowed.tokens().collect();
                let mut out: Vec<&str> = Vec::new();
                for t in self.tokens() {
                    if allowed_tokens.contains(&t) && !out.contains(&t) {
                        out.push(t);
                    }
                }
                if out.is_empty() {
                    None
                } else {
                    Some(Scope::Text(out.join(" ")))
                }
            }
            (Scope::Aif(req), Scope::Aif(allow)) => {
                let mut out: Vec<AifEntry> = Vec::new();
                for r in req {
                    let permitted = allow
                        .iter()
                        .filter(|a| normalize_path(&a.path) == normalize_path(&r.path))
                        .fold(0u64, |acc, a| acc | a.methods);
                    let m = r.methods & permitted;
                    if m == 0 {
                        continue;
                    }
                    if let Some(existing) = out.iter_mut().find(|e| e.path == r.path) {
                        existing.methods |= m;
                    } else {
                        out.push(AifEntry::new(r.path.clone(), m));
                    }
                }
                if out.is_empty() {
                    None
                } else {
                    Some(Scope::Aif(out))
                }
            }
            _ => None,
        }
    }

    /// Encode: text → tstr; AIF → bstr wrapping the CBOR AIF array.
    pub fn to_value(&self) -> Value {
        match self {
            Scope::Text(s) => Value::Text(s.clone()),
            Scope::Aif(entries) => Value::Bytes(cbor::encode(&aif_array(entries))),
        }
    }

    /// Decode from a borrowed CBOR value; [`Self::from_owned_value`] avoids the copy.
    pub fn from_value(value: &Value) -> Result<Self, DecodeError> {
        Self::from_owned_value(value.clone())
    }

    /// Decode a tstr (validated as RFC 6749 scope tokens), a bstr wrapping
    /// an AIF array, or (leniently) a bare AIF array.
    pub fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        match value {
            Value::Text(s) => Scope::parse_text(s),
            Value::Bytes(b) => {
                let inner = cbor::decode(&b).map_err(|_| {
                    DecodeError::invalid("scope", "byte string is not CBOR-encoded AIF")
                })?;
                aif_from_value(inner).map(Scope::Aif)
            }
            v @ Value::Array(_) => aif_from_value(v).map(Scope::Aif),
            _ => Err(DecodeError::wrong_type("scope", "tstr or bstr")),
        }
    }
}

/// Convenience: all methods of RFC 7252 and RFC 8132 (GET … iPATCH).
pub const ALL_COAP_METHODS: u64 = aif_method::GET
    | aif_method::POST
    | aif_method::PUT
    | aif_method::DELETE
    | aif_method::FETCH
    | aif_method::PATCH
    | aif_method::IPATCH;

fn aif_array(entries: &[AifEntry]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| Value::Array(vec![Value::Text(e.path.clone()), uint(e.methods)]))
            .collect(),
    )
}

fn aif_from_value(v: Value) -> Result<Vec<AifEntry>, DecodeError> {
    let Value::Array(items) = v else {
        return Err(DecodeError::wrong_type("scope (AIF)", "array"));
    };
    let mut out = Vec::with_capacity(items.len().min(64));
    for item in items {
        let Value::Array(pair) = item else {
            return Err(DecodeError::wrong_type("scope (AIF entry)", "[tstr, uint]"));
        };
        let mut it = pair.into_iter();
        let (Some(Value::Text(path)), Some(methods), None) = (it.next(), it.next(), it.next())
        else {
            return Err(DecodeError::wrong_type("scope (AIF entry)", "[tstr, uint]"));
        };
        let methods = cbor::value_to_u64(&methods, "scope (AIF methods)")?;
        out.push(AifEntry { path, methods });
    }
    Ok(out)
}
