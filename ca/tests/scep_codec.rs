//! The SCEP codec against itself, against `openssl cms`, and against golden
//! messages captured from micromdm's scepclient and scepserver
//! (fixtures/scep, made by fixtures/scep/make.sh).

use std::path::PathBuf;
use std::process::Command;

use openssl::pkcs7::Pkcs7;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::X509;
use signet_ca::csr;
use signet_ca::raw_cert::RawCert;
use signet_ca::scep::{self, Attrs, ContentCipher, Digest, FailInfo, MessageType, PkiStatus};

fn rsa() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

struct Party {
    key: PKey<Private>,
    cert: X509,
}

fn party(cn: &str) -> Party {
    let key = rsa();
    let cert = scep::self_signed_signer(&key, cn).unwrap();
    Party { key, cert }
}

/// A PKCSReq as a client builds it.
fn request(client: &Party, ra: &Party, cipher: ContentCipher, digest: Digest) -> Vec<u8> {
    let csr =
        scep::csr_with_challenge(&client.key, client.cert.subject_name(), Some("s3cret")).unwrap();
    let env = scep::envelope(&RawCert::try_from(&*ra.cert).unwrap(), &csr, cipher).unwrap();
    let attrs = Attrs {
        message_type: MessageType::PkcsReq,
        transaction_id: "tx-1",
        sender_nonce: &[1; 16],
        recipient_nonce: None,
        status: None,
        failure: None,
    };
    scep::sign_message(&client.cert, &client.key, digest, &attrs, &env, &[]).unwrap()
}

#[test]
fn request_round_trip_modern_and_legacy() {
    assert!(scep::enable_legacy_ciphers());
    let (client, ra) = (party("device"), party("ra"));
    for (cipher, digest) in [
        (ContentCipher::Aes256, Digest::Sha256),
        (ContentCipher::Aes128, Digest::Sha512),
        (ContentCipher::Des3, Digest::Sha1),
        (ContentCipher::Des, Digest::Sha1),
    ] {
        let msg = scep::parse(&request(&client, &ra, cipher, digest)).unwrap();
        assert_eq!(msg.message_type, Some(MessageType::PkcsReq));
        assert_eq!(msg.transaction_id, "tx-1");
        assert_eq!(msg.sender_nonce, [1; 16]);
        assert_eq!(msg.digest, Some(digest));
        assert_eq!(msg.signer.der, client.cert.to_der().unwrap());
        assert_eq!(msg.cipher().unwrap(), cipher);
        if digest.is_legacy() {
            assert_eq!(msg.verify(false).unwrap_err().info, FailInfo::BadAlg);
        }
        msg.verify(true).unwrap();
        let csr = csr::parse(&msg.open(&ra.key, &ra.cert).unwrap().0).unwrap();
        assert_eq!(csr.challenge_password.as_deref(), Some("s3cret"));
        // Another key cannot open it.
        let other = party("other");
        assert!(msg.open(&other.key, &other.cert).is_err());
    }
}

#[test]
fn tampering_is_a_bad_message_check() {
    let (client, ra) = (party("device"), party("ra"));
    let good = request(&client, &ra, ContentCipher::Aes128, Digest::Sha256);
    // Flip a byte of the signature (the last bytes of the message).
    let mut bad_sig = good.clone();
    let n = bad_sig.len() - 3;
    bad_sig[n] ^= 0x40;
    let msg = scep::parse(&bad_sig).unwrap();
    assert_eq!(
        msg.verify(false).unwrap_err().info,
        FailInfo::BadMessageCheck
    );
    // A signer certificate swapped for another key's: the signature fails.
    let imposter = party("device");
    let forged = good
        .windows(client.cert.to_der().unwrap().len())
        .position(|w| w == client.cert.to_der().unwrap())
        .map(|at| {
            let mut v = good.clone();
            let c = imposter.cert.to_der().unwrap();
            if c.len() == client.cert.to_der().unwrap().len() {
                v[at..at + c.len()].copy_from_slice(&c);
            }
            v
        })
        .unwrap();
    if let Ok(m) = scep::parse(&forged) {
        assert!(m.verify(false).is_err());
    }
}

#[test]
fn garbage_is_undecodable() {
    for bad in [
        &b""[..],
        b"hello",
        &[0x30, 0x80, 0, 0],
        &scep::degenerate(&[], &[]),
    ] {
        assert!(scep::parse(bad).is_err(), "{bad:?}");
    }
}

