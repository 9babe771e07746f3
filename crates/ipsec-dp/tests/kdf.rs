//! RFC 7296 §2.13 prf+ and the profile's Direct Provisioning derivation.

use ipsec_dp::{derive_dp_sa_pair, prf_plus, EspSuite, KdfError};

/// Direct Provisioning test vector (published in docs/profile.md).
///
/// Inputs:
///   seed      = 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
///   SPI_SA_C  = 0x00012345, SPI_SA_RS = 0x00054321
///   S = SPI_SA_C || SPI_SA_RS = 0001234500054321
///   KEYMAT = prf+(seed, S) with prf = HMAC-SHA-256 (RFC 7296 §2.13)
///
/// Expected values computed independently with Python's hmac/hashlib:
///
/// ```text
/// python3 -c "import hmac,hashlib;k=bytes(range(32));s=bytes.fromhex('0001234500054321');t=b'';o=b''
/// for i in (1,2):t=hmac.new(k,t+s+bytes([i]),hashlib.sha256).digest();o+=t
/// print(o[:38].hex(),o[:40].hex())"
/// ```
const SEED: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const SPI_SA_C: u32 = 0x0001_2345;
const SPI_SA_RS: u32 = 0x0005_4321;

/// AES-CCM-8-128: KEYMAT (38 bytes) = SA-C key (16) | SA-C salt (3) | SA-RS key (16) | SA-RS salt (3)
const CCM128_KEYMAT: &str =
    "f1f4ebb270273b52d62230266a69102f91761256d153abf98883761e8e50d171d41d6ac1b9c0";
const CCM128_SA_C_KEY: &str = "f1f4ebb270273b52d62230266a69102f";
const CCM128_SA_C_SALT: &str = "917612";
const CCM128_SA_RS_KEY: &str = "56d153abf98883761e8e50d171d41d6a";
const CCM128_SA_RS_SALT: &str = "c1b9c0";

/// AES-GCM-16-128: KEYMAT (40 bytes) = SA-C key (16) | SA-C salt (4) | SA-RS key (16) | SA-RS salt (4)
const GCM128_KEYMAT: &str =
    "f1f4ebb270273b52d62230266a69102f91761256d153abf98883761e8e50d171d41d6ac1b9c0d342";
const GCM128_SA_C_KEY: &str = "f1f4ebb270273b52d62230266a69102f";
const GCM128_SA_C_SALT: &str = "91761256";
const GCM128_SA_RS_KEY: &str = "d153abf98883761e8e50d171d41d6ac1";
const GCM128_SA_RS_SALT: &str = "b9c0d342";

#[test]
fn direct_provisioning_vector_aes_ccm_8_128() {
    let seed = hex::decode(SEED).unwrap();
    let s = [SPI_SA_C.to_be_bytes(), SPI_SA_RS.to_be_bytes()].concat();
    assert_eq!(
        hex::encode(&*prf_plus(&seed, &s, 38).unwrap()),
        CCM128_KEYMAT
    );
    let (c, rs) = derive_dp_sa_pair(&seed, SPI_SA_C, SPI_SA_RS, EspSuite::AesCcm8_128).unwrap();
    assert_eq!(hex::encode(c.key()), CCM128_SA_C_KEY);
    assert_eq!(hex::encode(c.salt()), CCM128_SA_C_SALT);
    assert_eq!(hex::encode(rs.key()), CCM128_SA_RS_KEY);
    assert_eq!(hex::encode(rs.salt()), CCM128_SA_RS_SALT);
    assert_eq!(c.suite(), EspSuite::AesCcm8_128);
}

#[test]
fn direct_provisioning_vector_aes_gcm_16_128() {
    let seed = hex::decode(SEED).unwrap();
    let s = [SPI_SA_C.to_be_bytes(), SPI_SA_RS.to_be_bytes()].concat();
    assert_eq!(
        hex::encode(&*prf_plus(&seed, &s, 40).unwrap()),
        GCM128_KEYMAT
    );
    let (c, rs) = derive_dp_sa_pair(&seed, SPI_SA_C, SPI_SA_RS, EspSuite::AesGcm16_128).unwrap();
    assert_eq!(hex::encode(c.key()), GCM128_SA_C_KEY);
    assert_eq!(hex::encode(c.salt()), GCM128_SA_C_SALT);
    assert_eq!(hex::encode(rs.key()), GCM128_SA_RS_KEY);
    assert_eq!(hex::encode(rs.salt()), GCM128_SA_RS_SALT);
}

#[test]
fn swapping_the_spis_gives_different_keys() {
    let seed = hex::decode(SEED).unwrap();
    let (a, _) = derive_dp_sa_pair(&seed, SPI_SA_C, SPI_SA_RS, EspSuite::AesGcm16_256).unwrap();
    let (b, _) = derive_dp_sa_pair(&seed, SPI_SA_RS, SPI_SA_C, EspSuite::AesGcm16_256).unwrap();
    assert_ne!(a, b);
    assert_eq!(a.key().len(), 32);
    assert_eq!(a.salt().len(), 4);
}

#[test]
fn prf_plus_is_a_prefix_stream_and_stops_at_255_blocks() {
    let k = b"key";
    let s = b"seed";
    let long = prf_plus(k, s, 255 * 32).unwrap();
    assert_eq!(long.len(), 8160);
    for n in [0, 1, 31, 32, 33, 64, 100, 1000] {
        assert_eq!(&prf_plus(k, s, n).unwrap()[..], &long[..n]);
    }
    assert_eq!(
        prf_plus(k, s, 255 * 32 + 1).unwrap_err(),
        KdfError::OutputTooLong {
            requested: 8161,
            max: 8160
        }
    );
}

#[test]
fn prf_plus_first_block_is_hmac_of_s_and_0x01() {
    // RFC 7296 §2.13: T1 = prf(K, S | 0x01). Expected value from Python:
    // python3 -c "import hmac,hashlib;print(hmac.new(b'Jefe',b'what do ya want for nothing'+b'\x01',hashlib.sha256).hexdigest())"
    let t1 = prf_plus(b"Jefe", b"what do ya want for nothing", 32).unwrap();
    assert_eq!(
        hex::encode(&*t1),
        "a822663d4042e71ec9f4e7b66f6f80ed11842eda3a189554968f93dda8f10cbc"
    );
}

#[test]
fn empty_seed_is_refused() {
    assert_eq!(
        derive_dp_sa_pair(&[], 0x1000, 0x2000, EspSuite::AesCcm8_128).unwrap_err(),
        KdfError::EmptySeed
    );
}
