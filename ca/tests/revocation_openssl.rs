//! CRLs and OCSP responses from the core, checked by the openssl CLI.

use std::path::Path;
use std::process::Command;

use openssl::x509::X509;
use signet_ca::authority::{self, CaSpec};
use signet_ca::crl::{self, CrlSpec, Entry, Kind};
use signet_ca::issue::{self, CertPlan, Issuer, SignAs};
use signet_ca::key::KeyType;
use signet_ca::names::San;
use signet_ca::ocsp::{self, Single, Status};
use signet_ca::serial;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn ca(kt: KeyType) -> (Issuer, Issuer) {
    let spec = |cn: &'static str, pl| CaSpec {
        common_name: cn,
        organization: None,
        key_type: kt,
        not_before: now() - 60,
        not_after: now() + 86400,
        path_len: pl,
        crl_urls: vec![],
        ocsp_urls: vec![],
        ca_issuers_urls: vec![],
    };
    let root = authority::create_root(&spec("R", None)).unwrap();
    let inter = authority::create_subordinate(&root, &spec("I", Some(0))).unwrap();
    (root, inter)
}

fn leaf(inter: &Issuer, name: &str) -> (X509, Vec<u8>) {
    let key = KeyType::EcP256.generate().unwrap();
    let plan = CertPlan {
        sans: vec![San::Dns(name.into())],
        not_before: now() - 60,
        not_after: now() + 3600,
        ..Default::default()
    };
    let ser = serial::random().unwrap().to_vec();
    let der = issue::sign(SignAs::Issuer(inter), &plan, &ser, &key).unwrap();
    (X509::from_der(&der).unwrap(), ser)
}

