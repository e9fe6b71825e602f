//! SCEP against the running server, with a device built from the codec in
//! `signet_ca::scep` (micromdm's real scepclient runs in conformance/).

use std::io::{Read, Write};

use openssl::pkcs7::Pkcs7;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::X509;
use serde_json::{Value, json};
use signet_ca::raw_cert::RawCert;
use signet_ca::scep::{self, Attrs, ContentCipher, Digest, MessageType};

use crate::helpers::*;

pub(crate) struct Device {
    pub(crate) key: PKey<Private>,
    /// The certificate requests are signed with: self-signed, or issued.
    cert: X509,
}

impl Device {
    fn new(cn: &str) -> Device {
        Self::with_key(PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(), cn)
    }

    pub(crate) fn with_key(key: PKey<Private>, cn: &str) -> Device {
        let cert = scep::self_signed_signer(&key, cn).unwrap();
        Device { key, cert }
    }

    pub(crate) fn csr(&self, challenge: Option<&str>) -> Vec<u8> {
        scep::csr_with_challenge(&self.key, self.cert.subject_name(), challenge).unwrap()
    }
}

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: String,
    pub(crate) fail_info: Option<String>,
    fail_text: Option<String>,
    pub(crate) certs: Vec<X509>,
    crls: usize,
}

/// The CRLs of a degenerate SignedData (`crls [1]`), parsed by OpenSSL.
fn degenerate_crls(der: &[u8]) -> Vec<openssl::x509::X509Crl> {
    use signet_ca::der::read;
    let mut input = der;
    let ci = read(&mut input).unwrap();
    let mut ci = ci.content;
    read(&mut ci).unwrap(); // contentType
    let mut explicit = read(&mut ci).unwrap().content;
    let mut sd = read(&mut explicit).unwrap().content;
    let mut out = Vec::new();
    while !sd.is_empty() {
        let el = read(&mut sd).unwrap();
        if el.tag == 0xa1 {
            let mut list = el.content;
            while !list.is_empty() {
                let crl = read(&mut list).unwrap();
                out.push(openssl::x509::X509Crl::from_der(crl.raw).unwrap());
            }
        }
    }
    out
}

pub(crate) struct Scep<'a> {
    t: &'a TestApp,
    url: String,
    /// Where requests are encrypted to: the RA, or the CA itself.
    recipient: X509,
    cipher: ContentCipher,
    digest: Digest,
}

