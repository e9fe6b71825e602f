//! Reading a client's pkiMessage: a SignedData whose content is an
//! EnvelopedData encrypted to us.

use std::collections::HashMap;

use openssl::bn::BigNum;
use openssl::cms::CmsContentInfo;
use openssl::hash::hash;
use openssl::pkcs7::Pkcs7;
use openssl::pkey::{PKeyRef, Private};
use openssl::sign::Verifier;
use openssl::x509::X509;

use super::*;
use crate::der::{self, DerError, Tlv};
use crate::raw_cert::RawCert;

/// A decoded pkiMessage. Decoding proves nothing: call [`PkiMessage::verify`]
/// before trusting any of it.
pub struct PkiMessage {
    /// None when the type is not one SCEP defines (a badRequest failure).
    pub message_type: Option<MessageType>,
    pub transaction_id: String,
    pub sender_nonce: Vec<u8>,
    /// In a CertRep: pkiStatus and failInfo, as sent (e.g. "2" and "1").
    pub pki_status: Option<String>,
    pub fail_info: Option<String>,
    pub fail_text: Option<String>,
    /// The certificate the message was signed with: self-signed for a first
    /// enrolment, the current certificate for a renewal.
    pub signer: RawCert,
    /// None when the signer used a digest not supported here (badAlg).
    pub digest: Option<Digest>,
    /// The encapsulated content: the DER or BER EnvelopedData.
    content: Vec<u8>,
    signed_attrs: Vec<u8>,
    signature: Vec<u8>,
    message_digest: Vec<u8>,
}

fn e(what: &'static str) -> impl Fn(DerError) -> String {
    move |err| format!("{what}: {}", err.0)
}

/// Decode a pkiMessage. Accepts BER (Apple sends indefinite lengths): when
/// the strict DER reading fails, OpenSSL reads the BER and re-encodes it as
/// DER, which is what the signature covers anyway. DER input skips that
/// round trip (each certificate OpenSSL parses costs a key decode).
/// An Err means the bytes are not a SCEP message at all (HTTP 400).
pub fn parse(input: &[u8]) -> Result<PkiMessage, String> {
    if let Ok(m) = parse_der(input) {
        return Ok(m);
    }
    let p7 = Pkcs7::from_der(input).map_err(|_| "not a PKCS#7 message".to_string());
    let _ = openssl::error::ErrorStack::get();
    let der_bytes = p7?
        .to_der()
        .map_err(|_| "cannot re-encode the PKCS#7 message".to_string())?;
    parse_der(&der_bytes)
}

fn parse_der(input: &[u8]) -> Result<PkiMessage, String> {
    let mut input = input;
    let ci = der::expect(&mut input, 0x30, "ContentInfo").map_err(e("pkiMessage"))?;
    if !input.is_empty() {
        return Err("trailing bytes after the pkiMessage".into());
    }
    let mut ci = ci.content;
    let oid = der::expect(&mut ci, 0x06, "contentType").map_err(e("pkiMessage"))?;
    if oid.raw != der::oid(OID_SIGNED_DATA) {
        return Err("pkiMessage is not a SignedData".into());
    }
    let explicit = der::expect(&mut ci, 0xa0, "content").map_err(e("pkiMessage"))?;
    let mut sd = explicit.content;
    let sd = der::expect(&mut sd, 0x30, "SignedData").map_err(e("pkiMessage"))?;
    let mut sd = sd.content;
    der::expect(&mut sd, 0x02, "version").map_err(e("SignedData"))?;
    der::expect(&mut sd, 0x31, "digestAlgorithms").map_err(e("SignedData"))?;
    let encap = der::expect(&mut sd, 0x30, "encapContentInfo").map_err(e("SignedData"))?;
    let content = encapsulated_content(encap.content)?;
    let mut certs = Vec::new();
    let mut next = der::read(&mut sd).map_err(e("SignedData"))?;
    if next.tag == 0xa0 {
        let mut list = next.content;
        while !list.is_empty() {
            let c = der::read(&mut list).map_err(e("certificates"))?;
            certs.push(RawCert::from_der(c.raw)?);
        }
        next = der::read(&mut sd).map_err(e("SignedData"))?;
    }
    if next.tag == 0xa1 {
        next = der::read(&mut sd).map_err(e("SignedData"))?;
    }
    if next.tag != 0x31 {
        return Err("SignedData has no signerInfos".into());
    }
    let mut infos = next.content;
    let si = der::expect(&mut infos, 0x30, "SignerInfo").map_err(e("signerInfos"))?;
    signer_info(si, content, &certs)
}

fn encapsulated_content(mut encap: &[u8]) -> Result<Vec<u8>, String> {
    let oid = der::expect(&mut encap, 0x06, "eContentType").map_err(e("encapContentInfo"))?;
    if oid.raw != der::oid(OID_DATA) {
        return Err("encapsulated content is not id-data".into());
    }
    if encap.is_empty() {
        return Ok(Vec::new());
    }
    let explicit = der::expect(&mut encap, 0xa0, "eContent").map_err(e("encapContentInfo"))?;
    let mut inner = explicit.content;
    let octets = der::expect(&mut inner, 0x04, "eContent OCTET STRING").map_err(e("eContent"))?;
    Ok(octets.content.to_vec())
}

