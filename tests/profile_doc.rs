//! Every worked example in docs/profile.md is built here from the code, and
//! its hex must appear verbatim in the document: the page cannot drift from
//! what the implementation puts on the wire.

use std::time::Instant;

use ace_core::authz_info::AuthzInfoRequest;
use ace_core::cnf::Cnf;
use ace_core::hints::AsCreationHints;
use ace_core::ipsec::IpsecSpiUpdate;
use ace_core::scope::{AifEntry, Scope};
use ace_core::token::{AceErrorCode, AceErrorResponse, TokenRequest};
use ipsec_dp::consts::IPPROTO_UDP;
use ipsec_dp::kdf::derive_dp_sa_pair;
use ipsec_dp::sa::{InboundSa, OutboundSa};
use ipsec_dp::suite::EspSuite;
use ipsec_dp::transport::write_udp;

const SEED: [u8; 32] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];
const SPI_SA_C: u32 = 0x0001_2345;
const SPI_SA_RS: u32 = 0x0005_4321;

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/profile.md"))
        .expect("docs/profile.md")
}

fn in_doc(name: &str, bytes: &[u8]) {
    let h = hex::encode(bytes);
    println!("{name} ({} bytes):\n{h}\n", bytes.len());
    if std::env::var_os("PROFILE_DOC_PRINT").is_some() {
        return; // regenerating the document's examples
    }
    // Long hex is wrapped in the document at 64 characters per line.
    let flat: String = doc().split_whitespace().collect();
    assert!(
        flat.contains(&h),
        "docs/profile.md lacks the hex of {name}:\n{h}"
    );
}

#[test]
fn hints_request_update_upload_error() {
    let mut hints = AsCreationHints::new("coap://as.example/token");
    hints.audience = Some("tempSensor".into());
    in_doc("AS Request Creation Hints", &hints.to_cbor());

    let mut req = TokenRequest::new();
    req.audience = Some("tempSensor".into());
    req.scope = Some(Scope::Text("r_temp rw_led".into()));
    in_doc("token request (text scope)", &req.to_cbor());

    let mut aif = TokenRequest::new();
    aif.audience = Some("tempSensor".into());
    aif.scope = Some(Scope::Aif(vec![
        AifEntry::new("/temp", 1),
        AifEntry::new("/led", 1 | 4),
    ]));
    in_doc("token request (AIF scope)", &aif.to_cbor());

    let mut update = TokenRequest::new();
    update.audience = Some("tempSensor".into());
    update.req_cnf = Some(Cnf {
        ipsec_update: Some(IpsecSpiUpdate::new(0x0005_4322).unwrap()),
        ..Cnf::default()
    });
    in_doc("token update request", &update.to_cbor());

    let upload = AuthzInfoRequest::new(vec![0xd0, 0x83, 0x43], Some(40001));
    in_doc("authz-info upload (token truncated)", &upload.to_cbor());

    let err = AceErrorResponse::with_description(
        AceErrorCode::InvalidScope,
        "nothing requested is allowed",
    );
    in_doc("error response", &err.to_cbor());
}

#[test]
fn kdf_vector_and_an_esp_packet() {
    for suite in [EspSuite::AesCcm8_128, EspSuite::AesGcm16_128] {
        let (c, rs) = derive_dp_sa_pair(&SEED, SPI_SA_C, SPI_SA_RS, suite).unwrap();
        // Each SA's key and salt must stand together in one table row.
        for (sa, keys) in [("SA-C", &c), ("SA-RS", &rs)] {
            let row = format!(
                "| {sa} | `{}` | `{}` |",
                hex::encode(keys.key()),
                hex::encode(keys.salt())
            );
            println!("{suite:?} {row}");
            if std::env::var_os("PROFILE_DOC_PRINT").is_none() {
                assert!(doc().contains(&row), "docs/profile.md lacks the row {row}");
            }
        }
    }
    // C → RS: CON GET /temp (message ID 0x1234, token 0x42) from port 40000 to 5683,
    // transport mode, first packet of SA-C with AES-CCM-8.
    let coap = [0x41, 0x01, 0x12, 0x34, 0x42, 0xb4, b't', b'e', b'm', b'p'];
    in_doc("CoAP GET /temp", &coap);
    let (c, rs) = derive_dp_sa_pair(&SEED, SPI_SA_C, SPI_SA_RS, EspSuite::AesCcm8_128).unwrap();
    let mut udp = [0u8; 64];
    let n = write_udp(
        40000,
        5683,
        "192.0.2.1".parse().unwrap(),
        "192.0.2.2".parse().unwrap(),
        &coap,
        &mut udp,
    )
    .unwrap();
    in_doc("inner UDP datagram", &udp[..n]);
    let now = Instant::now();
    let mut out_sa = OutboundSa::new(SPI_SA_C, c.clone(), now, None).unwrap();
    let mut pkt = vec![0u8; out_sa.sealed_len(n)];
    let len = out_sa.seal(now, IPPROTO_UDP, &udp[..n], &mut pkt).unwrap();
    pkt.truncate(len);
    in_doc("ESP packet", &pkt);
    // And the RS opens it.
    let mut in_sa = InboundSa::new(SPI_SA_C, c, now, None).unwrap();
    let opened = in_sa.open(now, &mut pkt).unwrap();
    assert_eq!(opened.payload, &udp[..n]);
    drop(rs);
}
