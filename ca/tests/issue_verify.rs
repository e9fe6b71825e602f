//! Every certificate the core signs is checked by `openssl verify` against
//! its chain and parsed back with x509-parser.

use std::process::Command;

use openssl::x509::{X509, X509Req, X509ReqBuilder};
use signet_ca::authority::{self, CaSpec};
use signet_ca::csr;
use signet_ca::issue::{self, CertPlan, Issuer, SignAs};
use signet_ca::key::KeyType;
use signet_ca::names::San;
use signet_ca::{CaError, serial};
use x509_parser::extensions::GeneralName;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn spec(cn: &str, kt: KeyType, path_len: Option<u32>) -> CaSpec<'_> {
    CaSpec {
        common_name: cn,
        organization: Some("Signet Test"),
        key_type: kt,
        not_before: now() - 60,
        not_after: now() + 86400 * 365,
        path_len,
        crl_urls: vec![],
        ocsp_urls: vec![],
        ca_issuers_urls: vec![],
    }
}

fn openssl_verify(root: &X509, inter: &X509, leaf_der: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("root.pem"), root.to_pem().unwrap()).unwrap();
    std::fs::write(p("inter.pem"), inter.to_pem().unwrap()).unwrap();
    std::fs::write(
        p("leaf.pem"),
        X509::from_der(leaf_der).unwrap().to_pem().unwrap(),
    )
    .unwrap();
    let out = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(p("root.pem"))
        .arg("-untrusted")
        .arg(p("inter.pem"))
        .arg(p("leaf.pem"))
        .output()
        .expect("openssl on PATH");
    assert!(
        out.status.success(),
        "openssl verify: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn csr_for(kt: KeyType, sans: &[&str]) -> (Vec<u8>, openssl::pkey::PKey<openssl::pkey::Private>) {
    let key = kt.generate().unwrap();
    let mut b = X509ReqBuilder::new().unwrap();
    b.set_pubkey(&key).unwrap();
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", sans[0]).unwrap();
    b.set_subject_name(&name.build()).unwrap();
    let mut stack = openssl::stack::Stack::new().unwrap();
    let mut san = openssl::x509::extension::SubjectAlternativeName::new();
    for s in sans {
        if s.parse::<std::net::IpAddr>().is_ok() {
            san.ip(s);
        } else {
            san.dns(s);
        }
    }
    stack
        .push(san.build(&b.x509v3_context(None)).unwrap())
        .unwrap();
    b.add_extensions(&stack).unwrap();
    b.sign(&key, signet_ca::key::signing_digest(&key)).unwrap();
    (b.build().to_pem().unwrap(), key)
}

fn hierarchy(kt: KeyType) -> (Issuer, Issuer) {
    let root = authority::create_root(&spec("Test Root", kt, None)).unwrap();
    let inter = authority::create_subordinate(&root, &spec("Test Issuing", kt, Some(0))).unwrap();
    (root, inter)
}