impl<'a> Scep<'a> {
    pub(crate) async fn new(t: &'a TestApp, profile: &str) -> Scep<'a> {
        let url = format!("{}/scep/{profile}", t.http_url);
        let r = reqwest::get(format!("{url}?operation=GetCACert"))
            .await
            .unwrap();
        let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
        let body = r.bytes().await.unwrap();
        let recipient = if ctype == "application/x-x509-ca-ra-cert" {
            let p7 = Pkcs7::from_der(&body).unwrap();
            let certs = p7.signed().unwrap().certificates().unwrap();
            assert_eq!(certs.len(), 3, "CA, RA, root");
            certs.get(1).unwrap().to_owned()
        } else {
            assert_eq!(ctype, "application/x-x509-ca-cert");
            X509::from_der(&body).unwrap()
        };
        Scep {
            t,
            url,
            recipient,
            cipher: ContentCipher::Aes256,
            digest: Digest::Sha256,
        }
    }

    pub(crate) fn message(
        &self,
        kind: MessageType,
        dev: &Device,
        content: &[u8],
        txid: &str,
    ) -> Vec<u8> {
        let env = scep::envelope(
            &RawCert::try_from(&*self.recipient).unwrap(),
            content,
            self.cipher,
        )
        .unwrap();
        let attrs = Attrs {
            message_type: kind,
            transaction_id: txid,
            sender_nonce: &[9; 16],
            recipient_nonce: None,
            status: None,
            failure: None,
        };
        scep::sign_message(&dev.cert, &dev.key, self.digest, &attrs, &env, &[]).unwrap()
    }

    pub(crate) async fn post(&self, body: Vec<u8>) -> reqwest::Response {
        self.t
            .client
            .post(format!("{}?operation=PKIOperation", self.url))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn send(
        &self,
        kind: MessageType,
        dev: &Device,
        content: &[u8],
        txid: &str,
    ) -> Reply {
        let r = self.post(self.message(kind, dev, content, txid)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/x-pki-message");
        self.read(&r.bytes().await.unwrap(), dev, txid)
    }

    pub(crate) fn read(&self, body: &[u8], dev: &Device, txid: &str) -> Reply {
        let msg = scep::parse(body).unwrap();
        msg.verify(true).unwrap();
        assert_eq!(msg.message_type, Some(MessageType::CertRep));
        assert_eq!(msg.transaction_id, txid);
        let status = msg.pki_status.clone().unwrap();
        let (mut certs, mut crls) = (Vec::new(), 0);
        if status == "0" {
            let (inner, _) = msg.open(&dev.key, &dev.cert).unwrap();
            let p7 = Pkcs7::from_der(&inner).unwrap();
            let signed = p7.signed().unwrap();
            if let Some(cs) = signed.certificates() {
                certs = cs.iter().map(|c| c.to_owned()).collect();
            }
            crls = degenerate_crls(&inner).len();
        }
        Reply {
            status,
            fail_info: msg.fail_info,
            fail_text: msg.fail_text,
            certs,
            crls,
        }
    }

    pub(crate) async fn enrol(&self, dev: &Device, challenge: Option<&str>, txid: &str) -> Reply {
        self.send(MessageType::PkcsReq, dev, &dev.csr(challenge), txid)
            .await
    }
}

fn static_secret(t: &TestApp) -> String {
    std::fs::read_to_string(t.dir.join("scep-challenge"))
        .unwrap()
        .trim()
        .to_string()
}

async fn cert_count(t: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM certificates")
        .fetch_one(&t.app.store.read)
        .await
        .unwrap()
}

fn issued_pem(r: &Reply) -> Vec<u8> {
    r.certs[0].to_pem().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec_ca_answers_through_an_rsa_ra_and_enrols_with_the_static_challenge() {
    let t = spawn_app().await;
    let caps = reqwest::get(format!("{}/scep/default?operation=GetCACaps", t.http_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for c in [
        "POSTPKIOperation",
        "SHA-256",
        "SHA-512",
        "AES",
        "SCEPStandard",
        "Renewal",
        "DES3",
    ] {
        assert!(caps.lines().any(|l| l == c), "{c} in {caps}");
    }
    let s = Scep::new(&t, "default").await;
    // The RA: RSA, issued by the CA, digitalSignature + keyEncipherment.
    assert_eq!(
        s.recipient.public_key().unwrap().id(),
        openssl::pkey::Id::RSA
    );
    let text = String::from_utf8(s.recipient.to_text().unwrap()).unwrap();
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );
    openssl_verify(&t.dir, &s.recipient.to_pem().unwrap());

    let dev = Device::new("laptop-1");
    let r = s.enrol(&dev, Some(&static_secret(&t)), "tx-static").await;
    assert_eq!(
        (r.status.as_str(), r.fail_info.as_deref()),
        ("0", None),
        "{r:?}"
    );
    assert_eq!(r.certs.len(), 1, "only the issued certificate");
    let issued = &r.certs[0];
    assert!(signet_ca::same_public_key(
        &issued.public_key().unwrap(),
        &dev.key
    ));
    openssl_verify(&t.dir, &issued_pem(&r));
    let text = String::from_utf8(issued.to_text().unwrap()).unwrap();
    assert!(text.contains("TLS Web Client Authentication"), "{text}");

    // The same flow by GET, with '+' turned into spaces and URL-safe
    // characters, on /pkiclient.exe and on the CA alias.
    let dev2 = Device::new("laptop-2");
    let msg = s.message(
        MessageType::PkcsReq,
        &dev2,
        &dev2.csr(Some(&static_secret(&t))),
        "tx-get",
    );
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &msg);
    // Raw '+' (read back as spaces) and the URL-safe '_' for '/'.
    let mangled = b64.replace('/', "_");
    let r = t
        .client
        .get(format!(
            "{}/pkiclient.exe?operation=PKIOperation&message={mangled}",
            s.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rep = s.read(&r.bytes().await.unwrap(), &dev2, "tx-get");
    assert_eq!(rep.status, "0");
    openssl_verify(&t.dir, &issued_pem(&rep));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_1_0_without_host_and_the_ca_alias_work() {
    let t = spawn_app().await;
    let addr = t.http_url.trim_start_matches("http://").to_string();
    let raw = tokio::task::spawn_blocking(move || {
        let mut sock = std::net::TcpStream::connect(addr).unwrap();
        sock.write_all(b"GET /scep/default/pkiclient.exe?operation=GetCACaps HTTP/1.0\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        sock.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(raw.starts_with("HTTP/1.0 200"), "{raw}");
    assert!(raw.contains("SCEPStandard"), "{raw}");

    let ca_id: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'default_ca'")
        .fetch_one(&t.app.store.read)
        .await
        .unwrap();
    let r = reqwest::get(format!(
        "{}/api/v1/scep/{ca_id}?operation=GetCACert",
        t.http_url
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-x509-ca-ra-cert");
    let r = reqwest::get(format!("{}/scep/nope?operation=GetCACaps", t.http_url))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_failure_cert_reps_and_store_nothing() {
    let t = spawn_app_with(|c| {
        let strict = c.scep.profiles["default"].clone();
        c.scep.profiles.insert(
            "strict".into(),
            signet::config::ScepProfile {
                allow_legacy: false,
                ..strict
            },
        );
    })
    .await;
    let mut s = Scep::new(&t, "default").await;
    let _ = s
        .enrol(&Device::new("warmup"), Some(&static_secret(&t)), "w")
        .await;
    let before = cert_count(&t).await;
    let dev = Device::new("mallory");

    // Wrong challenge.
    let r = s.enrol(&dev, Some("guess"), "tx-1").await;
    assert_eq!(
        (r.status.as_str(), r.fail_info.as_deref()),
        ("2", Some("2"))
    );
    assert_eq!(r.fail_text.as_deref(), Some("wrong challenge password"));
    let r = s.enrol(&dev, None, "tx-2").await;
    assert_eq!(r.fail_info.as_deref(), Some("2"));

    // A broken signature: badMessageCheck.
    let mut msg = s.message(
        MessageType::PkcsReq,
        &dev,
        &dev.csr(Some(&static_secret(&t))),
        "tx-3",
    );
    let n = msg.len() - 5;
    msg[n] ^= 0xff;
    let r = s.post(msg).await;
    let rep = s.read(&r.bytes().await.unwrap(), &dev, "tx-3");
    assert_eq!(rep.fail_info.as_deref(), Some("1"));

    // Not a CSR inside the envelope.
    let r = s
        .send(MessageType::PkcsReq, &dev, b"not a csr", "tx-4")
        .await;
    assert_eq!(r.fail_info.as_deref(), Some("2"));

    // Legacy algorithms on a profile that refuses them: badAlg.
    let mut strict = Scep::new(&t, "strict").await;
    strict.cipher = ContentCipher::Des3;
    let r = strict.enrol(&dev, Some(&static_secret(&t)), "tx-5").await;
    assert_eq!(r.fail_info.as_deref(), Some("0"));
    strict.cipher = ContentCipher::Aes128;
    strict.digest = Digest::Sha1;
    let r = strict.enrol(&dev, Some(&static_secret(&t)), "tx-6").await;
    assert_eq!(r.fail_info.as_deref(), Some("0"));
    // ...but the default profile accepts them, and answers in kind.
    s.cipher = ContentCipher::Des;
    s.digest = Digest::Sha1;
    let legacy_dev = Device::new("old-router");
    let r = s.enrol(&legacy_dev, Some(&static_secret(&t)), "tx-7").await;
    assert_eq!(r.status, "0");
    let before = before + 1;

    // Garbage: HTTP 400, never a panic.
    for junk in [
        &b""[..],
        b"\x30\x03\x02\x01\x01",
        b"hello",
        &[0x30, 0x80, 0x00],
    ] {
        let r = s.post(junk.to_vec()).await;
        assert_eq!(r.status(), 400, "{junk:?}");
    }
    let r = t
        .client
        .get(format!("{}?operation=PKIOperation&message=%%%", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = t
        .client
        .get(format!("{}?operation=Bogus", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    assert_eq!(
        cert_count(&t).await,
        before,
        "refusals store no certificate"
    );
    let refused: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'scep.refused'")
            .fetch_one(&t.app.store.read)
            .await
            .unwrap();
    assert!(refused >= 6, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_challenges_are_single_use_and_bound() {
    let t = spawn_app_with(|c| {
        let p = c.scep.profiles.get_mut("default").unwrap();
        p.challenge = signet::config::ChallengeMode::OneTime;
    })
    .await;
    let s = Scep::new(&t, "default").await;
    let (st, c) = Api::admin(&t)
        .post("/api/v1/scep/challenges", json!({"ttl_seconds": 600}))
        .await;
    assert_eq!(st, 201, "{c}");
    let secret = c["challenge"].as_str().unwrap().to_string();

    let r = s
        .enrol(&Device::new("phone-1"), Some(&secret), "tx-a")
        .await;
    assert_eq!(r.status, "0");
    openssl_verify(&t.dir, &issued_pem(&r));
    // Reused: refused.
    let r = s
        .enrol(&Device::new("phone-2"), Some(&secret), "tx-b")
        .await;
    assert_eq!(
        (r.status.as_str(), r.fail_info.as_deref()),
        ("2", Some("2"))
    );
    // The static secret means nothing here.
    let r = s
        .enrol(&Device::new("phone-3"), Some(&static_secret(&t)), "tx-c")
        .await;
    assert_eq!(r.status, "2");

    // Bound to a CN: another CN is refused without spending it.
    let (_, c) = Api::admin(&t)
        .post("/api/v1/scep/challenges", json!({"subject_cn": "kiosk-7"}))
        .await;
    let bound = c["challenge"].as_str().unwrap().to_string();
    let r = s.enrol(&Device::new("kiosk-8"), Some(&bound), "tx-d").await;
    assert_eq!(r.status, "2");
    let r = s.enrol(&Device::new("kiosk-7"), Some(&bound), "tx-e").await;
    assert_eq!(r.status, "0");

    let (st, list) = Api::admin(&t).get("/api/v1/scep/challenges").await;
    assert_eq!(st, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(
        list.to_string().find(&secret).is_none(),
        "secrets are never listed"
    );
    // Minting for a profile that is not one-time is refused.
    let (st, _) = Api::admin(&t)
        .post("/api/v1/scep/challenges", json!({"profile": "nope"}))
        .await;
    assert_eq!(st, 422);

    // The profiles list says how devices are configured, and the URL works.
    let (st, v) = Api::admin(&t).get("/api/v1/scep/profiles").await;
    assert_eq!(st, 200);
    let p = &v["items"][0];
    assert_eq!(
        (&p["name"], &p["challenge"]),
        (&json!("default"), &json!("one-time")),
        "{v}"
    );
    assert_eq!(p["url"], format!("{}/scep/default", t.http_url));
    assert!(p.get("challenge_secret").is_none() && p.get("webhook_url").is_none());
    let caps = t
        .client
        .get(format!(
            "{}?operation=GetCACaps",
            p["url"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(caps.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_challenge_waits_for_approval_then_the_device_polls() {
    let t = spawn_app_with(|c| {
        c.scep.profiles.get_mut("default").unwrap().challenge = signet::config::ChallengeMode::None;
    })
    .await;
    let s = Scep::new(&t, "default").await;
    let dev = Device::new("byod-1");
    let csr = dev.csr(None);
    let r = s.send(MessageType::PkcsReq, &dev, &csr, "tx-p").await;
    assert_eq!(r.status, "3", "PENDING");
    // CertPoll, and a re-sent PKCSReq (what micromdm's client does), both
    // report PENDING without creating a second request.
    let r = s
        .send(MessageType::CertPoll, &dev, b"\x30\x00", "tx-p")
        .await;
    assert_eq!(r.status, "3");
    let r = s.send(MessageType::PkcsReq, &dev, &csr, "tx-p").await;
    assert_eq!(r.status, "3");
    let pending: Vec<String> =
        sqlx::query_scalar("SELECT id FROM certificates WHERE status = 'pending_approval'")
            .fetch_all(&t.app.store.read)
            .await
            .unwrap();
    assert_eq!(pending.len(), 1);

    let (st, body) = Api::admin(&t)
        .post(
            &format!("/api/v1/certificates/{}/approve", pending[0]),
            json!({"comment": "known device"}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let r = s
        .send(MessageType::CertPoll, &dev, b"\x30\x00", "tx-p")
        .await;
    assert_eq!(r.status, "0");
    openssl_verify(&t.dir, &issued_pem(&r));

    // A rejected request ends in FAILURE.
    let dev2 = Device::new("byod-2");
    assert_eq!(s.enrol(&dev2, None, "tx-q").await.status, "3");
    let id: String =
        sqlx::query_scalar("SELECT id FROM certificates WHERE status = 'pending_approval'")
            .fetch_one(&t.app.store.read)
            .await
            .unwrap();
    let (st, _) = Api::admin(&t)
        .post(
            &format!("/api/v1/certificates/{id}/reject"),
            json!({"comment": "unknown"}),
        )
        .await;
    assert_eq!(st, 200);
    let r = s
        .send(MessageType::CertPoll, &dev2, b"\x30\x00", "tx-q")
        .await;
    assert_eq!(r.status, "2");
    // Polling an unknown transaction: badCertId.
    let r = s
        .send(MessageType::CertPoll, &dev2, b"\x30\x00", "tx-none")
        .await;
    assert_eq!(r.fail_info.as_deref(), Some("4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_with_the_current_certificate_needs_no_challenge() {
    let t = spawn_app().await;
    let s = Scep::new(&t, "default").await;
    let dev = Device::new("tablet-1");
    let first = s.enrol(&dev, Some(&static_secret(&t)), "tx-1").await;
    assert_eq!(first.status, "0");
    // Sign the renewal with the issued certificate; new key, no challenge.
    let renewed_key = Device::new("tablet-1");
    let signer = Device {
        key: dev.key.clone(),
        cert: first.certs[0].clone(),
    };
    let csr = renewed_key.csr(None);
    for kind in [MessageType::RenewalReq, MessageType::PkcsReq] {
        let r = s
            .send(kind, &signer, &csr, &format!("tx-renew-{kind:?}"))
            .await;
        assert_eq!(r.status, "0", "{kind:?}");
        assert!(signet_ca::same_public_key(
            &r.certs[0].public_key().unwrap(),
            &renewed_key.key
        ));
        openssl_verify(&t.dir, &issued_pem(&r));
    }
    let replaces: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM certificates WHERE replaces_id IS NOT NULL")
            .fetch_one(&t.app.store.read)
            .await
            .unwrap();
    assert_eq!(replaces, 2);
    // A renewal must keep the CN.
    let other = Device::new("someone-else");
    let r = s
        .send(MessageType::PkcsReq, &signer, &other.csr(None), "tx-x")
        .await;
    assert_eq!(r.status, "2");
    // RenewalReq signed by a self-signed certificate is refused.
    let r = s
        .send(MessageType::RenewalReq, &other, &other.csr(None), "tx-y")
        .await;
    assert_eq!(r.status, "2");

    // GetCert and GetCRL by issuer and serial.
    let issued = &first.certs[0];
    let ias = signet_ca::der::seq(
        &[
            issued.issuer_name().to_der().unwrap(),
            signet_ca::der::uint(&issued.serial_number().to_bn().unwrap().to_vec()),
        ]
        .concat(),
    );
    let r = s.send(MessageType::GetCert, &dev, &ias, "tx-gc").await;
    assert_eq!(r.status, "0");
    assert_eq!(r.certs[0].to_der().unwrap(), issued.to_der().unwrap());
    let r = s.send(MessageType::GetCrl, &dev, &ias, "tx-crl").await;
    assert_eq!(r.status, "0");
    assert!(r.certs.is_empty());
    assert_eq!(r.crls, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_ca_answers_itself_with_a_single_certificate() {
    let t = spawn_app_with(|c| {
        c.ca.key_type = signet_ca::key::KeyType::Rsa2048;
        let mut chain = c.scep.profiles["default"].clone();
        chain.include_ca_in_reply = true;
        c.scep.profiles.insert("with-chain".into(), chain);
    })
    .await;
    let r = reqwest::get(format!("{}/scep/default?operation=GetCACert", t.http_url))
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/x-x509-ca-cert");
    let s = Scep::new(&t, "default").await;
    let chain = std::fs::read(t.dir.join("ca-chain.pem")).unwrap();
    assert_eq!(
        s.recipient.to_der().unwrap(),
        X509::stack_from_pem(&chain).unwrap()[0].to_der().unwrap()
    );
    let r = s
        .enrol(
            &Device::new("printer-1"),
            Some(&static_secret(&t)),
            "tx-rsa",
        )
        .await;
    assert_eq!(r.status, "0");
    openssl_verify(&t.dir, &issued_pem(&r));
    assert_eq!(r.certs.len(), 1);
    // include_ca_in_reply: the issued certificate, then the CA and the root.
    let s = Scep::new(&t, "with-chain").await;
    let r = s
        .enrol(&Device::new("vpn-1"), Some(&static_secret(&t)), "tx-chain")
        .await;
    assert_eq!(r.status, "0");
    assert_eq!(r.certs.len(), 3);
    let pem: Vec<u8> = r.certs.iter().flat_map(|c| c.to_pem().unwrap()).collect();
    openssl_verify(&t.dir, &pem);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_decides_and_hears_the_outcome() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let seen = seen.clone();
            move |axum::Json(v): axum::Json<Value>| async move {
                seen.lock().unwrap().push(v.clone());
                axum::Json(
                    json!({"allow": v["challenge"] == "mdm-ok", "reason": "not from our MDM"}),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });
    let t = spawn_app_with(|c| {
        let p = c.scep.profiles.get_mut("default").unwrap();
        p.challenge = signet::config::ChallengeMode::Webhook;
        p.webhook_url = hook_url;
    })
    .await;
    let s = Scep::new(&t, "default").await;
    let r = s
        .enrol(&Device::new("mdm-1"), Some("mdm-ok"), "tx-w1")
        .await;
    assert_eq!(r.status, "0");
    let r = s
        .enrol(&Device::new("mdm-2"), Some("forged"), "tx-w2")
        .await;
    assert_eq!(r.status, "2");
    // The notifications are sent in the background.
    for _ in 0..50 {
        if seen.lock().unwrap().len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let kinds: Vec<(String, String)> = seen
        .iter()
        .map(|v| {
            (
                v["type"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("notification".into(), "issued".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("notification".into(), "failed".into())),
        "{kinds:?}"
    );
    let challenge = seen.iter().find(|v| v["type"] == "challenge").unwrap();
    assert!(
        challenge["csr"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE REQUEST")
    );
    assert_eq!(challenge["transaction_id"], "tx-w1");
}

/// Two replicas on one PostgreSQL: the same static challenge, the same RA
/// (even when both create it at once), and a device may enrol through one
/// and poll through the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_ra_the_challenge_and_transactions() {
    if std::env::var("PG_TEST_URL").is_err() {
        eprintln!("skipped: needs PG_TEST_URL (./test.sh provides it)");
        return;
    }
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let db = fresh_database(d1.path()).await;
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [9u8; 32]);
    let cfg = |dir: &std::path::Path, mode| {
        let mut c = test_config(dir, db.clone());
        c.master_key = master.clone();
        let mut manual = c.scep.profiles["default"].clone();
        manual.challenge = mode;
        c.scep.profiles.insert("manual".into(), manual);
        c
    };
    let a = start(cfg(d1.path(), signet::config::ChallengeMode::None)).await;
    let b = start(cfg(d2.path(), signet::config::ChallengeMode::None)).await;
    assert_eq!(static_secret(&a), static_secret(&b));

    // Both replicas create the RA at the same moment; one wins everywhere.
    let (sa, sb) = tokio::join!(Scep::new(&a, "default"), Scep::new(&b, "default"));
    assert_eq!(
        sa.recipient.to_der().unwrap(),
        sb.recipient.to_der().unwrap()
    );
    let sa2 = Scep::new(&a, "default").await;
    assert_eq!(
        sa2.recipient.to_der().unwrap(),
        sb.recipient.to_der().unwrap()
    );

    // Encrypted for the RA fetched from A, sent to B.
    let dev = Device::new("cluster-1");
    let msg = sa.message(
        MessageType::PkcsReq,
        &dev,
        &dev.csr(Some(&static_secret(&a))),
        "tx-r1",
    );
    let r = sb.post(msg).await;
    let rep = sb.read(&r.bytes().await.unwrap(), &dev, "tx-r1");
    assert_eq!(rep.status, "0", "{rep:?}");

    // PENDING through A, approved, collected through B.
    let (ma, mb) = (Scep::new(&a, "manual").await, Scep::new(&b, "manual").await);
    let dev2 = Device::new("cluster-2");
    assert_eq!(ma.enrol(&dev2, None, "tx-r2").await.status, "3");
    let id: String =
        sqlx::query_scalar("SELECT id FROM certificates WHERE status = 'pending_approval'")
            .fetch_one(&a.app.store.read)
            .await
            .unwrap();
    let (st, _) = Api::admin(&b)
        .post(&format!("/api/v1/certificates/{id}/approve"), json!({}))
        .await;
    assert_eq!(st, 200);
    let r = mb
        .send(MessageType::CertPoll, &dev2, b"\x30\x00", "tx-r2")
        .await;
    assert_eq!(r.status, "0");
    openssl_verify(&b.dir, &issued_pem(&r));
}
