//! The EDHOC examples of docs/profile.md §11 are produced by the code: each
//! hex string below must appear verbatim in the document (run with
//! `PROFILE_DOC_PRINT=1 cargo test --test edhoc_doc -- --nocapture` to
//! print them).

use ace_core::authz_info::AuthzInfoEdhoc;
use ace_core::cnf::{Cnf, Kmp};
use ace_core::cwt::Claims;
use ace_core::edhoc::{self, PrkOut, StaticKey};
use ace_core::ipsec::{IpsecParams, SecProtocol};
use ace_core::token::{TokenRequest, TokenResponse};
use ipsec_dp::kdf::derive_dp_sa_pair;
use ipsec_dp::suite::EspSuite;

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/profile.md"))
        .expect("docs/profile.md")
}

fn in_doc(name: &str, bytes: &[u8]) {
    let h = hex::encode(bytes);
    println!("{name} ({} bytes):\n{h}\n", bytes.len());
    if std::env::var_os("PROFILE_DOC_PRINT").is_some() {
        return;
    }
    let flat: String = doc().split_whitespace().collect();
    assert!(
        flat.contains(&h),
        "docs/profile.md lacks the hex of {name}:\n{h}"
    );
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// RFC 9529 §3: I, R, message_1, C_R, message_3, PRK_out.
const I: &str = "fb13adeb6518cee5f88417660841142e830a81fe334380a953406a1305e8706b";
const R: &str = "72cc4761dbd4c78f758931aa589d348d1ef874a7e303ede2f140dcf3e6aa4aac";
const MESSAGE_1: &str =
    "0382060258208af6f430ebe18d34184017a9a11bf511c8dff8f834730b96c1b7c8dbca2fc3b637";
const MESSAGE_3: &str = "52e562097bc417dd5919485ac7891ffd90a9fc";
const PRK_OUT: &str = "2c71afc1a9338a940bb3529ca734b886f30d1aba0b4dc51beeaeabdfea9ecbf8";

#[test]
fn edhoc_examples_are_in_the_document() {
    let mut req = TokenRequest::new();
    req.audience = Some("tempSensor".into());
    req.req_cnf = Some(Cnf {
        kid: Some(vec![0x2b]),
        ..Cnf::default()
    });
    in_doc("token request asking for EDHOC", &req.to_cbor());

    let c = StaticKey::from_private(&h(I), vec![0x2b]).unwrap();
    let rs = StaticKey::from_private(&h(R), vec![0x32]).unwrap();
    in_doc("CRED_I (client CCS)", &c.public().ccs());
    in_doc("CRED_R (RS CCS)", &rs.public().ccs());

    let ipsec = IpsecParams::transport(SecProtocol::Esp, 3600)
        .with_kmp_spis(0x0001_2345, 0x0005_4321, 10)
        .unwrap();
    let resp_cnf = Cnf {
        ipsec: Some(ipsec.clone()),
        kmp: Some(Kmp::Edhoc),
        ..Cnf::default()
    };
    let token_cnf = Cnf {
        cose_key: Some(c.public().to_cose_key()),
        ..resp_cnf.clone()
    };
    // The token response, with the token cut to its first 3 bytes.
    let resp = TokenResponse {
        access_token: h("d08343"),
        expires_in: Some(3600),
        ace_profile: Some(ace_core::labels::ace_profile::COAP_IPSEC),
        cnf: Some(resp_cnf),
        rs_cnf: Some(rs.public().to_cose_key()),
        scope: None,
    };
    in_doc("token response (EDHOC, token truncated)", &resp.to_cbor());
    // The token's cnf claim, as the claims map {8: cnf}.
    let claims = Claims {
        cnf: Some(token_cnf),
        ..Claims::default()
    };
    in_doc("cnf claim of the token (EDHOC)", &claims.to_cbor());

    let upload = AuthzInfoEdhoc {
        access_token: h("d08343"),
        esp_udp_port: Some(40001),
        message_1: h(MESSAGE_1),
    };
    in_doc(
        "authz-info upload with message_1 (token truncated)",
        &upload.to_cbor(),
    );

    // RFC 9529 §3: C_R = -8 (0x27).
    in_doc(
        "C_R ‖ message_3 to /.well-known/edhoc",
        &edhoc::message_3_request(&[0x27], &h(MESSAGE_3)),
    );
    in_doc(
        "EDHOC error message",
        &edhoc::error_message("MAC_3 verification failed"),
    );

    let token: Vec<u8> = (0u8..16).collect();
    let prk = PrkOut::new(h(PRK_OUT).try_into().unwrap());
    in_doc("exporter context", &edhoc::seed_context(&token));
    let seed = prk.ipsec_seed(&token);
    in_doc("IPsec seed", seed.as_bytes());
    let (sa_c, sa_rs) = derive_dp_sa_pair(
        seed.as_bytes(),
        0x0001_2345,
        0x0005_4321,
        EspSuite::AesCcm8_128,
    )
    .unwrap();
    for (name, k) in [("SA-C", &sa_c), ("SA-RS", &sa_rs)] {
        let row = format!(
            "| {name} | `{}` | `{}` |",
            hex::encode(k.key()),
            hex::encode(k.salt())
        );
        println!("{row}");
        if std::env::var_os("PROFILE_DOC_PRINT").is_none() {
            assert!(doc().contains(&row), "docs/profile.md lacks the row {row}");
        }
    }
}
