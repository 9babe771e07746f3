//! Every wire constant of the data plane, each defined once next to the RFC
//! table or section it comes from.

// ---------------------------------------------------------------------------
// IANA "Assigned Internet Protocol Numbers" (RFC 5237 registry; RFC 4303 §2.6
// uses these as ESP Next Header values).
// ---------------------------------------------------------------------------

/// IPv4 encapsulation (tunnel mode inner IPv4 packet), IANA protocol number 4.
pub const IPPROTO_IPV4: u8 = 4;
/// TCP, IANA protocol number 6.
pub const IPPROTO_TCP: u8 = 6;
/// UDP (RFC 768), IANA protocol number 17.
pub const IPPROTO_UDP: u8 = 17;
/// IPv6 encapsulation (tunnel mode inner IPv6 packet), IANA protocol number 41.
pub const IPPROTO_IPV6: u8 = 41;
/// ESP (RFC 4303), IANA protocol number 50.
pub const IPPROTO_ESP: u8 = 50;
/// AH (RFC 4302), IANA protocol number 51.
pub const IPPROTO_AH: u8 = 51;
/// RFC 4303 §2.6: Next Header 59 ("no next header") marks a dummy packet that
/// the receiver MUST be prepared to silently discard.
pub const IPPROTO_NONE: u8 = 59;

// ---------------------------------------------------------------------------
// RFC 4303 §2 (Figure 1, "Top-Level Format of an ESP Packet").
// ---------------------------------------------------------------------------

/// RFC 4303 §2.1: length of the Security Parameters Index field.
pub const ESP_SPI_LEN: usize = 4;
/// RFC 4303 §2.2: length of the (32-bit) Sequence Number field.
pub const ESP_SEQ_LEN: usize = 4;
/// RFC 4303 §2: ESP header = SPI | Sequence Number.
pub const ESP_HEADER_LEN: usize = ESP_SPI_LEN + ESP_SEQ_LEN;
/// RFC 4106 §3.1 / RFC 4309 §3.1: the explicit IV carried in every packet is
/// 8 octets for AES-GCM and AES-CCM.
pub const ESP_IV_LEN: usize = 8;
/// RFC 4303 §2.4 / §2.5: the trailer = Pad Length (1 octet) | Next Header (1 octet).
pub const ESP_TRAILER_LEN: usize = 2;
/// RFC 4303 §2.4: the ciphertext (payload, padding, pad length, next header)
/// must end on a 4-octet boundary. AEADs in counter mode need no block alignment.
pub const ESP_ALIGN: usize = 4;
/// RFC 4303 §2.4: the Pad Length field is one octet, so at most 255 octets of padding.
pub const ESP_MAX_PAD_LEN: usize = 255;

/// RFC 4303 §2.1: SPI value 0 is reserved for local, implementation-specific
/// use and MUST NOT be sent on the wire.
pub const SPI_RESERVED_LOCAL: u32 = 0;
/// RFC 4303 §2.1: SPI values 1 through 255 are reserved by IANA for future use.
pub const SPI_RESERVED_IANA_MAX: u32 = 255;

/// RFC 4303 §3.3.3: without ESN the 32-bit sequence number MUST NOT cycle; the
/// last packet an SA may send carries this number.
pub const ESP_SEQ_MAX: u32 = u32::MAX;
/// RFC 4304 §2 / RFC 4303 §3.3.3: with ESN the 64-bit counter MUST NOT cycle
/// either; the last packet an SA may send carries 2^64 - 1.
pub const ESP_ESN_MAX: u64 = u64::MAX;

/// RFC 4303 §3.4.3: a receiver's anti-replay window SHOULD default to 64 packets
/// (the minimum is 32).
pub const REPLAY_WINDOW_DEFAULT: u32 = 64;
/// RFC 4303 §3.4.3: minimum anti-replay window size (32 packets).
pub const REPLAY_WINDOW_MIN: u32 = 32;
/// Largest anti-replay window this implementation offers (a local limit,
/// RFC 4303 §3.4.3 sets none): 65536 packets, an 8 KiB bitmap.
pub const REPLAY_WINDOW_MAX: u32 = 1 << 16;

// ---------------------------------------------------------------------------
// RFC 4106 (AES-GCM in ESP) and RFC 4309 (AES-CCM in ESP).
// ---------------------------------------------------------------------------