#[test]
fn leaf_from_each_ca_key_type_verifies_and_parses() {
    for kt in [
        KeyType::EcP256,
        KeyType::EcP384,
        KeyType::EcP521,
        KeyType::Rsa2048,
        KeyType::Ed25519,
    ] {
        let (root, inter) = hierarchy(kt);
        authority::check_import(&inter.cert, &inter.key, &inter.chain).unwrap();
        for leaf_kt in [KeyType::EcP256, KeyType::Rsa2048, KeyType::Ed25519] {
            let (pem, _) = csr_for(leaf_kt, &["a.example.test", "b.example.test", "10.1.2.3"]);
            let parsed = csr::parse(&pem).unwrap();
            assert_eq!(parsed.key.label(), leaf_kt.as_str());
            let plan = CertPlan {
                subject: vec![("CN".into(), "a.example.test".into())],
                sans: parsed.sans.clone(),
                not_before: now() - 60,
                not_after: now() + 86400,
                key_usage: vec!["digitalSignature".into()],
                ext_key_usage: vec!["serverAuth".into(), "clientAuth".into()],
                crl_urls: vec!["http://ca.test/crl/1.crl".into()],
                ocsp_urls: vec!["http://ca.test/ocsp".into()],
                ca_issuers_urls: vec!["http://ca.test/ca/1.crt".into()],
                ..Default::default()
            };
            let ser = serial::random().unwrap();
            let der = issue::sign(SignAs::Issuer(&inter), &plan, &ser, &parsed.public_key).unwrap();
            openssl_verify(&root.cert, &inter.cert, &der);

            let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
            assert_eq!(cert.raw_serial(), &ser);
            let san = cert.subject_alternative_name().unwrap().unwrap();
            let names: Vec<String> = san
                .value
                .general_names
                .iter()
                .map(|g| match g {
                    GeneralName::DNSName(d) => d.to_string(),
                    GeneralName::IPAddress(b) => format!("{b:?}"),
                    _ => String::new(),
                })
                .collect();
            assert_eq!(names[0], "a.example.test");
            assert_eq!(names[2], "[10, 1, 2, 3]");
            assert!(cert.extensions().iter().any(|e| matches!(
                e.parsed_extension(),
                x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(_)
            )));
            let eku = cert.extended_key_usage().unwrap().unwrap();
            assert!(eku.value.server_auth && eku.value.client_auth);
            assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
        }
    }
}

#[test]
fn csr_errors_are_specific() {
    assert!(matches!(
        csr::parse(b"garbage"),
        Err(CaError::MalformedCsr(_))
    ));
    // A CSR whose signature was made by a different key.
    let key = KeyType::EcP256.generate().unwrap();
    let other = KeyType::EcP256.generate().unwrap();
    let mut b = X509ReqBuilder::new().unwrap();
    b.set_pubkey(&key).unwrap();
    b.sign(&other, openssl::hash::MessageDigest::sha256())
        .unwrap();
    let req: X509Req = b.build();
    assert!(matches!(
        csr::parse(&req.to_der().unwrap()),
        Err(CaError::BadCsrSignature)
    ));
    // A weak RSA key.
    let weak = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(1024).unwrap()).unwrap();
    let mut b = X509ReqBuilder::new().unwrap();
    b.set_pubkey(&weak).unwrap();
    b.sign(&weak, openssl::hash::MessageDigest::sha256())
        .unwrap();
    assert!(matches!(
        csr::parse(&b.build().to_pem().unwrap()),
        Err(CaError::WeakKey(_))
    ));
}

#[test]
fn import_rejects_mismatched_key_and_non_ca() {
    let (root, inter) = hierarchy(KeyType::EcP256);
    let err = authority::check_import(&inter.cert, &root.key, &[]).unwrap_err();
    assert!(err.to_string().contains("does not match"));
    // A chain in the wrong order.
    let err = authority::check_import(&inter.cert, &inter.key, std::slice::from_ref(&inter.cert))
        .unwrap_err();
    assert!(err.to_string().contains("chain"));
    // A leaf is not a CA.
    let (pem, key) = csr_for(KeyType::EcP256, &["x.test"]);
    let parsed = csr::parse(&pem).unwrap();
    let plan = CertPlan {
        sans: vec![San::Dns("x.test".into())],
        not_before: now(),
        not_after: now() + 10,
        ..Default::default()
    };
    let der = issue::sign(
        SignAs::Issuer(&inter),
        &plan,
        &serial::random().unwrap(),
        &parsed.public_key,
    )
    .unwrap();
    let err = authority::check_import(&X509::from_der(&der).unwrap(), &key, &[]).unwrap_err();
    assert!(err.to_string().contains("not a CA"));
}

