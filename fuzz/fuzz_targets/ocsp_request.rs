#![no_main]
//! OCSP requests arrive unauthenticated on the plain-HTTP listener.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = signet_ca::ocsp::parse_request(data);
});
