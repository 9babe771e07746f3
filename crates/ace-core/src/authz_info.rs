//! The payload of C's `POST /authz-info` to the RS (RFC 9200 §5.10.1) in
//! this profile.
//!
//! This profile sends a CBOR map
//!
//! ```text
//! { 1 => bstr,          ; access_token (RFC 9200 Table 5)
//!   ? -65537 => uint,   ; esp_udp_port: where C receives ESP-in-UDP (RFC 3948)
//!   ? -65539 => true }  ; ike_rs_initiates (IKEv2 tokens only, see below)
//! ```
//!
//! so that the RS learns where to send the protected 2.01 of Direct
//! Provisioning (draft-aragon-ace-ipsec-profile-01 §3.3.1) when C sits
//! behind a NAT; absent, [`crate::labels::DEFAULT_ESP_UDP_PORT`] (4500)
//! applies. For compatibility with the plain RFC 9200 §5.10.1 form, the
//! decoder also accepts a payload that *is* the token: a CBOR byte string
//! holding it, or the bare COSE structure (`application/cwt`, a tagged or
//! untagged COSE array), whose bytes are then taken whole as the token.
//!
//! With EDHOC as the key management method (draft Appendix B.2, Figure 10)
//! the same map also carries EDHOC message_1 ([`AuthzInfoEdhoc`]):
//!
//! ```text
//! { 1 => bstr,          ; access_token
//!   ? -65537 => uint,   ; esp_udp_port
//!   -65538 => bstr }    ; edhoc_message_1 (RFC 9528 §5.2.1, no `true` prefix)
//! ```
//!
//! [`AuthzInfoUpload::from_cbor`] tells the two apart.
//!
//! With IKEv2 (`kmp` = ikev2, draft §3.2.2/§3.2.3) C may add
//! `ike_rs_initiates` = `true`: the RS then starts IKE_SA_INIT towards C's
//! `esp_udp_port` as the acknowledgement of the token (the literal reading
//! of the draft's Figure 8) instead of waiting for C's. Only `true` is
//! valid; leave the key out for the default (C starts).

use ciborium::value::Value;

use crate::cbor::{self, uint, MapReader, MapWriter};
use crate::error::DecodeError;
use crate::labels::{param as p, DEFAULT_ESP_UDP_PORT};

/// Longest EDHOC message_1 accepted in an upload: lakers 0.8's message
/// buffer (`MAX_MESSAGE_SIZE_LEN`, 192 bytes without its `max_*` features).
pub const MAX_EDHOC_MESSAGE_1: usize = lakers_shared::MAX_MESSAGE_SIZE_LEN;

/// `POST /authz-info` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzInfoRequest {
    /// The access token (a CWT).
    pub access_token: Vec<u8>,
    /// UDP port on which C receives ESP-in-UDP; `None` means 4500.
    pub esp_udp_port: Option<u16>,
    /// IKEv2 tokens: C asks the RS to start IKE_SA_INIT (`-65539: true`).
    pub ike_rs_initiates: bool,
}

impl AuthzInfoRequest {
    /// A token with C's ESP-in-UDP port (and C starting IKEv2, if any).
    pub fn new(access_token: Vec<u8>, esp_udp_port: Option<u16>) -> Self {
        AuthzInfoRequest {
            access_token,
            esp_udp_port,
            ike_rs_initiates: false,
        }
    }

    /// The port to use: `esp_udp_port` or 4500 (RFC 3948 §2).
    pub fn esp_udp_port_or_default(&self) -> u16 {
        self.esp_udp_port.unwrap_or(DEFAULT_ESP_UDP_PORT)
    }

    /// The CBOR map (always the map form).
    pub fn to_value(&self) -> Value {
        let mut m = MapWriter::new();
        m.put(p::ACCESS_TOKEN, Value::Bytes(self.access_token.clone()))
            .put_opt(
                p::ESP_UDP_PORT,
                self.esp_udp_port.map(|v| uint(u64::from(v))),
            )
            .put_opt(
                p::IKE_RS_INITIATES,
                self.ike_rs_initiates.then_some(Value::Bool(true)),
            );
        m.finish()
    }

    /// Encoded payload.
    pub fn to_cbor(&self) -> Vec<u8> {
        cbor::encode(&self.to_value())
    }

    /// Decode from a borrowed CBOR value; [`Self::from_owned_value`] avoids the copy.
    pub fn from_value(value: &Value) -> Result<Self, DecodeError> {
        Self::from_owned_value(value.clone())
    }

