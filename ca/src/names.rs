//! Subject alternative names: the identifier kinds a certificate can carry,
//! with the syntax checks that apply before any policy does.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum San {
    Dns(String),
    Ip(IpAddr),
    Email(String),
    Uri(String),
}

impl San {
    pub fn kind(&self) -> &'static str {
        match self {
            San::Dns(_) => "dns",
            San::Ip(_) => "ip",
            San::Email(_) => "email",
            San::Uri(_) => "uri",
        }
    }

    pub fn value(&self) -> String {
        match self {
            San::Dns(s) | San::Email(s) | San::Uri(s) => s.clone(),
            San::Ip(ip) => ip.to_string(),
        }
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.value())
    }
}

/// Lower-case and check a DNS name (RFC 1035 LDH labels; a single leading
/// `*.` label is allowed and left for policy to accept or refuse).
pub fn normalize_dns(name: &str) -> Result<String, String> {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    if n.is_empty() || n.len() > 253 {
        return Err(format!(
            "DNS name {name:?} is empty or longer than 253 characters"
        ));
    }
    if n.parse::<IpAddr>().is_ok() {
        return Err(format!("{name:?} is an IP address, not a DNS name"));
    }
    let body = n.strip_prefix("*.").unwrap_or(&n);
    for label in body.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(format!("DNS name {name:?} has an invalid label {label:?}"));
        }
    }
    if !body.contains('.') && n.starts_with("*.") {
        return Err(format!(
            "wildcard {name:?} must have at least two labels after '*.'"
        ));
    }
    Ok(n)
}

pub fn is_wildcard(name: &str) -> bool {
    name.starts_with("*.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_normalisation() {
        assert_eq!(
            normalize_dns("WWW.Example.COM.").unwrap(),
            "www.example.com"
        );
        assert_eq!(normalize_dns("*.example.com").unwrap(), "*.example.com");
        for bad in [
            "", "a..b", "-a.com", "a-.com", "a b.com", "*.com", "a.*.com", "10.0.0.1",
        ] {
            assert!(normalize_dns(bad).is_err(), "{bad} accepted");
        }
    }
}

/// A distinguished name as text, `CN=x, O=y`, in certificate order with
/// OpenSSL's short attribute names: the one way subjects are shown.
pub fn dn_text(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let val = e
                .data()
                .to_string()
                .unwrap_or_else(|_| String::from_utf8_lossy(e.data().as_slice()).into_owned());
            format!("{key}={val}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows written before subjects were stored as `dn_text` hold OpenSSL's debug
/// form, `[commonName = "x", organizationName = "y"]`; this reads that form
/// into `dn_text`'s, and leaves any other text as it is.
pub fn dn_text_of_legacy(stored: &str) -> String {
    let Some(inner) = stored.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return stored.to_string();
    };
    inner
        .split("\", ")
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (k, v) = part.split_once(" = ").unwrap_or((part, ""));
            let key = openssl::asn1::Asn1Object::from_str(k)
                .ok()
                .and_then(|o| o.nid().short_name().ok())
                .unwrap_or(k);
            format!("{key}={}", v.trim_matches('"'))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod dn_tests {
    #[test]
    fn legacy_debug_subjects_read_as_short_names() {
        assert_eq!(
            super::dn_text_of_legacy(r#"[commonName = "a.example", organizationName = "Ex, Inc"]"#),
            "CN=a.example, O=Ex, Inc"
        );
        assert_eq!(super::dn_text_of_legacy("CN=x"), "CN=x");
    }
}
