//! Every wire number this crate uses, defined once, next to the table it
//! comes from.
//!
//! Values marked "Private Use" fill a "TBD" of draft-aragon-ace-ipsec-profile-01
//! (§6 IANA Considerations). RFC 9200 §8.8 (ACE Profile registry) and §8.10
//! (OAuth Parameters CBOR Mappings) mark integers less than -65536 as Private
//! Use; the CWT Confirmation Methods registry (RFC 8747 §7.2) uses the same
//! split. Such values can never collide with an IANA assignment.

/// OAuth parameters in token requests/responses (RFC 9200 §5.8.5 Table 5,
/// registry of RFC 9200 §8.10), plus the RFC 9201 parameters whose values
/// RFC 9200's own examples use (`req_cnf` 4 in Figures 5 and 6, `cnf` 8 in
/// Figure 7, `rs_cnf` 41 in Figure 12).
pub mod param {
    /// `access_token` (RFC 6749), bstr. RFC 9200 Table 5.
    pub const ACCESS_TOKEN: i64 = 1;
    /// `expires_in` (RFC 6749), uint. RFC 9200 Table 5.
    pub const EXPIRES_IN: i64 = 2;
    /// `req_cnf` (RFC 9201 §3.1), map. Value as in RFC 9200 Figures 5, 6.
    pub const REQ_CNF: i64 = 4;
    /// `audience` (RFC 8693), tstr. RFC 9200 Table 5.
    pub const AUDIENCE: i64 = 5;
    /// `cnf` (RFC 9201 §3.2), map. Value as in RFC 9200 Figure 7.
    pub const CNF: i64 = 8;
    /// `scope` (RFC 6749), tstr or bstr. RFC 9200 Table 5.
    pub const SCOPE: i64 = 9;
    /// `client_id` (RFC 6749), tstr. RFC 9200 Table 5.
    pub const CLIENT_ID: i64 = 24;
    /// `error` (RFC 6749), int. RFC 9200 Table 5.
    pub const ERROR: i64 = 30;
    /// `error_description` (RFC 6749), tstr. RFC 9200 Table 5.
    pub const ERROR_DESCRIPTION: i64 = 31;
    /// `error_uri` (RFC 6749), tstr. RFC 9200 Table 5.
    pub const ERROR_URI: i64 = 32;
    /// `grant_type` (RFC 6749), uint. RFC 9200 Table 5.
    pub const GRANT_TYPE: i64 = 33;
    /// `token_type` (RFC 6749), int. RFC 9200 Table 5.
    pub const TOKEN_TYPE: i64 = 34;
    /// `ace_profile`, int (null in a request). RFC 9200 Table 5, §5.8.4.3.
    pub const ACE_PROFILE: i64 = 38;
    /// `cnonce`, bstr. RFC 9200 Table 5, §5.8.4.4.
    pub const CNONCE: i64 = 39;
    /// `rs_cnf` (RFC 9201 §3.2), map. Value as in RFC 9200 Figure 12.
    pub const RS_CNF: i64 = 41;
    /// `esp_udp_port`, uint: the UDP port on which the client receives
    /// ESP-in-UDP (RFC 3948), carried in this profile's `POST /authz-info`
    /// map. Not in the draft: this project's own parameter, Private Use
    /// (RFC 9200 §8.10: integers less than -65536).
    pub const ESP_UDP_PORT: i64 = -65537;
    /// `edhoc_message_1`, bstr: EDHOC message_1 (RFC 9528 §5.2.1) carried
    /// in the `POST /authz-info` map together with the access token
    /// (draft-aragon-ace-ipsec-profile-01 Appendix B.2, Figure 10). The
    /// bstr holds message_1 exactly as RFC 9528 §5.2.1 encodes it (a CBOR
    /// sequence), without the `true` prefix of RFC 9528 Appendix A.2 (the
    /// request is not addressed to an EDHOC resource). This project's own
    /// parameter, Private Use (RFC 9200 §8.10).
    pub const EDHOC_MESSAGE_1: i64 = -65538;
    /// `ike_rs_initiates`, `true`: with an IKEv2 token (`kmp` = ikev2), C
    /// asks the RS to start IKE_SA_INIT towards C's `esp_udp_port`, as the
    /// acknowledgement of the token (the literal reading of the draft's
    /// Figure 8; NOTES-profile point 4). Absent: C starts after the 2.01.
    /// This project's own parameter, Private Use (RFC 9200 §8.10).
    pub const IKE_RS_INITIATES: i64 = -65539;
}