fn signer_info(si: Tlv<'_>, content: Vec<u8>, certs: &[RawCert]) -> Result<PkiMessage, String> {
    let mut si = si.content;
    der::expect(&mut si, 0x02, "version").map_err(e("SignerInfo"))?;
    let sid = der::expect(&mut si, 0x30, "issuerAndSerialNumber").map_err(e("SignerInfo"))?;
    let sid = parse_issuer_and_serial(sid.raw)?;
    let signer = certs
        .iter()
        .find(|c| sid.matches(c))
        .cloned()
        .ok_or("the signer's certificate is not in the message")?;
    let dalg = der::expect(&mut si, 0x30, "digestAlgorithm").map_err(e("SignerInfo"))?;
    let mut dalg = dalg.content;
    let doid = der::expect(&mut dalg, 0x06, "algorithm").map_err(e("digestAlgorithm"))?;
    let attrs = der::expect(&mut si, 0xa0, "signed attributes").map_err(e("SignerInfo"))?;
    der::expect(&mut si, 0x30, "signatureAlgorithm").map_err(e("SignerInfo"))?;
    let sig = der::expect(&mut si, 0x04, "signature").map_err(e("SignerInfo"))?;

    let mut values: HashMap<Vec<u8>, (u8, Vec<u8>)> = HashMap::new();
    let mut list = attrs.content;
    while !list.is_empty() {
        let a = der::expect(&mut list, 0x30, "Attribute").map_err(e("signed attributes"))?;
        let mut a = a.content;
        let oid = der::expect(&mut a, 0x06, "type").map_err(e("Attribute"))?;
        let set = der::expect(&mut a, 0x31, "values").map_err(e("Attribute"))?;
        let mut set = set.content;
        let v = der::read(&mut set).map_err(e("Attribute value"))?;
        values.insert(oid.raw.to_vec(), (v.tag, v.content.to_vec()));
    }
    let get = |oid: &str| values.get(&der::oid(oid));
    let text = |oid: &str, what: &str| -> Result<String, String> {
        match get(oid) {
            Some((0x13 | 0x0c | 0x16 | 0x14 | 0x04, v)) => {
                String::from_utf8(v.clone()).map_err(|_| format!("{what} is not text"))
            }
            Some(_) => Err(format!("{what} has the wrong type")),
            None => Err(format!("{what} is missing")),
        }
    };
    let transaction_id = text(OID_TRANSACTION_ID, "transactionID")?;
    let message_type = MessageType::from_code(&text(OID_MESSAGE_TYPE, "messageType")?);
    let sender_nonce = match get(OID_SENDER_NONCE) {
        Some((0x04, v)) => v.clone(),
        _ => return Err("senderNonce is missing".into()),
    };
    let message_digest = match get(OID_MESSAGE_DIGEST) {
        Some((0x04, v)) => v.clone(),
        _ => return Err("messageDigest is missing".into()),
    };
    let pki_status = text(OID_PKI_STATUS, "pkiStatus").ok();
    let fail_info = text(OID_FAIL_INFO, "failInfo").ok();
    let fail_text = text(OID_FAIL_INFO_TEXT, "failInfoText").ok();
    // The signature covers the attributes as an explicit SET OF.
    let mut signed_attrs = attrs.raw.to_vec();
    signed_attrs[0] = 0x31;
    Ok(PkiMessage {
        message_type,
        transaction_id,
        sender_nonce,
        pki_status,
        fail_info,
        fail_text,
        signer,
        digest: Digest::from_oid(doid.content),
        content,
        signed_attrs,
        signature: sig.content.to_vec(),
        message_digest,
    })
}

impl PkiMessage {
    /// Check the signature over the signed attributes and that the
    /// messageDigest attribute matches the content. `legacy` allows SHA-1.
    pub fn verify(&self, legacy: bool) -> Result<(), Failure> {
        let digest = self
            .digest
            .ok_or_else(|| Failure::new(FailInfo::BadAlg, "unsupported digest algorithm"))?;
        if digest.is_legacy() && !legacy {
            return Err(Failure::new(
                FailInfo::BadAlg,
                "SHA-1 is not allowed by this profile",
            ));
        }
        let bad = |t: &str| Failure::new(FailInfo::BadMessageCheck, t);
        let actual = hash(digest.md(), &self.content).map_err(|_| bad("cannot hash content"))?;
        if *actual != *self.message_digest {
            return Err(bad("messageDigest does not match the content"));
        }
        let key = self
            .signer
            .public_key()
            .map_err(|_| bad("cannot read the signer's public key"))?;
        let ok = Verifier::new(digest.md(), &key).and_then(|mut v| {
            v.update(&self.signed_attrs)?;
            v.verify(&self.signature)
        });
        if !crate::verified(ok) {
            return Err(bad("signature does not verify"));
        }
        Ok(())
    }

