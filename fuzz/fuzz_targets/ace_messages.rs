//! Arbitrary bytes into every ACE message decoder of ace-core: none may
//! panic, and whatever decodes must re-encode to bytes that decode and
//! re-encode to the same bytes (byte comparison, since a COSE_Key parameter
//! may legitimately hold a NaN, which is not equal to itself).

#![no_main]

use ace_core::{
    AceErrorResponse, AsCreationHints, AuthzInfoRequest, Claims, DecodeError, TokenRequest,
    TokenResponse,
};
use libfuzzer_sys::fuzz_target;

fn stable<T>(data: &[u8], decode: fn(&[u8]) -> Result<T, DecodeError>, encode: fn(&T) -> Vec<u8>) {
    if let Ok(m) = decode(data) {
        let once = encode(&m);
        let again = decode(&once).expect("re-encoded message decodes");
        assert_eq!(encode(&again), once);
    }
}

fuzz_target!(|data: &[u8]| {
    stable(data, TokenRequest::from_cbor, TokenRequest::to_cbor);
    stable(data, TokenResponse::from_cbor, TokenResponse::to_cbor);
    stable(data, AceErrorResponse::from_cbor, AceErrorResponse::to_cbor);
    stable(data, AsCreationHints::from_cbor, AsCreationHints::to_cbor);
    stable(data, AuthzInfoRequest::from_cbor, AuthzInfoRequest::to_cbor);
    stable(data, Claims::from_cbor, Claims::to_cbor);
});