/// Grant types (RFC 9200 §5.8.4.1 Table 4).
pub mod grant_type {
    /// `password`, RFC 6749 §4.3.2.
    pub const PASSWORD: u64 = 0;
    /// `authorization_code`, RFC 6749 §4.1.3.
    pub const AUTHORIZATION_CODE: u64 = 1;
    /// `client_credentials`, RFC 6749 §4.4.2; the default when absent
    /// (RFC 9200 §5.8.1).
    pub const CLIENT_CREDENTIALS: u64 = 2;
    /// `refresh_token`, RFC 6749 §6.
    pub const REFRESH_TOKEN: u64 = 3;
}

/// Error codes of the token endpoint (RFC 9200 §5.8.3 Table 3).
pub mod error_code {
    /// `invalid_request`, RFC 6749 §5.2.
    pub const INVALID_REQUEST: i64 = 1;
    /// `invalid_client`, RFC 6749 §5.2.
    pub const INVALID_CLIENT: i64 = 2;
    /// `invalid_grant`, RFC 6749 §5.2.
    pub const INVALID_GRANT: i64 = 3;
    /// `unauthorized_client`, RFC 6749 §5.2.
    pub const UNAUTHORIZED_CLIENT: i64 = 4;
    /// `unsupported_grant_type`, RFC 6749 §5.2.
    pub const UNSUPPORTED_GRANT_TYPE: i64 = 5;
    /// `invalid_scope`, RFC 6749 §5.2.
    pub const INVALID_SCOPE: i64 = 6;
    /// `unsupported_pop_key`, RFC 9200 §5.8.3.
    pub const UNSUPPORTED_POP_KEY: i64 = 7;
    /// `incompatible_ace_profiles`, RFC 9200 §5.8.3.
    pub const INCOMPATIBLE_ACE_PROFILES: i64 = 8;
}

/// AS Request Creation Hints (RFC 9200 §5.3 Table 1).
pub mod hints {
    /// `AS`, tstr (absolute URI).
    pub const AS: i64 = 1;
    /// `kid`, bstr.
    pub const KID: i64 = 2;
    /// `audience`, tstr.
    pub const AUDIENCE: i64 = 5;
    /// `scope`, tstr or bstr.
    pub const SCOPE: i64 = 9;
    /// `cnonce`, bstr.
    pub const CNONCE: i64 = 39;
}

/// CWT claim keys: RFC 8392 §4 Table 1 (1..=7), RFC 8747 §3.1 (`cnf`),
/// RFC 9200 §8.14 (`scope`, `ace_profile`, `cnonce`, `exi`).
pub mod claim {
    /// `iss`, tstr. RFC 8392 §3.1.1.
    pub const ISS: i64 = 1;
    /// `sub`, tstr. RFC 8392 §3.1.2.
    pub const SUB: i64 = 2;
    /// `aud`, tstr. RFC 8392 §3.1.3.
    pub const AUD: i64 = 3;
    /// `exp`, NumericDate. RFC 8392 §3.1.4.
    pub const EXP: i64 = 4;
    /// `nbf`, NumericDate. RFC 8392 §3.1.5.
    pub const NBF: i64 = 5;
    /// `iat`, NumericDate. RFC 8392 §3.1.6.
    pub const IAT: i64 = 6;
    /// `cti`, bstr. RFC 8392 §3.1.7.
    pub const CTI: i64 = 7;
    /// `cnf`, map. RFC 8747 §3.1.
    pub const CNF: i64 = 8;
    /// `scope`, tstr or bstr. RFC 9200 §8.14.
    pub const SCOPE: i64 = 9;
    /// `ace_profile`, int. RFC 9200 §8.14.
    pub const ACE_PROFILE: i64 = 38;
    /// `cnonce`, bstr. RFC 9200 §8.14.
    pub const CNONCE: i64 = 39;
    /// `exi`, uint. RFC 9200 §8.14.
    pub const EXI: i64 = 40;
}

/// Members of the `cnf` / `req_cnf` / `rs_cnf` map (CWT Confirmation
/// Methods registry, RFC 8747 §3.2–§3.4 and §7.2).
pub mod cnf {
    /// `COSE_Key`, RFC 8747 §3.2.
    pub const COSE_KEY: i64 = 1;
    /// `Encrypted_COSE_Key`, RFC 8747 §3.3 (recognised, not supported).
    pub const ENCRYPTED_COSE_KEY: i64 = 2;
    /// `kid`, RFC 8747 §3.4.
    pub const KID: i64 = 3;
    /// `ipsec`: draft-aragon-ace-ipsec-profile-01 §2.1 / §6.3 ("Confirmation
    /// Method Value: TBD"). Private Use.
    pub const IPSEC: i64 = -65537;
    /// `kmp`: draft-aragon-ace-ipsec-profile-01 §3.2 / §6.4 ("Confirmation
    /// Method Value: TBD"). Private Use.
    pub const KMP: i64 = -65538;
}

