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
