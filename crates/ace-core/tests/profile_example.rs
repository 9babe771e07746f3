//! The worked example of docs/profile.md: a complete Direct-Provisioning
//! access token response of the `coap_ipsec` profile, byte for byte.
//!
//! Run `cargo test -p ace-core --test profile_example -- --nocapture` to see
//! the hex.

use ace_core::labels::{ace_profile, cose_alg};
use ace_core::*;

/// The fixed inputs: ESP, transport, life 3600, SPI_SA_C 0x00012345,
/// SPI_SA_RS 0x00054321, alg 10 (AES-CCM-16-64-128), seed 0x00..0x1f,
/// expires_in 3600. The token is encrypted with AES-CCM-16-64-128 under the
/// AS–RS key kid "as-rs-1", k = 0x00..0x0f, IV = 0x00..0x0c (example values:
/// a real AS draws the IV at random).
fn example() -> (Claims, Vec<u8>, TokenResponse) {
    let seed: [u8; 32] = core::array::from_fn(|i| i as u8);
    let ipsec = IpsecParams::transport(SecProtocol::Esp, 3600)
        .with_direct_provisioning(
            0x0001_2345,
            0x0005_4321,
            cose_alg::AES_CCM_16_64_128,
            Seed::new(seed),
        )
        .unwrap();
    let cnf = Cnf {
        ipsec: Some(ipsec),
        ..Cnf::default()
    };
    let claims = Claims {
        iss: Some("coap://as.example.com".into()),
        aud: Some("coap://rs.example.com".into()),
        exp: Some(1_700_003_600),
        iat: Some(1_700_000_000),
        cti: Some(vec![0x01]),
        scope: Some(Scope::Text("temp".into())),
        ace_profile: Some(ace_profile::COAP_IPSEC),
        cnf: Some(cnf.clone()),
        ..Claims::default()
    };
    let key_bytes: [u8; 16] = core::array::from_fn(|i| i as u8);
    let key = TokenKey::new(b"as-rs-1".to_vec(), ContentAlg::AesCcm16_64_128, &key_bytes).unwrap();
    let iv: [u8; 13] = core::array::from_fn(|i| i as u8);
    let token = encrypt_token_with_iv(&claims, &key, &iv).unwrap();
    let resp = TokenResponse {
        expires_in: Some(3600),
        ace_profile: Some(ace_profile::COAP_IPSEC),
        cnf: Some(cnf),
        ..TokenResponse::new(token.clone())
    };
    (claims, token, resp)
}

const IPSEC_HEX: &str = concat!(
    "a7010102183203190e10061a00012345071a00054321080a0958200001020304",
    "05060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
);
const CLAIMS_HEX: &str = concat!(
    "a80175636f61703a2f2f61732e6578616d706c652e636f6d0375636f61703a2f",
    "2f72732e6578616d706c652e636f6d041a6553ff10061a6553f10007410108a1",
    "3a00010000a7010102183203190e10061a00012345071a00054321080a095820",
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    "096474656d7018263a00010000",
);
const TOKEN_HEX: &str = concat!(
    "d08343a1010aa2044761732d72732d31054d000102030405060708090a0b0c58",
    "95be35c1eb3c688ab875b852d4b35166b98e706847584e1e8b2f8a9d35ed22f1",
    "34fa273c66b0d4c61509e1c00286d6aeb5c470891ecee95210737db2ca0706c7",
    "3df7bfae33efb85270626573e9acb2b0dc897ff787b6ca6345b3d6fbe3695b2d",
    "1940afc6a92763e9cf8e36c54b4f59a0a92895fc5dd04e08bc787532446c2711",
    "22ac1091e113bf08438c00fb421a1775a08859cbeaf7",
);
const RESPONSE_HEX: &str = concat!(
    "a40158b6d08343a1010aa2044761732d72732d31054d00010203040506070809",
    "0a0b0c5895be35c1eb3c688ab875b852d4b35166b98e706847584e1e8b2f8a9d",
    "35ed22f134fa273c66b0d4c61509e1c00286d6aeb5c470891ecee95210737db2",
    "ca0706c73df7bfae33efb85270626573e9acb2b0dc897ff787b6ca6345b3d6fb",
    "e3695b2d1940afc6a92763e9cf8e36c54b4f59a0a92895fc5dd04e08bc787532",
    "446c271122ac1091e113bf08438c00fb421a1775a08859cbeaf702190e1008a1",
    "3a00010000a7010102183203190e10061a00012345071a00054321080a095820",
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    "18263a00010000",
);

#[test]
fn profile_example() {
    let (claims, token, resp) = example();
    let ipsec = claims.cnf.as_ref().and_then(|c| c.ipsec.as_ref()).unwrap();
    let ipsec_hex = {
        let mut w = Vec::new();
        ace_core::coset::cbor::ser::into_writer(&ipsec.to_value(), &mut w).unwrap();
        hex::encode(w)
    };
    let claims_hex = hex::encode(claims.to_cbor());
    let token_hex = hex::encode(&token);
    let resp_bytes = resp.to_cbor();
    let resp_hex = hex::encode(&resp_bytes);
    println!("ipsec map ({} bytes):\n{ipsec_hex}", ipsec_hex.len() / 2);
    println!(
        "token claims ({} bytes):\n{claims_hex}",
        claims_hex.len() / 2
    );
    println!(
        "access token, COSE_Encrypt0 ({} bytes):\n{token_hex}",
        token.len()
    );
    println!("token response ({} bytes):\n{resp_hex}", resp_bytes.len());
    assert_eq!(ipsec_hex, IPSEC_HEX);
    assert_eq!(claims_hex, CLAIMS_HEX);
    assert_eq!(token_hex, TOKEN_HEX);
    assert_eq!(resp_hex, RESPONSE_HEX);

    // and it all comes back
    assert_eq!(TokenResponse::from_cbor(&resp_bytes).unwrap(), resp);
    let key_bytes: [u8; 16] = core::array::from_fn(|i| i as u8);
    let key = TokenKey::new(b"as-rs-1".to_vec(), ContentAlg::AesCcm16_64_128, &key_bytes).unwrap();
    let opened = decrypt_token(&resp.access_token, |kid| {
        (kid == b"as-rs-1").then_some(&key)
    })
    .unwrap();
    assert_eq!(opened, claims);
    validate_claims(
        &opened,
        1_700_000_001,
        "coap://rs.example.com",
        Some("coap://as.example.com"),
    )
    .unwrap();
}
