#![no_main]
//! The ACME request body: flattened JWS, protected header, embedded JWK, signature check.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, _payload, sig, input)) = signet::acme::jws::parse(data) {
        if let Some(jwk) = header.get("jwk") {
            if let Ok(k) = signet_ca::jose::parse_jwk(jwk) {
                let alg = header.get("alg").and_then(|a| a.as_str()).unwrap_or("ES256");
                let _ = signet_ca::jose::verify(alg, &k.key, input.as_bytes(), &sig);
            }
        }
    }
});
