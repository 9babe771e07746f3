//! Method and Response Codes (RFC 7252 §12.1, RFC 7959 §2.9, RFC 8132).

use std::fmt;

/// RFC 7252 §12.1.1 (Method Codes) and RFC 8132 §6 (FETCH, PATCH, iPATCH).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// 0.01
    Get,
    /// 0.02
    Post,
    /// 0.03
    Put,
    /// 0.04
    Delete,
    /// 0.05 (RFC 8132)
    Fetch,
    /// 0.06 (RFC 8132)
    Patch,
    /// 0.07 (RFC 8132)
    IPatch,
}

impl Method {
    /// All methods, in code order.
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Fetch,
        Method::Patch,
        Method::IPatch,
    ];

    /// The method code byte (class 0).
    pub const fn code(self) -> u8 {
        match self {
            Method::Get => 0x01,
            Method::Post => 0x02,
            Method::Put => 0x03,
            Method::Delete => 0x04,
            Method::Fetch => 0x05,
            Method::Patch => 0x06,
            Method::IPatch => 0x07,
        }
    }

    /// The method for a code byte, `None` for an unknown method (RFC 7252
    /// §5.8: answered with 4.05 Method Not Allowed).
    pub const fn from_code(code: u8) -> Option<Method> {
        Some(match code {
            0x01 => Method::Get,
            0x02 => Method::Post,
            0x03 => Method::Put,
            0x04 => Method::Delete,
            0x05 => Method::Fetch,
            0x06 => Method::Patch,
            0x07 => Method::IPatch,
            _ => return None,
        })
    }

    /// RFC 9237 §3: the bit of this method in an AIF REST-method set
    /// (GET = 2^0, POST = 2^1, PUT = 2^2, DELETE = 2^3, FETCH = 2^4,
    /// PATCH = 2^5, iPATCH = 2^6).
    pub const fn aif_bit(self) -> u64 {
        1 << (self.code() - 1)
    }

    /// The method name as written in the RFCs ("GET", "iPATCH").
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Fetch => "FETCH",
            Method::Patch => "PATCH",
            Method::IPatch => "iPATCH",
        }
    }

    /// RFC 7252 §5.1 / RFC 8132 §2: safe methods may be repeated freely.
    pub const fn is_safe(self) -> bool {
        matches!(self, Method::Get | Method::Fetch)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! response_codes {
    ($( $(#[$doc:meta])* $name:ident = ($class:literal, $detail:literal), )*) => {
        /// RFC 7252 §12.1.2 (Response Codes), RFC 7959 §2.9 (2.31, 4.08),
        /// RFC 8132 §6 (4.09, 4.22), RFC 8516 (4.29). Unregistered codes
        /// received from a peer are kept as [`ResponseCode::Other`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ResponseCode {
            $( $(#[$doc])* $name, )*
            /// Any other response code byte (class 2, 4 or 5), RFC 7252
            /// §5.9: treated like the generic code of its class.
            Other(u8),
        }

        impl ResponseCode {
            /// The code byte: `class << 5 | detail`.
            pub const fn code(self) -> u8 {
                match self {
                    $( ResponseCode::$name => ($class << 5) | $detail, )*
                    ResponseCode::Other(c) => c,
                }
            }

            /// The response code for a code byte, `None` if the byte is not
            /// of a response class (2, 4, 5).
            pub const fn from_code(code: u8) -> Option<ResponseCode> {
                match code >> 5 {
                    2 | 4 | 5 => {}
                    _ => return None,
                }
                $( if code == ($class << 5) | $detail { return Some(ResponseCode::$name); } )*
                Some(ResponseCode::Other(code))
            }
        }
    };
}

response_codes! {
    /// 2.01
    Created = (2, 1),
    /// 2.02
    Deleted = (2, 2),
    /// 2.03
    Valid = (2, 3),
    /// 2.04
    Changed = (2, 4),
    /// 2.05
    Content = (2, 5),
    /// 2.31 (RFC 7959 §2.9.1)
    Continue = (2, 31),
    /// 4.00
    BadRequest = (4, 0),
    /// 4.01
    Unauthorized = (4, 1),
    /// 4.02
    BadOption = (4, 2),
    /// 4.03
    Forbidden = (4, 3),
    /// 4.04
    NotFound = (4, 4),
    /// 4.05
    MethodNotAllowed = (4, 5),
    /// 4.06
    NotAcceptable = (4, 6),
    /// 4.08 (RFC 7959 §2.9.2)
    RequestEntityIncomplete = (4, 8),
    /// 4.09 (RFC 8132)
    Conflict = (4, 9),
    /// 4.12
    PreconditionFailed = (4, 12),
    /// 4.13
    RequestEntityTooLarge = (4, 13),
    /// 4.15
    UnsupportedContentFormat = (4, 15),
    /// 4.22 (RFC 8132)
    UnprocessableEntity = (4, 22),
    /// 4.29 (RFC 8516)
    TooManyRequests = (4, 29),
    /// 5.00
    InternalServerError = (5, 0),
    /// 5.01
    NotImplemented = (5, 1),
    /// 5.02
    BadGateway = (5, 2),
    /// 5.03
    ServiceUnavailable = (5, 3),
    /// 5.04
    GatewayTimeout = (5, 4),
    /// 5.05
    ProxyingNotSupported = (5, 5),
}

impl ResponseCode {
    /// The class digit (2, 4 or 5).
    pub const fn class(self) -> u8 {
        self.code() >> 5
    }

    /// The detail (0..=31).
    pub const fn detail(self) -> u8 {
        self.code() & 0x1F
    }

    /// The dotted form used in the RFCs: "2.01", "4.13".
    pub fn as_dotted(self) -> String {
        format!("{}.{:02}", self.class(), self.detail())
    }

    /// Class 2 (Success).
    pub const fn is_success(self) -> bool {
        self.class() == 2
    }

    /// Class 4 or 5.
    pub const fn is_error(self) -> bool {
        self.class() >= 4
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_dotted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aif_bits_follow_rfc9237_order() {
        let bits: Vec<u64> = Method::ALL.iter().map(|m| m.aif_bit()).collect();
        assert_eq!(bits, vec![1, 2, 4, 8, 16, 32, 64]);
    }

    #[test]
    fn dotted_codes() {
        assert_eq!(ResponseCode::Created.as_dotted(), "2.01");
        assert_eq!(ResponseCode::Continue.as_dotted(), "2.31");
        assert_eq!(ResponseCode::RequestEntityIncomplete.code(), 0x88);
        assert_eq!(ResponseCode::RequestEntityTooLarge.as_dotted(), "4.13");
        assert_eq!(ResponseCode::from_code(0x45), Some(ResponseCode::Content));
        assert_eq!(
            ResponseCode::from_code(0x46),
            Some(ResponseCode::Other(0x46))
        );
        assert_eq!(ResponseCode::from_code(0x01), None);
        assert_eq!(ResponseCode::from_code(0x20), None);
        for c in 0..=255u8 {
            if let Some(r) = ResponseCode::from_code(c) {
                assert_eq!(r.code(), c);
            }
        }
    }
}