fn openssl(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A SUCCESS CertRep, checked by `openssl cms` rather than by our parser.
#[test]
fn cert_rep_verifies_and_decrypts_with_openssl() {
    let (client, ra) = (party("device"), party("ra"));
    let issued = party("issued").cert;
    let inner = scep::degenerate(&[&issued.to_der().unwrap()], &[]);
    let env = scep::envelope(
        &RawCert::try_from(&*client.cert).unwrap(),
        &inner,
        ContentCipher::Aes256,
    )
    .unwrap();
    let failure = None;
    let attrs = Attrs {
        message_type: MessageType::CertRep,
        transaction_id: "tx-1",
        sender_nonce: &[2; 16],
        recipient_nonce: Some(&[1; 16]),
        status: Some(PkiStatus::Success),
        failure,
    };
    let rep = scep::sign_message(&ra.cert, &ra.key, Digest::Sha256, &attrs, &env, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("rep.der"), &rep).unwrap();
    std::fs::write(d.join("ra.pem"), ra.cert.to_pem().unwrap()).unwrap();
    std::fs::write(d.join("client.pem"), client.cert.to_pem().unwrap()).unwrap();
    std::fs::write(
        d.join("client.key"),
        client.key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    openssl(
        d,
        &[
            "cms", "-verify", "-inform", "DER", "-in", "rep.der", "-binary", "-CAfile", "ra.pem",
            "-out", "env.der",
        ],
    );
    openssl(
        d,
        &[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            "env.der",
            "-recip",
            "client.pem",
            "-inkey",
            "client.key",
            "-binary",
            "-out",
            "inner.der",
        ],
    );
    let inner_back = std::fs::read(d.join("inner.der")).unwrap();
    let p7 = Pkcs7::from_der(&inner_back).unwrap();
    let certs = p7.signed().unwrap().certificates().unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(
        certs.get(0).unwrap().to_der().unwrap(),
        issued.to_der().unwrap()
    );
    // Our own parser reads the reply's attributes.
    let back = scep::parse(&rep).unwrap();
    assert_eq!(back.message_type, Some(MessageType::CertRep));
    back.verify(false).unwrap();
}

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/scep")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn pem_key(name: &str) -> PKey<Private> {
    PKey::private_key_from_pem(&fixture(name)).unwrap()
}

/// micromdm scepclient's PKCSReq: single DES, SHA-1, BER envelope.
#[test]
fn golden_micromdm_request() {
    assert!(scep::enable_legacy_ciphers());
    let msg = scep::parse(&fixture("scepclient-pkcsreq.der")).unwrap();
    assert_eq!(msg.message_type, Some(MessageType::PkcsReq));
    assert_eq!(msg.cipher().unwrap(), ContentCipher::Des);
    assert_eq!(msg.verify(false).unwrap_err().info, FailInfo::BadAlg);
    msg.verify(true).unwrap();
    let ca = X509::from_pem(&fixture("scepserver-ca.pem")).unwrap();
    let csr_der = msg.open(&pem_key("scepserver-ca.key"), &ca).unwrap().0;
    let csr = csr::parse(&csr_der).unwrap();
    assert_eq!(csr.challenge_password.as_deref(), Some("golden-secret"));
    assert_eq!(csr.common_name(), Some("golden-device"));
}

/// micromdm scepserver's CertRep to that request.
#[test]
fn golden_micromdm_cert_rep() {
    assert!(scep::enable_legacy_ciphers());
    let msg = scep::parse(&fixture("scepserver-certrep.der")).unwrap();
    assert_eq!(msg.message_type, Some(MessageType::CertRep));
    msg.verify(true).unwrap();
    let req = scep::parse(&fixture("scepclient-pkcsreq.der")).unwrap();
    assert_eq!(msg.transaction_id, req.transaction_id);
    let (inner, cipher) = msg
        .open(&pem_key("scepclient.key"), &req.signer.to_x509().unwrap())
        .unwrap();
    assert_eq!(cipher, ContentCipher::Des, "micromdm answers in DES too");
    let p7 = Pkcs7::from_der(&inner).unwrap();
    let certs = p7.signed().unwrap().certificates().unwrap();
    assert_eq!(
        certs
            .get(0)
            .unwrap()
            .subject_name()
            .entries()
            .last()
            .unwrap()
            .data()
            .as_slice(),
        b"golden-device"
    );
}

/// Apple sends BER with indefinite lengths: re-wrap a request's outer
/// SEQUENCE that way and it must still parse and verify.
#[test]
fn ber_indefinite_length_is_accepted() {
    let (client, ra) = (party("iphone"), party("ra"));
    let der = request(&client, &ra, ContentCipher::Aes128, Digest::Sha256);
    let mut input = der.as_slice();
    let outer = signet_ca::der::read(&mut input).unwrap();
    let ber = [&[0x30, 0x80][..], outer.content, &[0, 0]].concat();
    let msg = scep::parse(&ber).unwrap();
    msg.verify(false).unwrap();
    assert!(msg.open(&ra.key, &ra.cert).is_ok());
}
