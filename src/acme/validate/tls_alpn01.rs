//! tls-alpn-01 (RFC 8737): a TLS handshake with ALPN "acme-tls/1" and SNI
//! set to the identifier must present a self-signed certificate whose only
//! SAN is the identifier and whose critical acmeIdentifier extension holds
//! SHA-256(key authorization). Certificate chains are deliberately not
//! verified: the extension is the proof.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use openssl::sha::sha256;
use openssl::ssl::{Ssl, SslConnector, SslMethod, SslVerifyMode};
use signet_ca::names::San;
use tokio::net::TcpStream;
use tokio_openssl::SslStream;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::acme::problem::Problem;

const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

/// RFC 8738 §6: the SNI for an IP identifier is its reverse-DNS name.
fn sni(id: &San) -> String {
    match id {
        San::Ip(IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        San::Ip(IpAddr::V6(v6)) => {
            let nibbles: Vec<String> = v6
                .octets()
                .iter()
                .rev()
                .flat_map(|b| [b & 0xf, b >> 4])
                .map(|n| format!("{n:x}"))
                .collect();
            format!("{}.ip6.arpa", nibbles.join("."))
        }
        other => other.value(),
    }
}

pub async fn check(
    addrs: &[IpAddr],
    port: u16,
    id: &San,
    key_authz: &str,
    timeout: Duration,
) -> Result<(), Problem> {
    let mut last = Problem::connection("no address to connect to");
    for ip in addrs {
        match one(SocketAddr::new(*ip, port), id, key_authz, timeout).await {
            Ok(()) => return Ok(()),
            Err(p) if p.kind == "connection" => last = p,
            Err(p) => return Err(p),
        }
    }
    Err(last)
}

async fn one(
    addr: SocketAddr,
    id: &San,
    key_authz: &str,
    timeout: Duration,
) -> Result<(), Problem> {
    let tls = |e: &dyn std::fmt::Display| Problem::tls(format!("tls-alpn-01 with {addr}: {e}"));
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Problem::connection(format!("timeout connecting to {addr}")))?
        .map_err(|e| Problem::connection(format!("cannot connect to {addr}: {e}")))?;
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(|e| tls(&e))?;
    b.set_verify(SslVerifyMode::NONE);
    b.set_alpn_protos(b"\x0aacme-tls/1").map_err(|e| tls(&e))?;
    let connector = b.build();
    let mut cfg = connector.configure().map_err(|e| tls(&e))?;
    cfg.set_verify_hostname(false);
    cfg.set_use_server_name_indication(true);
    let ssl: Ssl = cfg.into_ssl(&sni(id)).map_err(|e| tls(&e))?;
    let mut stream = SslStream::new(ssl, tcp).map_err(|e| tls(&e))?;
    Pin::new(&mut stream).connect().await.map_err(|e| tls(&e))?;
    if stream.ssl().selected_alpn_protocol() != Some(b"acme-tls/1") {
        return Err(Problem::tls(format!(
            "{addr} did not negotiate the acme-tls/1 protocol"
        )));
    }
    let cert = stream
        .ssl()
        .peer_certificate()
        .ok_or_else(|| Problem::tls(format!("{addr} sent no certificate")))?;
    let der = cert.to_der().map_err(|e| tls(&e))?;
    check_certificate(&der, id, key_authz)
}

fn check_certificate(der: &[u8], id: &San, key_authz: &str) -> Result<(), Problem> {
    let bad =
        |m: String| Problem::incorrect_response(format!("tls-alpn-01 for {}: {m}", id.value()));
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| bad(format!("unparseable certificate: {e}")))?;
    let mut names = Vec::new();
    let mut proof = None;
    for ext in cert.extensions() {
        if ext.oid.to_id_string() == ACME_IDENTIFIER_OID {
            if !ext.critical {
                return Err(bad("the acmeIdentifier extension must be critical".into()));
            }
            proof = Some(ext.value.to_vec());
        }
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            for g in &san.general_names {
                names.push(match g {
                    GeneralName::DNSName(d) => San::Dns(d.to_ascii_lowercase()),
                    GeneralName::IPAddress(b) if b.len() == 4 => {
                        San::Ip(IpAddr::from(<[u8; 4]>::try_from(*b).expect("len 4")))
                    }
                    GeneralName::IPAddress(b) if b.len() == 16 => {
                        San::Ip(IpAddr::from(<[u8; 16]>::try_from(*b).expect("len 16")))
                    }
                    other => return Err(bad(format!("unexpected SAN {other:?}"))),
                });
            }
        }
    }
    if names != [id.clone()] {
        return Err(bad(format!(
            "the certificate's SANs must be exactly the identifier, found {names:?}"
        )));
    }
    // extnValue holds an OCTET STRING of the 32-byte digest.
    let mut expected = vec![0x04, 0x20];
    expected.extend_from_slice(&sha256(key_authz.as_bytes()));
    match proof {
        Some(p) if p == expected => Ok(()),
        Some(_) => Err(bad(
            "the acmeIdentifier does not match the key authorization".into(),
        )),
        None => Err(bad("the certificate has no acmeIdentifier extension".into())),
    }
}
