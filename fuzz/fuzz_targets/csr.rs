#![no_main]
//! PKCS#10 requests from ACME finalize, the REST API and (later) SCEP.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = signet_ca::csr::parse(data);
});
