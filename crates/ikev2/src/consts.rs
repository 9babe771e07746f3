//! Every wire constant of IKEv2, each defined once next to the RFC section or
//! IANA registry ("Internet Key Exchange Version 2 (IKEv2) Parameters") it
//! comes from.
//!
//! Registries that are open (new values keep being assigned) are newtypes
//! over the wire integer with associated constants, so an unknown value is
//! representable and round-trips unchanged; `Debug` prints the RFC name when
//! the value is known.

/// Defines a newtype over a wire integer with named associated constants, a
/// `name()` giving the registry's name of known values, and a `Debug` that
/// prints that name.
macro_rules! wire_type {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $cname:ident = $value:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $cname: Self = Self($value); )*

            /// The registry's name of this value, if it is one this crate knows.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $value => Some(stringify!($cname)), )*
                    _ => None,
                }
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> $repr {
                v.0
            }
        }
    };
}

// ---------------------------------------------------------------------------
// RFC 7296 §3.1: the IKE header (Figure 4).
// ---------------------------------------------------------------------------

/// RFC 7296 §3.1: the IKE header is 28 octets (two 8-octet SPIs, Next
/// Payload, Version, Exchange Type, Flags, 4-octet Message ID and Length).
pub const IKE_HEADER_LEN: usize = 28;
/// RFC 7296 §3.1: length of each IKE SA Security Parameter Index.
pub const IKE_SPI_LEN: usize = 8;
/// RFC 7296 §3.1: the major version of this protocol. "If an endpoint
/// receives a message with a higher major version number, it MUST drop the
/// message and SHOULD send an unauthenticated Notify message of type
/// INVALID_MAJOR_VERSION".
pub const IKE_MAJOR_VERSION: u8 = 2;
/// RFC 7296 §3.1: senders "MUST set the minor version to 0" (and receivers
/// MUST ignore it).
pub const IKE_MINOR_VERSION: u8 = 0;
/// RFC 7296 §3.1 Flags: bit 3, Initiator ("MUST be set in messages sent by
/// the original initiator of the IKE SA").
pub const FLAG_INITIATOR: u8 = 0x08;
/// RFC 7296 §3.1 Flags: bit 4, Version ("the transmitter is capable of
/// speaking a higher major version number"); MUST be zero in IKEv2.
pub const FLAG_VERSION: u8 = 0x10;
/// RFC 7296 §3.1 Flags: bit 5, Response.
pub const FLAG_RESPONSE: u8 = 0x20;

// ---------------------------------------------------------------------------
// RFC 7296 §3.2: the generic payload header (Figure 5).
// ---------------------------------------------------------------------------

/// RFC 7296 §3.2: Next Payload (1) | C + RESERVED (1) | Payload Length (2).
pub const GENERIC_PAYLOAD_HEADER_LEN: usize = 4;
/// RFC 7296 §3.2: the Critical bit, the most significant bit of the second
/// octet.
pub const PAYLOAD_CRITICAL_BIT: u8 = 0x80;

wire_type! {
    /// IANA "IKEv2 Exchange Types" (RFC 7296 §3.1).
    ExchangeType(u8) {
        /// RFC 7296 §1.2.
        IKE_SA_INIT = 34,
        /// RFC 7296 §1.2.
        IKE_AUTH = 35,
        /// RFC 7296 §1.3.
        CREATE_CHILD_SA = 36,
        /// RFC 7296 §1.4.
        INFORMATIONAL = 37,
        /// RFC 5723.
        IKE_SESSION_RESUME = 38,
        /// RFC 9242.
        IKE_INTERMEDIATE = 43,
        /// RFC 9370.
        IKE_FOLLOWUP_KE = 44,
    }
}