/// Values of the `kmp` cnf member (draft-aragon-ace-ipsec-profile-01 §6.5,
/// "Key Management Protocol Method Value: TBD"; Appendix B for EDHOC).
/// The draft opens a registry of its own for these; this profile numbers
/// them from 1.
pub mod kmp {
    /// `ikev2` (RFC 7296).
    pub const IKEV2: u64 = 1;
    /// `edhoc` (RFC 9528), draft Appendix B.
    pub const EDHOC: u64 = 2;
}

/// ACE Profile registry values (RFC 9200 §8.8).
pub mod ace_profile {
    /// `coap_dtls` (RFC 9202), shown as `1 / coap_dtls /` in RFC 9200 Figure 10.
    pub const COAP_DTLS: i64 = 1;
    /// `coap_ipsec`: draft-aragon-ace-ipsec-profile-01 §6.2 ("Profile ID:
    /// coap_ipsec", value TBD). Private Use (RFC 9200 §8.8: integers less
    /// than -65536).
    pub const COAP_IPSEC: i64 = -65537;
}

/// Keys and values of the profile's `ipsec` map (draft-aragon-ace-ipsec-profile-01
/// §2.1, Figures 1–3). The draft names the fields but gives no encoding;
/// this profile keys them by small integers in the map's own namespace.
pub mod ipsec {
    /// sec_A `mode` (uint: [`MODE_TRANSPORT`] or [`MODE_TUNNEL`]).
    pub const MODE: i64 = 1;
    /// sec_A `protocol` (uint: the IP protocol number, [`PROTOCOL_ESP`] or
    /// [`PROTOCOL_AH`]).
    pub const PROTOCOL: i64 = 2;
    /// sec_A `life` (uint seconds).
    pub const LIFE: i64 = 3;
    /// sec_A `IP_C` (bstr, 4 or 16 bytes), tunnel mode only.
    pub const IP_C: i64 = 4;
    /// sec_A `IP_RS` (bstr, 4 or 16 bytes), tunnel mode only.
    pub const IP_RS: i64 = 5;
    /// sec_B `SPI_SA_C` (uint32).
    pub const SPI_SA_C: i64 = 6;
    /// sec_B `SPI_SA_RS` (uint32).
    pub const SPI_SA_RS: i64 = 7;
    /// sec_B `alg` (int: a COSE algorithm identifier, RFC 9053).
    pub const ALG: i64 = 8;
    /// sec_B `seed` (bstr, [`SEED_LEN`] bytes: SKEYSEED, RFC 7296 §2.14).
    pub const SEED: i64 = 9;

    /// `mode` = transport (RFC 4301 §4.1).
    pub const MODE_TRANSPORT: u64 = 1;
    /// `mode` = tunnel (RFC 4301 §4.1).
    pub const MODE_TUNNEL: u64 = 2;
    /// `protocol` = ESP: IP protocol number 50 (RFC 4303).
    pub const PROTOCOL_ESP: u64 = 50;
    /// `protocol` = AH: IP protocol number 51 (RFC 4302).
    pub const PROTOCOL_AH: u64 = 51;
    /// Length of `seed`: the output length of the PRF HMAC-SHA-256
    /// (RFC 7296 §2.14: SKEYSEED = prf(...), RFC 4868 §2.1).
    pub const SEED_LEN: usize = 32;
    /// SPI values 1..=255 are reserved by IANA and 0 is reserved for local
    /// use (RFC 4303 §2.1): an SA's SPI must be greater than this.
    pub const SPI_RESERVED_MAX: u32 = 255;
}

/// COSE algorithm identifiers (RFC 9053 §3.1 HMAC, §4.1 AES-GCM, §4.2
/// AES-CCM, §2.1 ECDSA; RFC 8392 Appendix A shows 4, 10 and -7 in use).
pub mod cose_alg {
    /// A128GCM: AES-GCM, 128-bit key, 128-bit tag, 96-bit nonce. RFC 9053 §4.1.
    pub const A128GCM: i64 = 1;
    /// A192GCM. RFC 9053 §4.1.
    pub const A192GCM: i64 = 2;
    /// A256GCM. RFC 9053 §4.1.
    pub const A256GCM: i64 = 3;
    /// HMAC 256/64: HMAC-SHA-256 truncated to 64 bits. RFC 9053 §3.1.
    pub const HMAC_256_64: i64 = 4;
    /// HMAC 256/256. RFC 9053 §3.1.
    pub const HMAC_256_256: i64 = 5;
    /// AES-CCM-16-64-128: L = 16 bits (13-byte nonce), 64-bit tag,
    /// 128-bit key. RFC 9053 §4.2.
    pub const AES_CCM_16_64_128: i64 = 10;
    /// AES-CCM-16-64-256: 13-byte nonce, 64-bit tag, 256-bit key. RFC 9053 §4.2.
    pub const AES_CCM_16_64_256: i64 = 11;
    /// ES256: ECDSA with SHA-256. RFC 9053 §2.1.
    pub const ES256: i64 = -7;
}