/// RFC 4106 §4 / §8.1: the GCM nonce salt is 4 octets taken from the keying material.
pub const GCM_SALT_LEN: usize = 4;
/// RFC 4106 §6: ICV length of AES-GCM with a 16-octet ICV (IKEv2 transform ID 20).
pub const GCM_ICV_LEN: usize = 16;
/// RFC 4309 §4 / §7.1: the CCM nonce salt is 3 octets taken from the keying material.
pub const CCM_SALT_LEN: usize = 3;
/// RFC 4309 §6.1: ICV length of AES-CCM with an 8-octet ICV (IKEv2 transform ID 14).
pub const CCM8_ICV_LEN: usize = 8;
/// RFC 4309 §6.1: ICV length of AES-CCM with a 16-octet ICV (IKEv2 transform ID 16).
pub const CCM16_ICV_LEN: usize = 16;
/// RFC 4309 §4: the CCM nonce = 3-octet salt || 8-octet IV = 11 octets, so L = 4.
pub const CCM_NONCE_LEN: usize = CCM_SALT_LEN + ESP_IV_LEN;
/// RFC 4106 §4: the GCM nonce = 4-octet salt || 8-octet IV = 12 octets.
pub const GCM_NONCE_LEN: usize = GCM_SALT_LEN + ESP_IV_LEN;
/// RFC 4106 §5 / RFC 4309 §5: AAD = SPI || 32-bit Sequence Number (no ESN).
pub const ESP_AAD_LEN: usize = ESP_SPI_LEN + ESP_SEQ_LEN;

/// AES-128 key length in octets.
pub const AES128_KEY_LEN: usize = 16;
/// AES-256 key length in octets.
pub const AES256_KEY_LEN: usize = 32;

/// IANA "Transform Type 1 - Encryption Algorithm Transform IDs" (RFC 7296
/// §3.3.2 registry): ENCR_AES_CCM_8 (RFC 4309).
pub const IKEV2_ENCR_AES_CCM_8: u16 = 14;
/// IANA "Transform Type 1 - Encryption Algorithm Transform IDs": ENCR_AES_CCM_16 (RFC 4309).
pub const IKEV2_ENCR_AES_CCM_16: u16 = 16;
/// IANA "Transform Type 1 - Encryption Algorithm Transform IDs": ENCR_AES_GCM_16 (RFC 4106).
pub const IKEV2_ENCR_AES_GCM_16: u16 = 20;
/// IANA "Transform Type 1 - Encryption Algorithm Transform IDs": ENCR_NULL (RFC 2410).
pub const IKEV2_ENCR_NULL: u16 = 11;
/// IANA "Transform Type 1 - Encryption Algorithm Transform IDs": ENCR_AES_CBC (RFC 3602).
pub const IKEV2_ENCR_AES_CBC: u16 = 12;
/// IANA "Transform Type 1 - Encryption Algorithm Transform IDs":
/// ENCR_CHACHA20_POLY1305 (RFC 7634 §4).
pub const IKEV2_ENCR_CHACHA20_POLY1305: u16 = 28;
/// IANA "Transform Type 3 - Integrity Algorithm Transform IDs":
/// AUTH_HMAC_SHA2_256_128 (RFC 4868 §2.1).
pub const IKEV2_AUTH_HMAC_SHA2_256_128: u16 = 12;

// ---------------------------------------------------------------------------
// RFC 7634 (ChaCha20-Poly1305 in ESP).
// ---------------------------------------------------------------------------

/// RFC 7634 §2: the ChaCha20 key is 256 bits.
pub const CHACHA20_KEY_LEN: usize = 32;
/// RFC 7634 §2 / §4: the nonce salt is the last 4 octets of the 36-octet KEYMAT.
pub const CHACHA20_SALT_LEN: usize = 4;
/// RFC 7634 §2: the Poly1305 tag (ICV) is 16 octets.
pub const CHACHA20_POLY1305_ICV_LEN: usize = 16;

// ---------------------------------------------------------------------------
// RFC 3602 (AES-CBC in ESP), RFC 4868 (HMAC-SHA-256-128), RFC 2410 (NULL).
// ---------------------------------------------------------------------------

/// RFC 3602 §2.1 / §3: the AES block size, and so the explicit IV length of
/// AES-CBC and the alignment of its ciphertext.
pub const AES_BLOCK_LEN: usize = 16;
/// RFC 3602 §3: the IV of AES-CBC is one block, carried in every packet.
pub const CBC_IV_LEN: usize = AES_BLOCK_LEN;
/// RFC 4868 §2.1.1: HMAC-SHA-256-128 uses a 256-bit key.
pub const HMAC_SHA256_KEY_LEN: usize = 32;
/// RFC 4868 §2.1.1 / §2.3: HMAC-SHA-256-128 truncates the 256-bit output to
/// its first 128 bits.
pub const HMAC_SHA256_128_ICV_LEN: usize = 16;
/// RFC 4304 §2 / RFC 4303 §2.2.1: the high-order 32 bits of an extended
/// sequence number, appended after the packet for the ICV computation of a
/// separate integrity algorithm (or carried in the AAD of an AEAD).
pub const ESN_HIGH_LEN: usize = 4;
/// RFC 4106 §5 / RFC 4309 §5 / RFC 7634 §2.1: AAD = SPI || 64-bit ESN.
pub const ESP_AAD_ESN_LEN: usize = ESP_SPI_LEN + 8;

