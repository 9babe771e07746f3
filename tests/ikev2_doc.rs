//! The IKEv2 examples of docs/profile.md §12, built here from the code: the
//! page cannot drift from what the implementation puts on the wire.

use ace_core::cnf::{Cnf, Kmp};
use ace_core::coset::CoseKeyBuilder;
use ace_core::ipsec::{IpsecParams, SecProtocol};
use ace_core::labels;
use ace_core::token::{TokenRequest, TokenResponse};

fn in_doc(name: &str, bytes: &[u8]) {
    let h = hex::encode(bytes);
    println!("{name} ({} bytes):\n{h}\n", bytes.len());
    if std::env::var_os("PROFILE_DOC_PRINT").is_some() {
        return;
    }
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/profile.md"))
        .expect("docs/profile.md");
    let flat: String = doc.split_whitespace().collect();
    assert!(flat.contains(&h), "{name} is not in docs/profile.md:\n{h}");
}

#[test]
fn ikev2_psk_token_request_and_response() {
    // (2'') C asks for IKEv2 with a PSK the AS draws: req_cnf {kmp: ikev2}.
    let mut req = TokenRequest::new();
    req.audience = Some("tempSensor".into());
    req.req_cnf = Some(Cnf {
        kmp: Some(Kmp::Ikev2),
        ..Cnf::default()
    });
    in_doc("IKEv2 PSK token request", &req.to_cbor());

    // (3'') The response: the PSK as a symmetric COSE_Key, sec_A, kmp.
    let k: Vec<u8> = (0u8..32).collect();
    let key = CoseKeyBuilder::new_symmetric_key(k)
        .key_id(vec![0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18])
        .build();
    let resp = TokenResponse {
        access_token: vec![0xd0, 0x83, 0x43],
        expires_in: Some(3600),
        ace_profile: Some(labels::ace_profile::COAP_IPSEC),
        cnf: Some(Cnf {
            cose_key: Some(key),
            ipsec: Some(IpsecParams::transport(SecProtocol::Esp, 3600)),
            kmp: Some(Kmp::Ikev2),
            ..Cnf::default()
        }),
        rs_cnf: None,
        scope: None,
    };
    in_doc(
        "IKEv2 PSK token response (token truncated)",
        &resp.to_cbor(),
    );
}

#[test]
fn ikev2_held_psk_request_and_response() {
    // A PSK C holds, named by its kid: req_cnf {3: kid, kmp: ikev2}.
    let kid = vec![0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18];
    let mut req = TokenRequest::new();
    req.audience = Some("tempSensor".into());
    req.req_cnf = Some(Cnf {
        kid: Some(kid.clone()),
        kmp: Some(Kmp::Ikev2),
        ..Cnf::default()
    });
    in_doc("IKEv2 held-PSK token request", &req.to_cbor());
    // The response names it by kid only.
    let resp = TokenResponse {
        access_token: vec![0xd0, 0x83, 0x43],
        expires_in: Some(3600),
        ace_profile: Some(labels::ace_profile::COAP_IPSEC),
        cnf: Some(Cnf {
            kid: Some(kid),
            ipsec: Some(IpsecParams::transport(SecProtocol::Esp, 3600)),
            kmp: Some(Kmp::Ikev2),
            ..Cnf::default()
        }),
        rs_cnf: None,
        scope: None,
    };
    in_doc(
        "IKEv2 held-PSK token response (token truncated)",
        &resp.to_cbor(),
    );
}

#[test]
fn ikev2_rs_initiates_upload() {
    let upload = ace_core::AuthzInfoRequest {
        access_token: vec![0xd0, 0x83, 0x43],
        esp_udp_port: Some(40000),
        ike_rs_initiates: true,
    };
    in_doc("authz-info upload, RS starts IKEv2", &upload.to_cbor());
}
