//! Parsers of untrusted bytes must never panic. The fuzz targets in `fuzz/`
//! explore this with coverage guidance (`cargo fuzz`); this test is the
//! deterministic, always-on version that CI runs on stable Rust: thousands of
//! mutations of valid inputs through each parser.

use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspRequest};
use openssl::x509::X509ReqBuilder;
use signet_ca::authority::{self, CaSpec};
use signet_ca::key::KeyType;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Flip, overwrite, insert, delete, truncate or splice: a few edits per input.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(v.len());
        match rng.below(6) {
            0 if !v.is_empty() => v[i] ^= 1 << rng.below(8),
            1 if !v.is_empty() => v[i] = rng.next() as u8,
            2 => v.insert(i.min(v.len()), rng.next() as u8),
            3 if !v.is_empty() => {
                v.remove(i);
            }
            4 => v.truncate(i),
            _ if !v.is_empty() => {
                let j = rng.below(v.len());
                let chunk: Vec<u8> = v[j..(j + 8).min(v.len())].to_vec();
                v.splice(i..i, chunk);
            }
            _ => {}
        }
    }
    v
}

fn run(name: &str, seed: &[u8], rounds: usize, f: impl Fn(&[u8])) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.len() as u64);
    f(seed);
    f(&[]);
    for i in 0..rounds {
        let input = mutate(seed, &mut rng);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&input)));
        assert!(r.is_ok(), "{name}: panic on mutation {i}: {input:02x?}");
    }
}

#[test]
fn csr_parser_never_panics() {
    let key = KeyType::EcP256.generate().unwrap();
    let mut b = X509ReqBuilder::new().unwrap();
    b.set_pubkey(&key).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let der = b.build().to_der().unwrap();
    run("csr", &der, 20_000, |d| {
        let _ = signet_ca::csr::parse(d);
    });
}

#[test]
fn ocsp_and_der_parsers_never_panic() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ca = authority::create_root(&CaSpec {
        common_name: "R",
        organization: None,
        key_type: KeyType::EcP256,
        not_before: now,
        not_after: now + 60,
        path_len: None,
        crl_urls: vec![],
        ocsp_urls: vec![],
        ca_issuers_urls: vec![],
    })
    .unwrap();
    let mut req = OcspRequest::new().unwrap();
    req.add_id(OcspCertId::from_cert(MessageDigest::sha1(), &ca.cert, &ca.cert).unwrap())
        .unwrap();
    let der = req.to_der().unwrap();
    run("ocsp", &der, 50_000, |d| {
        let _ = signet_ca::ocsp::parse_request(d);
    });
    let cert = ca.cert.to_der().unwrap();
    run("der", &cert, 50_000, |d| {
        let mut i = d;
        while let Ok(t) = signet_ca::der::read(&mut i) {
            let mut inner = t.content;
            let _ = signet_ca::der::read(&mut inner);
        }
    });
}

#[test]
fn jwk_parser_and_verify_never_panic() {
    let seed = br#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    run("jwk", seed, 20_000, |d| {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(d)
            && let Ok(k) = signet_ca::jose::parse_jwk(&v)
        {
            let _ = signet_ca::jose::verify("ES256", &k.key, b"input", &[0u8; 64]);
        }
    });
}

#[test]
fn scep_parser_never_panics() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/scep/");
    let read = |n: &str| std::fs::read(format!("{fixtures}{n}")).unwrap();
    let seed = read("scepclient-pkcsreq.der");
    let key = openssl::pkey::PKey::private_key_from_pem(&read("scepserver-ca.key")).unwrap();
    let cert = openssl::x509::X509::from_pem(&read("scepserver-ca.pem")).unwrap();
    signet_ca::scep::enable_legacy_ciphers();
    run("scep", &seed, 20_000, |d| {
        if let Ok(m) = signet_ca::scep::parse(d) {
            let _ = m.verify(true);
            let _ = m.cipher();
        }
        let _ = signet_ca::scep::parse_issuer_and_serial(d);
    });
    // Decryption is slower: fewer rounds.
    run("scep-open", &seed, 2_000, |d| {
        if let Ok(m) = signet_ca::scep::parse(d) {
            let _ = m.open(&key, &cert);
        }
    });
}