wire_type! {
    /// IANA "IKEv2 Payload Types" (RFC 7296 §3.2).
    PayloadType(u8) {
        /// No Next Payload.
        NONE = 0,
        /// Security Association (RFC 7296 §3.3).
        SA = 33,
        /// Key Exchange (RFC 7296 §3.4).
        KE = 34,
        /// Identification - Initiator (RFC 7296 §3.5).
        IDI = 35,
        /// Identification - Responder (RFC 7296 §3.5).
        IDR = 36,
        /// Certificate (RFC 7296 §3.6).
        CERT = 37,
        /// Certificate Request (RFC 7296 §3.7).
        CERTREQ = 38,
        /// Authentication (RFC 7296 §3.8).
        AUTH = 39,
        /// Nonce (RFC 7296 §3.9).
        NONCE = 40,
        /// Notify (RFC 7296 §3.10).
        NOTIFY = 41,
        /// Delete (RFC 7296 §3.11).
        DELETE = 42,
        /// Vendor ID (RFC 7296 §3.12).
        VENDOR_ID = 43,
        /// Traffic Selector - Initiator (RFC 7296 §3.13).
        TSI = 44,
        /// Traffic Selector - Responder (RFC 7296 §3.13).
        TSR = 45,
        /// Encrypted and Authenticated (RFC 7296 §3.14).
        SK = 46,
        /// Configuration (RFC 7296 §3.15); not interpreted by this crate.
        CP = 47,
        /// Extensible Authentication (RFC 7296 §3.16); not interpreted by this crate.
        EAP = 48,
        /// Encrypted and Authenticated Fragment (RFC 7383 §2.5).
        SKF = 53,
    }
}

// ---------------------------------------------------------------------------
// RFC 7296 §3.3: Security Association payload (Figures 7, 8, 9).
// ---------------------------------------------------------------------------

/// RFC 7296 §3.3.1: Last Substruc value of the last Proposal.
pub const LAST_PROPOSAL: u8 = 0;
/// RFC 7296 §3.3.1: Last Substruc value of a Proposal followed by another.
pub const MORE_PROPOSALS: u8 = 2;
/// RFC 7296 §3.3.2: Last Substruc value of the last Transform.
pub const LAST_TRANSFORM: u8 = 0;
/// RFC 7296 §3.3.2: Last Substruc value of a Transform followed by another.
pub const MORE_TRANSFORMS: u8 = 3;
/// RFC 7296 §3.3.1: Last Substruc (1) | RESERVED (1) | Proposal Length (2) |
/// Proposal Num (1) | Protocol ID (1) | SPI Size (1) | Num Transforms (1).
pub const PROPOSAL_HEADER_LEN: usize = 8;
/// RFC 7296 §3.3.2: Last Substruc (1) | RESERVED (1) | Transform Length (2) |
/// Transform Type (1) | RESERVED (1) | Transform ID (2).
pub const TRANSFORM_HEADER_LEN: usize = 8;
/// RFC 7296 §3.3.5: Attribute Format bit; set, the attribute is TV (2-octet
/// value in place of the length).
pub const ATTRIBUTE_FORMAT_TV: u16 = 0x8000;
/// RFC 7296 §3.3.5: Attribute Type (15 bits) | Attribute Length or Value (2).
pub const ATTRIBUTE_HEADER_LEN: usize = 4;

wire_type! {
    /// IANA "IKEv2 Transform Attribute Types" (RFC 7296 §3.3.5).
    AttributeType(u16) {
        /// Key Length in bits, always TV.
        KEY_LENGTH = 14,
    }
}

wire_type! {
    /// IANA "IKEv2 Security Protocol Identifiers" (RFC 7296 §3.3.1).
    ProtocolId(u8) {
        /// The IKE SA itself.
        IKE = 1,
        /// RFC 4302.
        AH = 2,
        /// RFC 4303.
        ESP = 3,
    }
}

/// RFC 7296 §3.3.1: ESP and AH SPIs are 4 octets.
pub const CHILD_SPI_LEN: usize = 4;

wire_type! {
    /// IANA "IKEv2 Transform Types" (RFC 7296 §3.3.2).
    TransformType(u8) {
        /// Encryption Algorithm (ENCR).
        ENCR = 1,
        /// Pseudorandom Function (PRF).
        PRF = 2,
        /// Integrity Algorithm (INTEG).
        INTEG = 3,
        /// Diffie-Hellman group (D-H), "Key Exchange Method" since RFC 9370.
        DH = 4,
        /// Extended Sequence Numbers (ESN).
        ESN = 5,
    }
}

