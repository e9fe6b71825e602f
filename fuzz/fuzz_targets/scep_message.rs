#![no_main]
//! SCEP pkiMessages from devices: SignedData → EnvelopedData → CSR.
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

fn responder() -> &'static (PKey<Private>, X509) {
    static R: OnceLock<(PKey<Private>, X509)> = OnceLock::new();
    R.get_or_init(|| {
        signet_ca::scep::enable_legacy_ciphers();
        (
            PKey::private_key_from_pem(include_bytes!("../../fixtures/scep/scepserver-ca.key")).unwrap(),
            X509::from_pem(include_bytes!("../../fixtures/scep/scepserver-ca.pem")).unwrap(),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let (key, cert) = responder();
    if let Ok(m) = signet_ca::scep::parse(data) {
        let _ = m.verify(true);
        let _ = m.cipher();
        if let Ok((content, _)) = m.open(key, cert) {
            let _ = signet_ca::csr::parse(&content);
            let _ = signet_ca::scep::parse_issuer_and_serial(&content);
        }
    }
});
