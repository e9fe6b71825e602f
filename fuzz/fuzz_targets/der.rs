#![no_main]
//! The DER reader under everything hand-parsed.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    for _ in 0..64 {
        match signet_ca::der::read(&mut input) {
            Ok(t) => {
                let mut inner = t.content;
                let _ = signet_ca::der::read(&mut inner);
            }
            Err(_) => break,
        }
    }
});