fn run(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn pem_crl(der: &[u8]) -> Vec<u8> {
    openssl::x509::X509Crl::from_der(der)
        .unwrap()
        .to_pem()
        .unwrap()
}

#[test]
fn full_and_delta_crls_are_accepted_by_openssl() {
    for kt in [KeyType::EcP256, KeyType::Rsa2048] {
        let (root, inter) = ca(kt);
        let (good, _) = leaf(&inter, "good.test");
        let (bad, bad_serial) = leaf(&inter, "bad.test");
        let (late, late_serial) = leaf(&inter, "late.test");
        let dir = tempfile::tempdir().unwrap();
        let w = |n: &str, b: &[u8]| std::fs::write(dir.path().join(n), b).unwrap();
        w("root.pem", &root.cert.to_pem().unwrap());
        w("inter.pem", &inter.cert.to_pem().unwrap());
        w("good.pem", &good.to_pem().unwrap());
        w("bad.pem", &bad.to_pem().unwrap());
        w("late.pem", &late.to_pem().unwrap());
        // The root's CRL (empty) so -crl_check_all can check the intermediate too.
        let root_crl = crl::build(
            &root,
            &CrlSpec {
                number: 1,
                this_update: now() - 10,
                next_update: now() + 3600,
                kind: Kind::Full {
                    freshest_url: None,
                    idp_url: None,
                },
            },
            vec![],
        )
        .unwrap();
        let full = crl::build(
            &inter,
            &CrlSpec {
                number: 7,
                this_update: now() - 10,
                next_update: now() + 3600,
                kind: Kind::Full {
                    freshest_url: Some("http://ca.test/crl/i/delta.crl".into()),
                    idp_url: None,
                },
            },
            vec![Entry {
                serial: &bad_serial,
                revoked_at: now() - 5,
                reason: Some(1),
                invalidity_date: Some(now() - 100),
            }],
        )
        .unwrap();
        w("full.crl", &full);
        let (ok, text) = run(
            &[
                "crl", "-inform", "DER", "-in", "full.crl", "-noout", "-text",
            ],
            dir.path(),
        );
        assert!(ok, "{text}");
        assert!(
            text.contains("X509v3 CRL Number: \n                7") || text.contains("CRL Number:"),
            "{text}"
        );
        assert!(text.contains("Key Compromise"), "{text}");
        assert!(text.contains("Invalidity Date"), "{text}");
        assert!(text.contains("Freshest CRL"), "{text}");
        assert!(text.contains("Authority Key Identifier"), "{text}");
        w("crls.pem", &[pem_crl(&root_crl), pem_crl(&full)].concat());
        let verify = |cert: &str, extra: &[&str]| {
            let mut a = vec![
                "verify",
                "-crl_check_all",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "inter.pem",
                "-CRLfile",
                "crls.pem",
            ];
            a.extend_from_slice(extra);
            a.push(cert);
            run(&a, dir.path())
        };
        assert!(verify("good.pem", &[]).0, "{}", verify("good.pem", &[]).1);
        let (ok, out) = verify("bad.pem", &[]);
        assert!(!ok && out.contains("revoked"), "{out}");
        // A delta revoking `late`; with -use_deltas openssl rejects it too.
        let delta = crl::build(
            &inter,
            &CrlSpec {
                number: 8,
                this_update: now() - 5,
                next_update: now() + 900,
                kind: Kind::Delta { base: 7 },
            },
            vec![Entry {
                serial: &late_serial,
                revoked_at: now() - 2,
                reason: Some(4),
                invalidity_date: None,
            }],
        )
        .unwrap();
        w("delta.crl", &delta);
        let (ok, text) = run(
            &[
                "crl",
                "-inform",
                "DER",
                "-in",
                "delta.crl",
                "-noout",
                "-text",
            ],
            dir.path(),
        );
        assert!(
            ok && text.contains("Delta CRL Indicator: critical"),
            "{text}"
        );
        w(
            "crls.pem",
            &[pem_crl(&root_crl), pem_crl(&full), pem_crl(&delta)].concat(),
        );
        let (ok, out) = verify("late.pem", &["-use_deltas"]);
        assert!(!ok && out.contains("revoked"), "{out}");
        assert!(verify("good.pem", &["-use_deltas"]).0);
        // An empty CRL has no revokedCertificates at all.
        let empty = crl::build(
            &inter,
            &CrlSpec {
                number: 9,
                this_update: now(),
                next_update: now() + 60,
                kind: Kind::Full {
                    freshest_url: None,
                    idp_url: None,
                },
            },
            vec![],
        )
        .unwrap();
        w("empty.crl", &empty);
        let (ok, text) = run(
            &[
                "crl",
                "-inform",
                "DER",
                "-in",
                "empty.crl",
                "-noout",
                "-text",
            ],
            dir.path(),
        );
        assert!(ok && text.contains("No Revoked Certificates"), "{text}");
    }
}

#[test]
fn ocsp_good_revoked_unknown_and_nonce() {
    let (root, inter) = ca(KeyType::EcP256);
    let (good, _) = leaf(&inter, "good.test");
    let (bad, _) = leaf(&inter, "bad.test");
    let dir = tempfile::tempdir().unwrap();
    let w = |n: &str, b: &[u8]| std::fs::write(dir.path().join(n), b).unwrap();
    w("root.pem", &root.cert.to_pem().unwrap());
    w("inter.pem", &inter.cert.to_pem().unwrap());
    w(
        "chain.pem",
        &[inter.cert.to_pem().unwrap(), root.cert.to_pem().unwrap()].concat(),
    );
    w("good.pem", &good.to_pem().unwrap());
    w("bad.pem", &bad.to_pem().unwrap());
    for (digest, cert, status, want) in [
        ("-sha1", "good.pem", Status::Good, "good"),
        (
            "-sha256",
            "bad.pem",
            Status::Revoked {
                at: now() - 30,
                reason: Some(1),
            },
            "revoked",
        ),
        ("-sha256", "good.pem", Status::Unknown, "unknown"),
    ] {
        let (ok, out) = run(
            &[
                "ocsp",
                digest,
                "-issuer",
                "inter.pem",
                "-cert",
                cert,
                "-reqout",
                "req.der",
            ],
            dir.path(),
        );
        assert!(ok, "{out}");
        let req = ocsp::parse_request(&std::fs::read(dir.path().join("req.der")).unwrap()).unwrap();
        assert_eq!(req.ids.len(), 1);
        let id = &req.ids[0];
        let (nh, kh) = ocsp::issuer_hashes(&inter.cert, id.alg).unwrap();
        assert_eq!(
            (id.issuer_name_hash.clone(), id.issuer_key_hash.clone()),
            (nh, kh)
        );
        assert!(req.nonce.is_some(), "openssl sends a nonce by default");
        let resp = ocsp::respond(
            &inter,
            &[],
            &[Single {
                id,
                status,
                this_update: now() - 60,
                next_update: now() + 3600,
            }],
            now(),
            req.nonce.as_deref(),
        )
        .unwrap();
        w("resp.der", &resp);
        // -cert makes openssl build a second request, so status is checked without a nonce…
        let (ok, out) = run(
            &[
                "ocsp",
                digest,
                "-respin",
                "resp.der",
                "-no_nonce",
                "-issuer",
                "inter.pem",
                "-cert",
                cert,
                "-CAfile",
                "chain.pem",
            ],
            dir.path(),
        );
        assert!(ok, "{out}");
        // …and the nonce echo against the original request.
        let (ok, nonce_out) = run(
            &[
                "ocsp",
                "-respin",
                "resp.der",
                "-reqin",
                "req.der",
                "-verify_other",
                "inter.pem",
                "-CAfile",
                "chain.pem",
            ],
            dir.path(),
        );
        assert!(
            ok && nonce_out.contains("Response verify OK")
                && !nonce_out.contains("Nonce Verify error"),
            "{nonce_out}"
        );
        assert!(
            out.contains("Response verify OK") && out.contains(&format!("{cert}: {want}")),
            "{out}"
        );
        if want == "revoked" {
            assert!(out.contains("Reason: keyCompromise"), "{out}");
        }
    }
    assert!(ocsp::parse_request(b"\x30\x00").is_err());
    assert!(ocsp::parse_request(b"garbage").is_err());
}