    /// The cipher the client encrypted with, read from the envelope.
    pub fn cipher(&self) -> Result<ContentCipher, Failure> {
        cipher_of(&self.envelope()?)
    }

    /// Decrypt the envelope with the RA (or CA) key and certificate; also
    /// returns the cipher it used (one parse of the envelope for both).
    pub fn open(
        &self,
        key: &PKeyRef<Private>,
        cert: &X509,
    ) -> Result<(Vec<u8>, ContentCipher), Failure> {
        let env = self.envelope()?;
        let cipher = cipher_of(&env)?;
        let out = env.decrypt(key, cert);
        let _ = openssl::error::ErrorStack::get();
        let content = out.map_err(|_| {
            Failure::new(
                FailInfo::BadMessageCheck,
                "the envelope does not decrypt with this profile's key",
            )
        })?;
        Ok((content, cipher))
    }

    fn envelope(&self) -> Result<CmsContentInfo, Failure> {
        let env = CmsContentInfo::from_der(&self.content);
        let _ = openssl::error::ErrorStack::get();
        env.map_err(|_| Failure::new(FailInfo::BadRequest, "content is not an EnvelopedData"))
    }
}

fn cipher_of(env: &CmsContentInfo) -> Result<ContentCipher, Failure> {
    let der_bytes = env
        .to_der()
        .map_err(|_| Failure::new(FailInfo::BadRequest, "cannot read the envelope"))?;
    envelope_cipher(&der_bytes)
        .map_err(|t| Failure::new(FailInfo::BadRequest, t))?
        .ok_or_else(|| Failure::new(FailInfo::BadAlg, "unsupported content cipher"))
}

fn envelope_cipher(der_bytes: &[u8]) -> Result<Option<ContentCipher>, String> {
    let mut input = der_bytes;
    let ci = der::expect(&mut input, 0x30, "ContentInfo").map_err(e("envelope"))?;
    let mut ci = ci.content;
    let oid = der::expect(&mut ci, 0x06, "contentType").map_err(e("envelope"))?;
    if oid.raw != der::oid(OID_ENVELOPED_DATA) {
        return Err("content is not an EnvelopedData".into());
    }
    let explicit = der::expect(&mut ci, 0xa0, "content").map_err(e("envelope"))?;
    let mut ed = explicit.content;
    let ed = der::expect(&mut ed, 0x30, "EnvelopedData").map_err(e("envelope"))?;
    let mut ed = ed.content;
    der::expect(&mut ed, 0x02, "version").map_err(e("EnvelopedData"))?;
    let mut next = der::read(&mut ed).map_err(e("EnvelopedData"))?;
    if next.tag == 0xa0 {
        next = der::read(&mut ed).map_err(e("EnvelopedData"))?;
    }
    if next.tag != 0x31 {
        return Err("EnvelopedData has no recipientInfos".into());
    }
    let eci = der::expect(&mut ed, 0x30, "encryptedContentInfo").map_err(e("EnvelopedData"))?;
    let mut eci = eci.content;
    der::expect(&mut eci, 0x06, "contentType").map_err(e("encryptedContentInfo"))?;
    let alg = der::expect(&mut eci, 0x30, "contentEncryptionAlgorithm")
        .map_err(e("encryptedContentInfo"))?;
    let mut alg = alg.content;
    let oid = der::expect(&mut alg, 0x06, "algorithm").map_err(e("contentEncryptionAlgorithm"))?;
    Ok(ContentCipher::from_oid(oid.content))
}

/// IssuerAndSerialNumber: names a certificate (signer id, GetCert, GetCRL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerAndSerial {
    /// The issuer Name, DER.
    pub issuer: Vec<u8>,
    /// The serial, unsigned big-endian without leading zeros.
    pub serial: Vec<u8>,
}

impl IssuerAndSerial {
    pub fn matches(&self, cert: &RawCert) -> bool {
        cert.issuer == self.issuer && cert.serial_unsigned() == self.serial
    }
}

pub fn parse_issuer_and_serial(input: &[u8]) -> Result<IssuerAndSerial, String> {
    let mut input = input;
    let seq = der::expect(&mut input, 0x30, "IssuerAndSerialNumber").map_err(e("message"))?;
    let mut seq = seq.content;
    let issuer = der::expect(&mut seq, 0x30, "issuer").map_err(e("IssuerAndSerialNumber"))?;
    let serial = der::expect(&mut seq, 0x02, "serial").map_err(e("IssuerAndSerialNumber"))?;
    let serial = BigNum::from_slice(serial.content)
        .map(|b| b.to_vec())
        .map_err(|_| "bad serial number".to_string())?;
    Ok(IssuerAndSerial {
        issuer: issuer.raw.to_vec(),
        serial,
    })
}