wire_type! {
    /// IANA "Transform Type 1 - Encryption Algorithm Transform IDs".
    EncrId(u16) {
        /// RFC 2451.
        ENCR_3DES = 3,
        /// RFC 2410 (ESP only).
        ENCR_NULL = 11,
        /// RFC 3602; key length attribute required (128, 192, 256).
        ENCR_AES_CBC = 12,
        /// RFC 3686.
        ENCR_AES_CTR = 13,
        /// RFC 4309 / RFC 5282: AES-CCM with an 8-octet ICV.
        ENCR_AES_CCM_8 = 14,
        /// RFC 4309 / RFC 5282: AES-CCM with a 12-octet ICV.
        ENCR_AES_CCM_12 = 15,
        /// RFC 4309 / RFC 5282: AES-CCM with a 16-octet ICV.
        ENCR_AES_CCM_16 = 16,
        /// RFC 4106 / RFC 5282: AES-GCM with an 8-octet ICV.
        ENCR_AES_GCM_8 = 18,
        /// RFC 4106 / RFC 5282: AES-GCM with a 12-octet ICV.
        ENCR_AES_GCM_12 = 19,
        /// RFC 4106 / RFC 5282: AES-GCM with a 16-octet ICV.
        ENCR_AES_GCM_16 = 20,
        /// RFC 4543 (ESP only).
        ENCR_NULL_AUTH_AES_GMAC = 21,
        /// RFC 7634.
        ENCR_CHACHA20_POLY1305 = 28,
    }
}

wire_type! {
    /// IANA "Transform Type 2 - Pseudorandom Function Transform IDs".
    PrfId(u16) {
        /// RFC 2104.
        PRF_HMAC_MD5 = 1,
        /// RFC 2104.
        PRF_HMAC_SHA1 = 2,
        /// RFC 4434.
        PRF_AES128_XCBC = 4,
        /// RFC 4868.
        PRF_HMAC_SHA2_256 = 5,
        /// RFC 4868.
        PRF_HMAC_SHA2_384 = 6,
        /// RFC 4868.
        PRF_HMAC_SHA2_512 = 7,
        /// RFC 4615.
        PRF_AES128_CMAC = 8,
    }
}

wire_type! {
    /// IANA "Transform Type 3 - Integrity Algorithm Transform IDs".
    IntegId(u16) {
        /// No integrity transform (AEAD ciphers, RFC 5282 §8).
        NONE = 0,
        /// RFC 2404.
        AUTH_HMAC_SHA1_96 = 2,
        /// RFC 3566.
        AUTH_AES_XCBC_96 = 5,
        /// RFC 4868.
        AUTH_HMAC_SHA2_256_128 = 12,
        /// RFC 4868.
        AUTH_HMAC_SHA2_384_192 = 13,
        /// RFC 4868.
        AUTH_HMAC_SHA2_512_256 = 14,
    }
}

wire_type! {
    /// IANA "Transform Type 4 - Diffie-Hellman Group Transform IDs".
    DhGroup(u16) {
        /// No Diffie-Hellman (Child SA without PFS).
        NONE = 0,
        /// RFC 3526: 2048-bit MODP group.
        MODP_2048 = 14,
        /// RFC 5903: 256-bit random ECP group (P-256).
        ECP_256 = 19,
        /// RFC 5903: 384-bit random ECP group (P-384).
        ECP_384 = 20,
        /// RFC 5903: 521-bit random ECP group (P-521).
        ECP_521 = 21,
        /// RFC 8031: Curve25519.
        CURVE25519 = 31,
        /// RFC 8031: Curve448.
        CURVE448 = 32,
    }
}

wire_type! {
    /// IANA "Transform Type 5 - Extended Sequence Numbers Transform IDs".
    EsnId(u16) {
        /// No Extended Sequence Numbers.
        NO_ESN = 0,
        /// Extended Sequence Numbers (RFC 4304).
        ESN = 1,
    }
}

// ---------------------------------------------------------------------------
// RFC 7296 §3.4 - §3.9: KE, ID, CERT, CERTREQ, AUTH, Nonce.
// ---------------------------------------------------------------------------

