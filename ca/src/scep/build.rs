//! Writing SCEP messages: the signed pkiMessage (a CertRep from the server,
//! or a request from a test client), envelopes and degenerate SignedData.

use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::encrypt::Encrypter;
use openssl::hash::hash;
use openssl::pkey::{Id, PKeyRef, Private};
use openssl::rsa::Padding;
use openssl::sign::Signer;
use openssl::stack::Stack;
use openssl::x509::{X509, X509Ref};

use super::*;
use crate::der::{self, oid, seq, wrap};
use crate::error::{CaError, Result};
use crate::raw_cert::RawCert;

/// The SCEP attributes of one message.
pub struct Attrs<'a> {
    pub message_type: MessageType,
    pub transaction_id: &'a str,
    pub sender_nonce: &'a [u8],
    /// A reply echoes the request's senderNonce here.
    pub recipient_nonce: Option<&'a [u8]>,
    pub status: Option<PkiStatus>,
    pub failure: Option<&'a Failure>,
}

fn attribute(oid_str: &str, value: Vec<u8>) -> Vec<u8> {
    seq(&[oid(oid_str), wrap(0x31, &value)].concat())
}

fn printable(s: &str) -> Vec<u8> {
    wrap(0x13, s.as_bytes())
}

/// PrintableString when the text allows it, UTF8String otherwise.
fn directory_string(s: &str) -> Vec<u8> {
    let printable_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c));
    if printable_chars {
        printable(s)
    } else {
        wrap(0x0c, s.as_bytes())
    }
}

/// Sign `content` (an envelope, or empty) into a pkiMessage. `certs` go in
/// the message after the signer's own certificate (e.g. the CA, for clients
/// that verify against a CA+RA chain).
pub fn sign_message(
    signer: &X509Ref,
    key: &PKeyRef<Private>,
    digest: Digest,
    attrs: &Attrs<'_>,
    content: &[u8],
    certs: &[X509],
) -> Result<Vec<u8>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut list = vec![
        attribute(OID_CONTENT_TYPE, oid(OID_DATA)),
        attribute(OID_SIGNING_TIME, der::time(now)),
        attribute(
            OID_MESSAGE_DIGEST,
            der::octets(&hash(digest.md(), content)?),
        ),
        attribute(
            OID_MESSAGE_TYPE,
            printable(&(attrs.message_type as u8).to_string()),
        ),
        attribute(OID_TRANSACTION_ID, printable(attrs.transaction_id)),
        attribute(OID_SENDER_NONCE, der::octets(attrs.sender_nonce)),
    ];
    if let Some(n) = attrs.recipient_nonce {
        list.push(attribute(OID_RECIPIENT_NONCE, der::octets(n)));
    }
    if let Some(s) = attrs.status {
        list.push(attribute(OID_PKI_STATUS, printable(&(s as u8).to_string())));
    }
    if let Some(f) = attrs.failure {
        list.push(attribute(
            OID_FAIL_INFO,
            printable(&(f.info as u8).to_string()),
        ));
        list.push(attribute(OID_FAIL_INFO_TEXT, wrap(0x0c, f.text.as_bytes())));
    }
    // DER orders a SET OF by encoding.
    list.sort();
    let attrs_der = list.concat();
    let signature = {
        let mut s = Signer::new(digest.md(), key)?;
        s.sign_oneshot_to_vec(&wrap(0x31, &attrs_der))?
    };
    let digest_alg = seq(&[oid(digest.oid()), der::NULL.to_vec()].concat());
    let signer_info = seq(&[
        der::small_int(1),
        issuer_and_serial(signer)?,
        digest_alg.clone(),
        wrap(0xa0, &attrs_der),
        signature_algorithm(key, digest)?,
        der::octets(&signature),
    ]
    .concat());
    let mut cert_list = signer.to_der()?;
    for c in certs {
        cert_list.extend(c.to_der()?);
    }
    let signed_data = seq(&[
        der::small_int(1),
        wrap(0x31, &digest_alg),
        seq(&[oid(OID_DATA), wrap(0xa0, &der::octets(content))].concat()),
        wrap(0xa0, &cert_list),
        wrap(0x31, &signer_info),
    ]
    .concat());
    Ok(content_info(OID_SIGNED_DATA, &signed_data))
}

fn content_info(type_oid: &str, content: &[u8]) -> Vec<u8> {
    seq(&[oid(type_oid), wrap(0xa0, content)].concat())
}

fn issuer_and_serial(cert: &X509Ref) -> Result<Vec<u8>> {
    Ok(seq(&[
        cert.issuer_name().to_der()?,
        der::uint(&cert.serial_number().to_bn()?.to_vec()),
    ]
    .concat()))
}

fn signature_algorithm(key: &PKeyRef<Private>, digest: Digest) -> Result<Vec<u8>> {
    let alg = match (key.id(), digest) {
        (Id::RSA, _) => {
            return Ok(seq(
                &[oid("1.2.840.113549.1.1.1"), der::NULL.to_vec()].concat()
            ));
        }
        (Id::EC, Digest::Sha1) => "1.2.840.10045.4.1",
        (Id::EC, Digest::Sha256) => "1.2.840.10045.4.3.2",
        (Id::EC, Digest::Sha384) => "1.2.840.10045.4.3.3",
        (Id::EC, Digest::Sha512) => "1.2.840.10045.4.3.4",
        _ => {
            return Err(CaError::UnsupportedKey(
                "SCEP messages are signed with RSA or EC keys".into(),
            ));
        }
    };
    Ok(seq(&oid(alg)))
}