    /// Decode the map form or a bstr holding the token. (The bare-COSE form
    /// needs the original bytes: use [`AuthzInfoRequest::from_cbor`].)
    pub fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        match value {
            Value::Bytes(token) => Ok(AuthzInfoRequest::new(token, None)),
            v @ Value::Map(_) => {
                let mut m = MapReader::new(v, "authz-info request")?;
                let access_token = m
                    .bytes(p::ACCESS_TOKEN, "access_token")?
                    .ok_or(DecodeError::MissingField("access_token"))?;
                let esp_udp_port = match m.uint(p::ESP_UDP_PORT, "esp_udp_port")? {
                    None => None,
                    Some(v) => match u16::try_from(v) {
                        Ok(port) if port != 0 => Some(port),
                        _ => {
                            return Err(DecodeError::invalid(
                                "esp_udp_port",
                                "not a UDP port (1..=65535)",
                            ))
                        }
                    },
                };
                let ike_rs_initiates = match m.take(p::IKE_RS_INITIATES) {
                    None => false,
                    Some(Value::Bool(true)) => true,
                    Some(_) => {
                        return Err(DecodeError::invalid(
                            "ike_rs_initiates",
                            "only `true` is valid (leave it out otherwise)",
                        ))
                    }
                };
                Ok(AuthzInfoRequest {
                    access_token,
                    esp_udp_port,
                    ike_rs_initiates,
                })
            }
            _ => Err(DecodeError::wrong_type("authz-info request", "map or bstr")),
        }
    }

    /// Decode a payload: the map form, a bstr holding the token, or the
    /// bare token (a COSE array, tagged or not).
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, DecodeError> {
        match cbor::decode(bytes)? {
            Value::Tag(..) | Value::Array(_) => Ok(AuthzInfoRequest::new(bytes.to_vec(), None)),
            v => Self::from_owned_value(v),
        }
    }
}

/// The `POST /authz-info` payload of the EDHOC method (draft Appendix B.2):
/// the token, C's ESP port and EDHOC message_1 in one map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzInfoEdhoc {
    /// The access token (a CWT).
    pub access_token: Vec<u8>,
    /// UDP port on which C receives ESP-in-UDP; `None` means 4500.
    pub esp_udp_port: Option<u16>,
    /// EDHOC message_1 (RFC 9528 §5.2.1), 1 to [`MAX_EDHOC_MESSAGE_1`] bytes.
    pub message_1: Vec<u8>,
}

impl AuthzInfoEdhoc {
    /// The CBOR map `{1: token, ?-65537: port, -65538: message_1}`.
    pub fn to_value(&self) -> Value {
        let mut m = MapWriter::new();
        m.put(p::ACCESS_TOKEN, Value::Bytes(self.access_token.clone()))
            .put_opt(
                p::ESP_UDP_PORT,
                self.esp_udp_port.map(|v| uint(u64::from(v))),
            )
            .put(p::EDHOC_MESSAGE_1, Value::Bytes(self.message_1.clone()));
        m.finish()
    }

    /// Encoded payload.
    pub fn to_cbor(&self) -> Vec<u8> {
        cbor::encode(&self.to_value())
    }

    /// The token part, as the Direct Provisioning upload would carry it.
    pub fn token_request(&self) -> AuthzInfoRequest {
        AuthzInfoRequest::new(self.access_token.clone(), self.esp_udp_port)
    }
}

/// What C posted to `/authz-info`: a token alone, or a token with EDHOC
/// message_1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzInfoUpload {
    /// Any form [`AuthzInfoRequest::from_cbor`] accepts, without message_1.
    Token(AuthzInfoRequest),
    /// The map with `edhoc_message_1` (-65538).
    TokenWithEdhoc(AuthzInfoEdhoc),
}

impl AuthzInfoUpload {
    /// Decode a `/authz-info` payload. A map with `edhoc_message_1` is the
    /// EDHOC form; `edhoc_message_1` must then be a non-empty bstr of at most
    /// [`MAX_EDHOC_MESSAGE_1`] bytes. Everything else decodes as
    /// [`AuthzInfoRequest::from_cbor`] does.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, DecodeError> {
        let v = cbor::decode(bytes)?;
        let message_1 = match &v {
            Value::Map(entries) => entries.iter().find_map(|(k, val)| {
                (cbor::as_i128(k) == Some(i128::from(p::EDHOC_MESSAGE_1))).then_some(val)
            }),
            _ => None,
        };
        let Some(m1) = message_1 else {
            return match v {
                Value::Tag(..) | Value::Array(_) => Ok(AuthzInfoUpload::Token(
                    AuthzInfoRequest::new(bytes.to_vec(), None),
                )),
                v => AuthzInfoRequest::from_owned_value(v).map(AuthzInfoUpload::Token),
            };
        };
        let message_1 = match m1 {
            Value::Bytes(b) if !b.is_empty() && b.len() <= MAX_EDHOC_MESSAGE_1 => b.clone(),
            Value::Bytes(_) => {
                return Err(DecodeError::invalid(
                    "edhoc_message_1",
                    "empty or longer than the EDHOC implementation accepts",
                ))
            }
            _ => return Err(DecodeError::wrong_type("edhoc_message_1", "bstr")),
        };
        // The rest is the plain map form (its reader rejects duplicate keys
        // and ignores -65538).
        let r = AuthzInfoRequest::from_owned_value(v)?;
        if r.ike_rs_initiates {
            return Err(DecodeError::invalid(
                "ike_rs_initiates",
                "meaningless beside edhoc_message_1",
            ));
        }
        Ok(AuthzInfoUpload::TokenWithEdhoc(AuthzInfoEdhoc {
            access_token: r.access_token,
            esp_udp_port: r.esp_udp_port,
            message_1,
        }))
    }
}