/// RFC 7296 §3.4: Diffie-Hellman Group Num (2) | RESERVED (2).
pub const KE_HEADER_LEN: usize = 4;
/// RFC 7296 §3.5: ID Type (1) | RESERVED (3).
pub const ID_HEADER_LEN: usize = 4;
/// RFC 7296 §3.6: Cert Encoding (1).
pub const CERT_HEADER_LEN: usize = 1;
/// RFC 7296 §3.8: Auth Method (1) | RESERVED (3).
pub const AUTH_HEADER_LEN: usize = 4;
/// RFC 7296 §3.9: "The size of the Nonce Data MUST be between 16 and 256
/// octets, inclusive."
pub const NONCE_MIN_LEN: usize = 16;
/// RFC 7296 §3.9: upper bound of the Nonce Data.
pub const NONCE_MAX_LEN: usize = 256;

wire_type! {
    /// IANA "IKEv2 Identification Payload ID Types" (RFC 7296 §3.5).
    IdType(u8) {
        /// A single four-octet IPv4 address.
        ID_IPV4_ADDR = 1,
        /// A fully qualified domain name string, no terminator.
        ID_FQDN = 2,
        /// An RFC 822 email address string.
        ID_RFC822_ADDR = 3,
        /// A single sixteen-octet IPv6 address.
        ID_IPV6_ADDR = 5,
        /// A DER-encoded ASN.1 X.500 Distinguished Name.
        ID_DER_ASN1_DN = 9,
        /// A DER-encoded ASN.1 X.509 GeneralName.
        ID_DER_ASN1_GN = 10,
        /// An opaque octet stream (the profile carries the token's `kid` here).
        ID_KEY_ID = 11,
        /// RFC 4595.
        ID_FC_NAME = 12,
        /// RFC 7619: no identity.
        ID_NULL = 13,
    }
}

wire_type! {
    /// IANA "IKEv2 Certificate Encodings" (RFC 7296 §3.6).
    CertEncoding(u8) {
        /// PKCS #7 wrapped X.509 certificate.
        PKCS7_X509 = 1,
        /// PGP Certificate.
        PGP = 2,
        /// DNS Signed Key.
        DNS_SIGNED_KEY = 3,
        /// X.509 Certificate - Signature.
        X509_SIGNATURE = 4,
        /// Kerberos Token.
        KERBEROS_TOKEN = 6,
        /// Certificate Revocation List (CRL).
        CRL = 7,
        /// Authority Revocation List (ARL).
        ARL = 8,
        /// SPKI Certificate.
        SPKI = 9,
        /// X.509 Certificate - Attribute.
        X509_ATTRIBUTE = 10,
        /// Raw RSA Key (deprecated by RFC 7670).
        RAW_RSA_KEY = 11,
        /// Hash and URL of X.509 certificate.
        HASH_URL_X509_CERT = 12,
        /// Hash and URL of X.509 bundle.
        HASH_URL_X509_BUNDLE = 13,
        /// RFC 4806: OCSP Content.
        OCSP_CONTENT = 14,
        /// RFC 7670 §3: Raw Public Key (a DER SubjectPublicKeyInfo).
        RAW_PUBLIC_KEY = 15,
    }
}

wire_type! {
    /// IANA "IKEv2 Authentication Method" (RFC 7296 §3.8).
    AuthMethod(u8) {
        /// RSA Digital Signature (PKCS #1 v1.5 with SHA-1).
        RSA_DIGITAL_SIGNATURE = 1,
        /// Shared Key Message Integrity Code (RFC 7296 §2.15).
        SHARED_KEY_MIC = 2,
        /// DSS Digital Signature.
        DSS_DIGITAL_SIGNATURE = 3,
        /// RFC 4754: ECDSA with SHA-256 on the P-256 curve.
        ECDSA_SHA256_P256 = 9,
        /// RFC 4754: ECDSA with SHA-384 on the P-384 curve.
        ECDSA_SHA384_P384 = 10,
        /// RFC 4754: ECDSA with SHA-512 on the P-521 curve.
        ECDSA_SHA512_P521 = 11,
        /// RFC 7619: NULL Authentication.
        NULL_AUTH = 13,
        /// RFC 7427: Digital Signature (AlgorithmIdentifier in the AUTH data).
        DIGITAL_SIGNATURE = 14,
    }
}