/// CBOR tags (RFC 9052 §2 Table 1; RFC 8392 §6).
pub mod cbor_tag {
    /// COSE_Encrypt0.
    pub const COSE_ENCRYPT0: u64 = 16;
    /// COSE_Mac0.
    pub const COSE_MAC0: u64 = 17;
    /// COSE_Sign1.
    pub const COSE_SIGN1: u64 = 18;
    /// COSE_Encrypt.
    pub const COSE_ENCRYPT: u64 = 96;
    /// COSE_Mac.
    pub const COSE_MAC: u64 = 97;
    /// COSE_Sign.
    pub const COSE_SIGN: u64 = 98;
    /// CWT tag (RFC 8392 §6), optional prefix of a CWT.
    pub const CWT: u64 = 61;
}

/// REST-method-set bits of AIF (RFC 9237 §3: bit = 2^(CoAP method code - 1)).
pub mod aif_method {
    /// GET (CoAP 0.01).
    pub const GET: u64 = 1 << 0;
    /// POST (CoAP 0.02).
    pub const POST: u64 = 1 << 1;
    /// PUT (CoAP 0.03).
    pub const PUT: u64 = 1 << 2;
    /// DELETE (CoAP 0.04).
    pub const DELETE: u64 = 1 << 3;
    /// FETCH (CoAP 0.05, RFC 8132).
    pub const FETCH: u64 = 1 << 4;
    /// PATCH (CoAP 0.06, RFC 8132).
    pub const PATCH: u64 = 1 << 5;
    /// iPATCH (CoAP 0.07, RFC 8132).
    pub const IPATCH: u64 = 1 << 6;
    /// Dynamic-X permissions are X's bit shifted by this offset (RFC 9237 §3).
    pub const DYNAMIC_OFFSET: u32 = 32;
}

/// CoAP Content-Format numbers used with ACE.
pub mod content_format {
    /// `application/ace+cbor` (RFC 9200 §8.16).
    pub const ACE_CBOR: u16 = 19;
    /// `application/cwt` (RFC 8392 §9.3).
    pub const CWT: u16 = 61;
    /// `application/edhoc+cbor-seq` (RFC 9528 §10.9): EDHOC message_2 in
    /// the 2.01 to `/authz-info`, EDHOC error messages.
    pub const EDHOC_CBOR_SEQ: u16 = 64;
    /// `application/cid-edhoc+cbor-seq` (RFC 9528 §10.9): a connection
    /// identifier followed by an EDHOC message (RFC 9528 Appendix A.2), i.e.
    /// C_R ‖ message_3 to the RS's EDHOC resource.
    pub const CID_EDHOC_CBOR_SEQ: u16 = 65;
}

/// EDHOC numbers (RFC 9528) used by the profile's Appendix B method.
pub mod edhoc {
    /// Method 3: both parties authenticate with static DH keys (RFC 9528
    /// §3.2, Table 2). The only method lakers 0.8 implements.
    pub const METHOD_STAT_STAT: u8 = 3;
    /// Cipher suite 2: AES-CCM-16-64-128, SHA-256, 8, P-256, ES256,
    /// AES-CCM-16-64-128 (RFC 9528 §3.6). The only suite lakers 0.8 implements.
    pub const CIPHER_SUITE_2: u8 = 2;
    /// EDHOC_KDF label of PRK_exporter = EDHOC_KDF(PRK_out, 10, h'',
    /// hash_length) (RFC 9528 §4.1.3, Figure 6).
    pub const KDF_LABEL_PRK_EXPORTER: u16 = 10;
    /// EDHOC_Exporter label of the IPsec seed of draft Appendix B.2: from
    /// the Private Use range 32768–65535 of the EDHOC Exporter Label
    /// registry (RFC 9528 §10.1). This profile's own choice.
    pub const EXPORTER_LABEL_IPSEC_SEED: u16 = 32768;
    /// ERR_CODE 1, "Unspecified Error" (RFC 9528 §6.2, Table 5): ERR_INFO is
    /// a text string.
    pub const ERR_CODE_UNSPECIFIED: i64 = 1;
    /// The EDHOC resource of RFC 9528 Appendix A.2 (`/.well-known/edhoc`,
    /// registered in RFC 9528 §10.10), where C posts C_R ‖ message_3.
    pub const WELL_KNOWN_PATH: &str = "/.well-known/edhoc";
}

/// Default port of ESP-in-UDP and NAT-T IKE (RFC 3948 §2, RFC 7296 §2.23),
/// assumed when `esp_udp_port` is absent from an authz-info request.
pub const DEFAULT_ESP_UDP_PORT: u16 = 4500;