#[test]
fn bad_plans_are_refused() {
    let (_, inter) = hierarchy(KeyType::EcP256);
    let key = KeyType::EcP256.generate().unwrap();
    let ser = serial::random().unwrap();
    let empty = CertPlan {
        not_before: 0,
        not_after: 10,
        ..Default::default()
    };
    assert!(issue::sign(SignAs::Issuer(&inter), &empty, &ser, &key).is_err());
    let backwards = CertPlan {
        sans: vec![San::Dns("a.test".into())],
        not_before: 10,
        not_after: 0,
        ..Default::default()
    };
    assert!(issue::sign(SignAs::Issuer(&inter), &backwards, &ser, &key).is_err());
    let bad_ku = CertPlan {
        sans: vec![San::Dns("a.test".into())],
        not_before: 0,
        not_after: 10,
        key_usage: vec!["everything".into()],
        ..Default::default()
    };
    assert!(issue::sign(SignAs::Issuer(&inter), &bad_ku, &ser, &key).is_err());
}

/// A failed check must leave OpenSSL's per-thread error queue empty: a stale
/// queue makes the next TLS operation on that thread fail.
#[test]
fn failed_checks_leave_no_openssl_errors_behind() {
    let (root, inter) = hierarchy(KeyType::EcP256);
    let rsa = KeyType::Rsa2048.generate().unwrap();
    assert!(!signet_ca::signed_by(&inter.cert, &rsa), "wrong key type");
    assert!(openssl::error::ErrorStack::get().errors().is_empty());
    assert!(!signet_ca::signed_by(&root.cert, &inter.key), "wrong key");
    assert!(openssl::error::ErrorStack::get().errors().is_empty());
    assert!(!signet_ca::same_public_key(&rsa, &inter.key));
    assert!(openssl::error::ErrorStack::get().errors().is_empty());
    assert!(signet_ca::signed_by(&inter.cert, &root.key));
}

/// Requests made by the `openssl req` command, in each signature algorithm a
/// client may use, including RSA-PSS (which takes OpenSSL's own check): each
/// parses, keeps its subject, and fails once a byte of its signature flips.
#[test]
fn csrs_from_openssl_req_in_each_algorithm_verify_and_tampering_fails() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 6] = [
        (
            "ec-sha256",
            &[
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-sha256",
            ],
        ),
        (
            "ec-sha384",
            &[
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-sha384",
            ],
        ),
        ("rsa-sha256", &["-newkey", "rsa:2048", "-sha256"]),
        ("rsa-sha1", &["-newkey", "rsa:2048", "-sha1"]),
        (
            "rsa-pss",
            &[
                "-newkey",
                "rsa:2048",
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
            ],
        ),
        ("ed25519", &["-newkey", "ed25519"]),
    ];
    for (name, args) in cases {
        let out = dir.path().join(format!("{name}.der"));
        let st = Command::new("openssl")
            .args(["req", "-new", "-nodes", "-utf8", "-keyout"])
            .arg(dir.path().join(format!("{name}.key")))
            .args([
                "-subj",
                "/C=DE/O=Signet Tëst/CN=device.example.test",
                "-outform",
                "DER",
                "-out",
            ])
            .arg(&out)
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "{name}");
        let der = std::fs::read(&out).unwrap();
        let parsed = csr::parse(&der).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed.der, der, "{name}");
        assert_eq!(
            parsed.subject,
            [
                ("C", "DE"),
                ("O", "Signet Tëst"),
                ("CN", "device.example.test")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
            "{name}"
        );
        let mut bad = der.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(
            matches!(csr::parse(&bad), Err(CaError::BadCsrSignature)),
            "{name}: a flipped signature byte must not verify"
        );
    }
    // The older PEM label some clients still write.
    let der = std::fs::read(dir.path().join("ec-sha256.der")).unwrap();
    let pem = String::from_utf8(signet_ca::pem("NEW CERTIFICATE REQUEST", &der)).unwrap();
    assert_eq!(csr::parse(pem.as_bytes()).unwrap().der, der);
    let pem = String::from_utf8(signet_ca::pem("CERTIFICATE", &der)).unwrap();
    assert!(matches!(
        csr::parse(pem.as_bytes()),
        Err(CaError::MalformedCsr(_))
    ));
}
