//! Arbitrary bytes into the token openers of ace-core (COSE_Encrypt0,
//! COSE_Mac0, COSE_Sign1) with fixed keys: none may panic. The first byte
//! selects the key algorithm so that every AEAD path is reached.

#![no_main]

use ace_core::{
    decode_sign1_unverified, decrypt_token, verify_mac0_token, ContentAlg, MacAlg, MacKey, TokenKey,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, token)) = data.split_first() else {
        return;
    };
    let alg = match selector % 4 {
        0 => ContentAlg::A128Gcm,
        1 => ContentAlg::A256Gcm,
        2 => ContentAlg::AesCcm16_64_128,
        _ => ContentAlg::AesCcm16_64_256,
    };
    let key = TokenKey::new(b"fuzz".to_vec(), alg, &vec![0x42; alg.key_len()]).expect("fixed key");
    let _ = decrypt_token(token, |kid| (kid == b"fuzz").then_some(&key));
    let _ = decrypt_token(token, |_| Some(&key));
    let mac = MacKey::new(b"fuzz".to_vec(), MacAlg::Hmac256_64, &[0x42; 32]).expect("fixed key");
    let _ = verify_mac0_token(token, |_| Some(&mac));
    let _ = decode_sign1_unverified(token);
});