wire_type! {
    /// IANA "IKEv2 Hash Algorithms" (RFC 7427 §4), the payload of the
    /// SIGNATURE_HASH_ALGORITHMS notification (2 octets each).
    HashAlgorithm(u16) {
        /// SHA-1.
        SHA1 = 1,
        /// SHA2-256.
        SHA2_256 = 2,
        /// SHA2-384.
        SHA2_384 = 3,
        /// SHA2-512.
        SHA2_512 = 4,
        /// RFC 8420: Identity (for EdDSA).
        IDENTITY = 5,
    }
}

/// RFC 7296 §2.15: the pad string of the shared-key AUTH computation,
/// `prf(Shared Secret, "Key Pad for IKEv2")`, 17 ASCII octets without a
/// terminator.
pub const KEY_PAD_FOR_IKEV2: &[u8] = b"Key Pad for IKEv2";

// ---------------------------------------------------------------------------
// RFC 7296 §3.10 - §3.13: Notify, Delete, Vendor ID, Traffic Selectors.
// ---------------------------------------------------------------------------

/// RFC 7296 §3.10: Protocol ID (1) | SPI Size (1) | Notify Message Type (2).
pub const NOTIFY_HEADER_LEN: usize = 4;
/// RFC 7296 §3.10.1: types below this value are errors, at or above it
/// status types.
pub const NOTIFY_STATUS_MIN: u16 = 16384;

wire_type! {
    /// IANA "IKEv2 Notify Message Types - Error Types" (0 - 16383) and
    /// "- Status Types" (16384 - 65535), RFC 7296 §3.10.1.
    NotifyType(u16) {
        /// RFC 7296: an unknown payload with the critical bit set.
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        /// RFC 7296.
        INVALID_IKE_SPI = 4,
        /// RFC 7296.
        INVALID_MAJOR_VERSION = 5,
        /// RFC 7296.
        INVALID_SYNTAX = 7,
        /// RFC 7296.
        INVALID_MESSAGE_ID = 9,
        /// RFC 7296.
        INVALID_SPI = 11,
        /// RFC 7296.
        NO_PROPOSAL_CHOSEN = 14,
        /// RFC 7296: data is the 2-octet accepted D-H group.
        INVALID_KE_PAYLOAD = 17,
        /// RFC 7296.
        AUTHENTICATION_FAILED = 24,
        /// RFC 7296.
        SINGLE_PAIR_REQUIRED = 34,
        /// RFC 7296.
        NO_ADDITIONAL_SAS = 35,
        /// RFC 7296.
        INTERNAL_ADDRESS_FAILURE = 36,
        /// RFC 7296.
        FAILED_CP_REQUIRED = 37,
        /// RFC 7296.
        TS_UNACCEPTABLE = 38,
        /// RFC 7296.
        INVALID_SELECTORS = 39,
        /// RFC 7296.
        TEMPORARY_FAILURE = 43,
        /// RFC 7296.
        CHILD_SA_NOT_FOUND = 44,
        /// RFC 7296.
        INITIAL_CONTACT = 16384,
        /// RFC 7296.
        SET_WINDOW_SIZE = 16385,
        /// RFC 7296.
        ADDITIONAL_TS_POSSIBLE = 16386,
        /// RFC 7296.
        IPCOMP_SUPPORTED = 16387,
        /// RFC 7296 §2.23: SHA-1(SPIi | SPIr | IP | port) of the sender.
        NAT_DETECTION_SOURCE_IP = 16388,
        /// RFC 7296 §2.23: SHA-1(SPIi | SPIr | IP | port) of the recipient.
        NAT_DETECTION_DESTINATION_IP = 16389,
        /// RFC 7296 §2.6.
        COOKIE = 16390,
        /// RFC 7296 §1.3.1.
        USE_TRANSPORT_MODE = 16391,
        /// RFC 7296.
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        /// RFC 7296 §1.3.3.
        REKEY_SA = 16393,
        /// RFC 7296.
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        /// RFC 7296.
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        /// RFC 4739.
        MULTIPLE_AUTH_SUPPORTED = 16404,
        /// RFC 4739.
        ANOTHER_AUTH_FOLLOWS = 16405,
        /// RFC 5685.
        REDIRECT_SUPPORTED = 16406,
        /// RFC 7383 §2.3.
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        /// RFC 7427 §4.
        SIGNATURE_HASH_ALGORITHMS = 16431,
    }
}

