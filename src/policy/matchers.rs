//! Name rules: DNS patterns, IP CIDRs, email domains and URI globs.

use std::net::IpAddr;

/// DNS pattern forms:
/// - `*`            any name;
/// - `example.com`  exactly that name;
/// - `*.example.com` one label under example.com (and the literal wildcard);
/// - `.example.com` any depth under example.com (and its wildcards).
pub fn dns_matches(pattern: &str, name: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    if p == "*" {
        return true;
    }
    if let Some(suffix) = p.strip_prefix('.') {
        return name.len() > suffix.len() + 1 && name.ends_with(&p);
    }
    if let Some(suffix) = p.strip_prefix("*.") {
        if name == p {
            return true;
        }
        return name
            .strip_suffix(suffix)
            .and_then(|head| head.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.') && label != "*");
    }
    p == name
}

/// `10.0.0.0/8`, `2001:db8::/32`, or a single address.
pub fn ip_matches(cidr: &str, ip: &IpAddr) -> bool {
    let (net, len) = match cidr.split_once('/') {
        Some((n, l)) => (n, l.parse::<u32>().ok()),
        None => (cidr, None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let len = len.unwrap_or(32).min(32);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(*a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let len = len.unwrap_or(128).min(128);
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(n) & mask == u128::from(*a) & mask
        }
        _ => false,
    }
}

pub fn valid_cidr(cidr: &str) -> bool {
    let (net, len) = cidr.split_once('/').unwrap_or((cidr, "0"));
    match net.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => len.parse::<u32>().is_ok_and(|l| l <= 32),
        Ok(IpAddr::V6(_)) => len.parse::<u32>().is_ok_and(|l| l <= 128),
        Err(_) => false,
    }
}

/// `*` any address; `example.com` addresses at that domain; `.example.com` at its subdomains.
pub fn email_matches(pattern: &str, email: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() {
        return false;
    }
    let domain = domain.to_ascii_lowercase();
    let p = pattern.to_ascii_lowercase();
    match p.strip_prefix('.') {
        Some(_) => domain.ends_with(&p),
        None => domain == p,
    }
}

/// Glob where `*` matches any run of characters.
pub fn glob_matches(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first)
        || !value[first.len()..].ends_with(last)
        || value.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_table() {
        let cases = [
            ("*", "anything.example", true),
            ("example.com", "example.com", true),
            ("example.com", "a.example.com", false),
            ("*.example.com", "a.example.com", true),
            ("*.example.com", "a.b.example.com", false),
            ("*.example.com", "*.example.com", true),
            ("*.example.com", "example.com", false),
            (".example.com", "a.b.example.com", true),
            (".example.com", "*.example.com", true),
            (".example.com", "example.com", false),
            (".example.com", "badexample.com", false),
        ];
        for (p, n, want) in cases {
            assert_eq!(dns_matches(p, n), want, "{p} vs {n}");
        }
    }

    #[test]
    fn ip_table() {
        let cases = [
            ("10.0.0.0/8", "10.1.2.3", true),
            ("10.0.0.0/8", "11.1.2.3", false),
            ("0.0.0.0/0", "1.2.3.4", true),
            ("192.168.1.1", "192.168.1.1", true),
            ("2001:db8::/32", "2001:db8::1", true),
            ("2001:db8::/32", "10.0.0.1", false),
            ("::/0", "::1", true),
        ];
        for (c, ip, want) in cases {
            assert_eq!(ip_matches(c, &ip.parse().unwrap()), want, "{c} vs {ip}");
        }
        assert!(
            valid_cidr("10.0.0.0/8")
                && valid_cidr("::1")
                && !valid_cidr("10.0.0.0/33")
                && !valid_cidr("x")
        );
    }

    #[test]
    fn email_and_glob_table() {
        assert!(email_matches("example.com", "a@example.com"));
        assert!(!email_matches("example.com", "a@evil.com"));
        assert!(email_matches(".example.com", "a@mail.example.com"));
        assert!(!email_matches("example.com", "@example.com"));
        assert!(glob_matches("spiffe://corp/*", "spiffe://corp/ns/web"));
        assert!(!glob_matches("spiffe://corp/*", "spiffe://other/ns"));
        assert!(glob_matches("https://*.corp/*/x", "https://a.corp/b/x"));
        assert!(glob_matches("exact", "exact") && !glob_matches("exact", "exactly"));
    }
}