// ---------------------------------------------------------------------------
// COSE Algorithms registry (RFC 9053 §4.1 Table 5 for AES-GCM, §4.2 Table 6
// for AES-CCM).
// ---------------------------------------------------------------------------

/// RFC 9053 Table 5: A128GCM.
pub const COSE_ALG_A128GCM: i64 = 1;
/// RFC 9053 Table 5: A256GCM.
pub const COSE_ALG_A256GCM: i64 = 3;
/// RFC 9053 Table 6: AES-CCM-16-64-128 (128-bit key, 64-bit tag).
pub const COSE_ALG_AES_CCM_16_64_128: i64 = 10;
/// RFC 9053 Table 6: AES-CCM-16-64-256 (256-bit key, 64-bit tag).
pub const COSE_ALG_AES_CCM_16_64_256: i64 = 11;
/// RFC 9053 Table 6: AES-CCM-16-128-128 (128-bit key, 128-bit tag).
pub const COSE_ALG_AES_CCM_16_128_128: i64 = 30;
/// RFC 9053 Table 6: AES-CCM-16-128-256 (256-bit key, 128-bit tag).
pub const COSE_ALG_AES_CCM_16_128_256: i64 = 31;
/// RFC 9053 §4.3 Table 7: ChaCha20/Poly1305 (256-bit key, 128-bit tag).
pub const COSE_ALG_CHACHA20_POLY1305: i64 = 24;

// Private COSE identifiers of this implementation. RFC 9053 has no COSE
// algorithm for ESP's non-AEAD transforms, so the profile names them with
// values from the COSE Algorithms registry's "Private Use" range (values
// less than -65536, RFC 9052 §11.1 / IANA). Both ends must be configured with
// the same meaning; they are never sent to a third party.

/// Private use: ESP with AES-CBC-128 (RFC 3602) and HMAC-SHA-256-128 (RFC 4868).
pub const COSE_ALG_PRIVATE_AES_CBC_128_HMAC_SHA256_128: i64 = -65601;
/// Private use: ESP with AES-CBC-256 (RFC 3602) and HMAC-SHA-256-128 (RFC 4868).
pub const COSE_ALG_PRIVATE_AES_CBC_256_HMAC_SHA256_128: i64 = -65602;
/// Private use: ESP with NULL encryption (RFC 2410) and HMAC-SHA-256-128
/// (RFC 4868). Integrity only: selected only when NULL is explicitly allowed.
pub const COSE_ALG_PRIVATE_NULL_HMAC_SHA256_128: i64 = -65603;

// ---------------------------------------------------------------------------
// RFC 3948 (UDP encapsulation of ESP).
// ---------------------------------------------------------------------------

/// RFC 3948 §2 / RFC 7296 §2.23: the NAT-T UDP port.
pub const NAT_T_PORT: u16 = 4500;
/// RFC 3948 §2.2: the 4-octet Non-ESP Marker (zero) that precedes IKE messages on port 4500.
pub const NON_ESP_MARKER: [u8; 4] = [0, 0, 0, 0];
/// RFC 3948 §2.3: a NAT-keepalive packet is a single octet of value 0xFF.
pub const NAT_KEEPALIVE: u8 = 0xFF;

// ---------------------------------------------------------------------------
// RFC 768 (UDP) and the pseudo-headers of RFC 768 / RFC 8200 §8.1.
// ---------------------------------------------------------------------------

/// RFC 768: the UDP header is 8 octets (source port, destination port, length, checksum).
pub const UDP_HEADER_LEN: usize = 8;

// ---------------------------------------------------------------------------
// RFC 7296 §2.13 (prf+).
// ---------------------------------------------------------------------------

/// RFC 7296 §2.13: the prf+ counter is one octet, so at most 255 blocks of output.
pub const PRF_PLUS_MAX_BLOCKS: usize = 255;
/// Output length of PRF_HMAC_SHA2_256 (RFC 4868 §2.1.2).
pub const PRF_HMAC_SHA256_LEN: usize = 32;