impl NotifyType {
    /// RFC 7296 §3.10.1: error types are 0 - 16383.
    pub fn is_error(self) -> bool {
        self.0 < NOTIFY_STATUS_MIN
    }
}

/// RFC 7296 §3.11: Protocol ID (1) | SPI Size (1) | Num of SPIs (2).
pub const DELETE_HEADER_LEN: usize = 4;
/// RFC 7296 §3.13: Number of TSs (1) | RESERVED (3).
pub const TS_PAYLOAD_HEADER_LEN: usize = 4;
/// RFC 7296 §3.13.1: TS Type (1) | IP Protocol ID (1) | Selector Length (2) |
/// Start Port (2) | End Port (2).
pub const TS_HEADER_LEN: usize = 8;
/// RFC 7296 §3.13.1: Selector Length of TS_IPV4_ADDR_RANGE (8 + 2 × 4).
pub const TS_IPV4_LEN: usize = 16;
/// RFC 7296 §3.13.1: Selector Length of TS_IPV6_ADDR_RANGE (8 + 2 × 16).
pub const TS_IPV6_LEN: usize = 40;
/// RFC 7296 §3.13.1: IP Protocol ID zero means "any protocol".
pub const TS_ANY_PROTOCOL: u8 = 0;

wire_type! {
    /// IANA "IKEv2 Traffic Selector Types" (RFC 7296 §3.13.1).
    TsType(u8) {
        /// A range of IPv4 addresses.
        TS_IPV4_ADDR_RANGE = 7,
        /// A range of IPv6 addresses.
        TS_IPV6_ADDR_RANGE = 8,
    }
}

// ---------------------------------------------------------------------------
// RFC 7383 §2.5: the Encrypted Fragment payload.
// ---------------------------------------------------------------------------

/// RFC 7383 §2.5: Fragment Number (2) | Total Fragments (2), before the IV.
pub const SKF_HEADER_LEN: usize = 4;

// ---------------------------------------------------------------------------
// RFC 7296 §2.13 / RFC 4868: the PRF.
// ---------------------------------------------------------------------------

/// RFC 4868 §2.1.2: PRF_HMAC_SHA2_256 produces 32 octets, and its preferred
/// key size (SK_d, SK_pi, SK_pr) is 32 octets (RFC 7296 §2.14).
pub const PRF_HMAC_SHA2_256_LEN: usize = 32;
/// RFC 7296 §2.13: the prf+ counter is one octet, 0x01 to 0xff, so prf+
/// yields at most 255 blocks.
pub const PRF_PLUS_MAX_BLOCKS: usize = 255;
/// RFC 4868 §2.1.1: AUTH_HMAC_SHA2_256_128 uses a 32-octet key.
pub const AUTH_HMAC_SHA2_256_128_KEY_LEN: usize = 32;
/// RFC 4868 §2.3: AUTH_HMAC_SHA2_256_128 truncates to 16 octets.
pub const AUTH_HMAC_SHA2_256_128_ICV_LEN: usize = 16;
/// RFC 5282 §7.1 / RFC 4106 §8.1: AES-GCM keying material carries a 4-octet salt.
pub const AES_GCM_SALT_LEN: usize = 4;
/// RFC 5282 §7.1 / RFC 4309 §7.1: AES-CCM keying material carries a 3-octet salt.
pub const AES_CCM_SALT_LEN: usize = 3;
/// RFC 7634 §2 / §4: ChaCha20-Poly1305 takes a 32-octet key and a 4-octet salt.
pub const CHACHA20_POLY1305_KEY_LEN: usize = 32;
/// RFC 7634 §2: the salt of ChaCha20-Poly1305.
pub const CHACHA20_POLY1305_SALT_LEN: usize = 4;
/// RFC 5282 §3.1 / RFC 7634 §2: the explicit IV of the AEAD ciphers in the SK
/// payload is 8 octets.
pub const AEAD_IV_LEN: usize = 8;
/// RFC 3602 §2.4: the AES-CBC IV is one 16-octet block.
pub const AES_CBC_IV_LEN: usize = 16;