/// Encrypt `plaintext` to the holder of `to`. An RSA recipient (what SCEP
/// clients have) gets key transport written here: a fresh content key, the
/// content encrypted with it, the key encrypted with PKCS#1 v1.5, which is
/// what OpenSSL's CMS writes, without its per-call algorithm fetches and
/// certificate decoding. Any other key goes through OpenSSL's CMS.
pub fn envelope(to: &RawCert, plaintext: &[u8], cipher: ContentCipher) -> Result<Vec<u8>> {
    let key = to.public_key()?;
    if key.id() != Id::RSA {
        let mut stack = Stack::new()?;
        stack.push(to.to_x509()?)?;
        let cms = CmsContentInfo::encrypt(&stack, plaintext, cipher.cipher(), CMSOptions::BINARY);
        let _ = openssl::error::ErrorStack::get();
        return Ok(cms?.to_der()?);
    }
    let c = cipher.cipher();
    let mut cek = vec![0; c.key_len()];
    let mut iv = vec![0; c.iv_len().unwrap_or(0)];
    openssl::rand::rand_bytes(&mut cek)?;
    openssl::rand::rand_bytes(&mut iv)?;
    if cipher.is_legacy() {
        set_odd_parity(&mut cek);
    }
    let content = openssl::symm::encrypt(c, &cek, Some(&iv), plaintext)?;
    let mut enc = Encrypter::new(&key)?;
    enc.set_rsa_padding(Padding::PKCS1)?;
    let mut wrapped = vec![0; enc.encrypt_len(&cek)?];
    let n = enc.encrypt(&cek, &mut wrapped)?;
    wrapped.truncate(n);
    let recipient = seq(&[
        der::small_int(0),
        to.issuer_and_serial(),
        seq(&[oid("1.2.840.113549.1.1.1"), der::NULL.to_vec()].concat()),
        der::octets(&wrapped),
    ]
    .concat());
    let encrypted = seq(&[
        oid(OID_DATA),
        seq(&[oid(cipher.oid()), der::octets(&iv)].concat()),
        wrap(0x80, &content),
    ]
    .concat());
    let enveloped = seq(&[der::small_int(0), wrap(0x31, &recipient), encrypted].concat());
    Ok(content_info(OID_ENVELOPED_DATA, &enveloped))
}

/// DES keys carry odd parity in each octet: the low bit makes the count of
/// ones odd.
fn set_odd_parity(key: &mut [u8]) {
    for b in key {
        let high = *b & 0xfe;
        *b = high | u8::from(high.count_ones() % 2 == 0);
    }
}

/// A certs-only SignedData (no content, no signers): GetCACert's CA+RA
/// reply and the certificate or CRL inside a CertRep. DER certificates and
/// CRLs are passed through as they are.
pub fn degenerate(certs: &[&[u8]], crls: &[&[u8]]) -> Vec<u8> {
    let mut body = [der::small_int(1), wrap(0x31, &[]), seq(&oid(OID_DATA))].concat();
    if !certs.is_empty() {
        body.extend(wrap(0xa0, &certs.concat()));
    }
    if !crls.is_empty() {
        body.extend(wrap(0xa1, &crls.concat()));
    }
    body.extend(wrap(0x31, &[]));
    content_info(OID_SIGNED_DATA, &seq(&body))
}

/// A PKCS#10 request carrying a challengePassword, as SCEP clients send it
/// (OpenSSL's safe API cannot add the attribute). Used by tests and the load
/// generator; signs with SHA-256.
pub fn csr_with_challenge(
    key: &PKeyRef<Private>,
    subject: &openssl::x509::X509NameRef,
    challenge: Option<&str>,
) -> Result<Vec<u8>> {
    let attrs = match challenge {
        Some(c) => attribute("1.2.840.113549.1.9.7", directory_string(c)),
        None => Vec::new(),
    };
    let info = seq(&[
        der::small_int(0),
        subject.to_der()?,
        key.public_key_to_der()?,
        wrap(0xa0, &attrs),
    ]
    .concat());
    let alg = match key.id() {
        Id::RSA => seq(&[oid("1.2.840.113549.1.1.11"), der::NULL.to_vec()].concat()),
        _ => seq(&oid("1.2.840.10045.4.3.2")),
    };
    let sig =
        Signer::new(openssl::hash::MessageDigest::sha256(), key)?.sign_oneshot_to_vec(&info)?;
    Ok(seq(&[info, alg, der::bit_string(&sig)].concat()))
}

/// The throwaway self-signed certificate a device signs its first request
/// with (RFC 8894 §2.3). Used by tests and the load generator.
pub fn self_signed_signer(key: &PKeyRef<Private>, common_name: &str) -> Result<X509> {
    let mut name = openssl::x509::X509NameBuilder::new()?;
    name.append_entry_by_text("CN", common_name)?;
    let name = name.build();
    let mut b = openssl::x509::X509Builder::new()?;
    b.set_version(2)?;
    let serial = openssl::bn::BigNum::from_u32(1)?.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(key)?;
    let (from, until) = (
        openssl::asn1::Asn1Time::days_from_now(0)?,
        openssl::asn1::Asn1Time::days_from_now(1)?,
    );
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    b.sign(key, openssl::hash::MessageDigest::sha256())?;
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn des_keys_get_odd_parity() {
        let mut key: Vec<u8> = (0..=255).collect();
        super::set_odd_parity(&mut key);
        for (i, b) in key.iter().enumerate() {
            assert_eq!(b.count_ones() % 2, 1, "octet {i:#x} became {b:#x}");
            assert_eq!(b & 0xfe, i as u8 & 0xfe, "only the low bit changes");
        }
    }
}
