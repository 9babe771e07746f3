//! The payload of C's `POST /authz-info` to the RS (RFC 9200 §5.10.1) in
//! this profile.
//!
//! This profile sends a CBOR map
//!
//! ```text
//! { 1 => bstr,          ; access_token (RFC 9200 Table 5)
//!   ? -65537 => uint }  ; esp_udp_port: where C receives ESP-in-UDP (RFC 3948)
//! ```
//!
//! so that the RS learns where to send the protected 2.01 of Direct
//! Provisioning (draft-aragon-ace-ipsec-profile-01 §3.3.1) when C sits
//! behind a NAT; absent, [`crate::labels::DEFAULT_ESP_UDP_PORT`] (4500)
//! applies. For compatibility with the plain RFC 9200 §5.10.1 form, the
//! decoder also accepts a payload that *is* the token: a CBOR byte string
//! holding it, or the bare COSE structure (`application/cwt`, a tagged or
//! untagged COSE array), whose bytes are then taken whole as the token.

use ciborium::value::Value;

use crate::cbor::{self, uint, MapReader, MapWriter};
use crate::error::DecodeError;
use crate::labels::{param as p, DEFAULT_ESP_UDP_PORT};

/// `POST /authz-info` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzInfoRequest {
    /// The access token (a CWT).
    pub access_token: Vec<u8>,
    /// UDP port on which C receives ESP-in-UDP; `None` means 4500.
    pub esp_udp_port: Option<u16>,
}

impl AuthzInfoRequest {
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
            Value::Bytes(token) => Ok(AuthzInfoRequest {
                access_token: token,
                esp_udp_port: None,
            }),
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
                Ok(AuthzInfoRequest {
                    access_token,
                    esp_udp_port,
                })
            }
            _ => Err(DecodeError::wrong_type("authz-info request", "map or bstr")),
        }
    }

    /// Decode a payload: the map form, a bstr holding the token, or the
    /// bare token (a COSE array, tagged or not).
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, DecodeError> {
        match cbor::decode(bytes)? {
            Value::Tag(..) | Value::Array(_) => Ok(AuthzInfoRequest {
                access_token: bytes.to_vec(),
                esp_udp_port: None,
            }),
            v => Self::from_owned_value(v),
        }
    }
}
