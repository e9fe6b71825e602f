//! Templates (a.k.a. profiles) and their evaluation.
//!
//! `evaluate` is a pure function: given a template and a request it returns
//! either the final plan or every rule the request breaks. ACME, SCEP and the
//! REST API all go through it (via `issuance`).

mod matchers;
pub mod renew;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use signet_ca::issue::{CertPlan, EXT_KEY_USAGES, KEY_USAGES};
use signet_ca::key::KeyInfo;
use signet_ca::names::{self, San};

pub use matchers::{dns_matches, email_matches, glob_matches, ip_matches};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Acme,
    Scep,
    Api,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Acme => "acme",
            Channel::Scep => "scep",
            Channel::Api => "api",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "acme" => Ok(Channel::Acme),
            "scep" => Ok(Channel::Scep),
            "api" => Ok(Channel::Api),
            _ => Err(format!("unknown channel {s:?}")),
        }
    }
}

/// A template's rules. Stored as JSON in the `templates` table; seeded from
/// `[templates.<name>]` in signet.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateSpec {
    /// Shown in lists and the dashboard.
    pub description: String,
    /// Signing CA by name or id; empty means the default issuing CA.
    pub ca: String,
    /// The fronts that may issue under this template.
    pub channels: Vec<Channel>,
    /// DNS patterns: `*`, `host.example.com`, `*.example.com` (one label),
    /// `.example.com` (any depth). Omitted or empty: no DNS name is allowed.
    pub dns: Vec<String>,
    /// IP CIDRs (`0.0.0.0/0` and `::/0` for any). Omitted or empty: no IP address.
    pub ip: Vec<String>,
    /// Email domains (`example.com`, `.example.com`) or `*`. Omitted or empty: none.
    pub email: Vec<String>,
    /// URI globs, e.g. `spiffe://corp/*`. Omitted or empty: none.
    pub uri: Vec<String>,
    /// Globs for common names that are not host names (SCEP device names,
    /// people). Such a CN gets no SAN. Omitted or empty: the CN must be a DNS
    /// name or IP address the rules above allow, and it is copied into the SANs.
    pub cn_pattern: Vec<String>,
    /// Whether a `*.` name may be issued where a DNS pattern allows it.
    pub allow_wildcard: bool,
    /// The most SANs one certificate may carry.
    pub max_sans: usize,
    /// The key types a request may use.
    #[schemars(extend("items" = {"type": "string", "enum": KEY_LABELS}))]
    pub key_types: Vec<String>,
    /// Lifetime when the request names none.
    pub default_validity_days: u32,
    /// The longest lifetime a request may ask for.
    pub max_validity_days: u32,
    /// Key usages of issued certificates.
    #[schemars(extend("items" = {"type": "string", "enum": KEY_USAGES}))]
    pub key_usage: Vec<String>,
    /// Extended key usages of issued certificates.
    #[schemars(extend("items" = {"type": "string", "enum": EXT_KEY_USAGES}))]
    pub ext_key_usage: Vec<String>,
    /// Subject attributes a request may carry (short names, e.g. CN, O, OU).
    pub subject_allowed: Vec<String>,
    /// Subject attributes a request must carry.
    pub subject_required: Vec<String>,
    /// Put the first DNS name into the CN when the request has none. An
    /// IP-only certificate keeps an empty subject (and a critical SAN), as
    /// Let's Encrypt issues them: clients such as certbot read a CN as a DNS name.
    pub cn_from_first_san: bool,
    /// Distinct approvers a request needs before it is signed (N of M); 0
    /// signs at once.
    pub approvals_required: u32,
    /// notBefore is moved back this far to absorb client clock skew.
    pub backdate_secs: i64,
    /// When set, certificates last this many minutes instead of
    /// `default_validity_days` (short-lived certificates).
    pub validity_minutes: u32,
    /// New certificates from the API (and imports with a key) are renewed by
    /// the scheduler before they expire.
    pub auto_renew: bool,
    /// When to renew: a fraction of the lifetime left (`1/3`, the default) or
    /// a duration before notAfter (`30d`, `12h`, `10m`, `90s`).
    pub renew_before: String,
    /// Renewals of server-generated keys keep the key instead of a new one.
    pub reuse_key: bool,
    /// Days before notAfter at which a certificate not yet renewed is
    /// announced as expiring.
    pub notify_before_days: Vec<u32>,
    /// Email recipients of this template's events, beside the global ones.
    pub notify_email: Vec<String>,
}

impl Default for TemplateSpec {
    fn default() -> Self {
        TemplateSpec {
            description: String::new(),
            ca: String::new(),
            channels: vec![Channel::Acme, Channel::Scep, Channel::Api],
            dns: Vec::new(),
            ip: Vec::new(),
            email: Vec::new(),
            uri: Vec::new(),
            cn_pattern: Vec::new(),
            allow_wildcard: true,
            max_sans: 100,
            key_types: [
                "ec-p256", "ec-p384", "ec-p521", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519",
            ]
            .map(String::from)
            .to_vec(),
            default_validity_days: 90,
            max_validity_days: 90,
            key_usage: vec!["digitalSignature".into()],
            ext_key_usage: vec!["serverAuth".into(), "clientAuth".into()],
            subject_allowed: vec!["CN".into()],
            subject_required: Vec::new(),
            cn_from_first_san: true,
            approvals_required: 0,
            backdate_secs: 300,
            validity_minutes: 0,
            auto_renew: false,
            renew_before: "1/3".into(),
            reuse_key: false,
            notify_before_days: vec![30, 14, 7, 1],
            notify_email: Vec::new(),
        }
    }
}

impl TemplateSpec {
    /// The built-in `default` template: any DNS name and any IP address, said
    /// explicitly, since an allow-list that is not given allows nothing.
    pub fn allow_any_host() -> Self {
        TemplateSpec {
            dns: vec!["*".into()],
            ip: vec!["0.0.0.0/0".into(), "::/0".into()],
            ..Default::default()
        }
    }
}

const KEY_LABELS: [&str; 7] = [
    "ec-p256", "ec-p384", "ec-p521", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519",
];

/// One field of a template spec that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl TemplateSpec {
    /// Parse a spec from JSON field by field, so that every field that does
    /// not parse is reported under its own name (serde stops at the first
    /// error and does not always say which field it was in). Then validate.
    pub fn from_json(spec: serde_json::Value) -> Result<TemplateSpec, Vec<SpecError>> {
        let serde_json::Value::Object(fields) = spec else {
            return Err(vec![SpecError {
                field: String::new(),
                message: "the spec is a JSON object".into(),
            }]);
        };
        let errors: Vec<SpecError> = fields
            .iter()
            .filter_map(|(k, v)| {
                let one = serde_json::Value::Object([(k.clone(), v.clone())].into_iter().collect());
                serde_json::from_value::<TemplateSpec>(one)
                    .err()
                    .map(|e| SpecError {
                        field: k.clone(),
                        message: serde_message(&e),
                    })
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        let spec: TemplateSpec = serde_json::from_value(serde_json::Value::Object(fields))
            .map_err(|e| {
                vec![SpecError {
                    field: String::new(),
                    message: serde_message(&e),
                }]
            })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Reject a template that could never be used or names unknown values,
    /// with every broken field.
    pub fn validate(&self) -> Result<(), Vec<SpecError>> {
        let mut errors = Vec::new();
        let mut bad = |field: &str, message: String| {
            errors.push(SpecError {
                field: field.into(),
                message,
            })
        };
        if self.channels.is_empty() {
            bad("channels", "name at least one of acme, scep, api".into());
        }
        if self.max_validity_days == 0 {
            bad("max_validity_days", "must be > 0".into());
        }
        if self.default_validity_days == 0 {
            bad("default_validity_days", "must be > 0".into());
        } else if self.max_validity_days > 0 && self.default_validity_days > self.max_validity_days
        {
            bad(
                "default_validity_days",
                format!("exceeds max_validity_days ({})", self.max_validity_days),
            );
        }
        if let Some(k) = self
            .key_types
            .iter()
            .find(|k| !KEY_LABELS.contains(&k.as_str()))
        {
            bad(
                "key_types",
                format!("unknown {k:?} (expected {})", KEY_LABELS.join(", ")),
            );
        } else if self.key_types.is_empty() {
            bad("key_types", "must not be empty".into());
        }
        if let Some(k) = self
            .key_usage
            .iter()
            .find(|k| !KEY_USAGES.contains(&k.as_str()))
        {
            bad(
                "key_usage",
                format!("unknown {k:?} (expected {})", KEY_USAGES.join(", ")),
            );
        }
        if let Some(k) = self
            .ext_key_usage
            .iter()
            .find(|k| !EXT_KEY_USAGES.contains(&k.as_str()))
        {
            bad(
                "ext_key_usage",
                format!("unknown {k:?} (expected {})", EXT_KEY_USAGES.join(", ")),
            );
        }
        if let Err(e) = renew::RenewBefore::parse(&self.renew_before) {
            bad("renew_before", e);
        }
        if self.validity_minutes > self.max_validity_days.saturating_mul(1440) {
            bad("validity_minutes", "exceeds max_validity_days".into());
        }
        if let Some(c) = self.ip.iter().find(|c| !matchers::valid_cidr(c)) {
            bad("ip", format!("{c:?} is not a CIDR"));
        }
        if let Some(r) = self
            .subject_required
            .iter()
            .find(|r| !self.subject_allowed.contains(r))
        {
            bad(
                "subject_required",
                format!("{r:?} is not in subject_allowed"),
            );
        }
        if self.backdate_secs < 0 {
            bad("backdate_secs", "must be >= 0".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// serde's message without its " at line 1 column 9" suffix, which points
/// into a document the caller never wrote (one field re-serialised).
fn serde_message(e: &serde_json::Error) -> String {
    let m = e.to_string();
    match m.find(" at line ") {
        Some(i) => m[..i].to_string(),
        None => m,
    }
}

/// Every error of a spec on one line, for the configuration file and logs.
pub fn spec_errors_line(errors: &[SpecError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What is being asked for, already parsed.
pub struct PolicyRequest<'a> {
    pub channel: Channel,
    pub subject: &'a [(String, String)],
    pub sans: &'a [San],
    pub key: &'a KeyInfo,
    /// Requested lifetime; None means the template default.
    pub validity_days: Option<u32>,
    pub now: i64,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub rule: String,
    pub offending_value: String,
    pub allowed: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {:?} is not allowed (allowed: {})",
            self.rule, self.offending_value, self.allowed
        )
    }
}

/// The outcome of a passing evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Certificate content; URLs are filled in by issuance, which knows the CA.
    pub cert: CertPlan,
    pub approvals_required: u32,
}

fn v(rule: &str, offending: impl Into<String>, allowed: impl Into<String>) -> Violation {
    Violation {
        rule: rule.into(),
        offending_value: offending.into(),
        allowed: allowed.into(),
    }
}

fn list(xs: &[String]) -> String {
    if xs.is_empty() {
        "none".into()
    } else {
        xs.join(", ")
    }
}

/// RFC 5280 upper bounds (characters) of the subject attributes a template
/// may allow; anything else is held to 64.
fn subject_upper_bound(attr: &str) -> usize {
    match attr {
        "C" => 2,
        "L" | "ST" => 128,
        "emailAddress" => 255,
        _ => 64,
    }
}

/// Every subject value: non-empty printable text within its upper bound.
fn subject_violations(subject: &[(String, String)]) -> Vec<Violation> {
    let mut out = Vec::new();
    for (k, val) in subject {
        let n = val.chars().count();
        let max = subject_upper_bound(k);
        let shown = || format!("{k}={}", val.escape_debug());
        if n == 0 {
            out.push(v("subject_syntax", shown(), "a non-empty value"));
        } else if val.chars().any(char::is_control) {
            out.push(v("subject_syntax", shown(), "printable characters only"));
        } else if n > max {
            out.push(v(
                "subject_syntax",
                shown(),
                format!("at most {max} characters (RFC 5280)"),
            ));
        } else if k == "C" && !val.bytes().all(|b| b.is_ascii_uppercase()) {
            out.push(v("subject_syntax", shown(), "a two-letter country code"));
        }
    }
    out
}

/// A SAN in its canonical form, or why it is malformed.
fn checked_san(s: &San) -> Result<San, String> {
    let printable = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_graphic());
    match s {
        San::Dns(d) => names::normalize_dns(d).map(San::Dns),
        San::Ip(_) => Ok(s.clone()),
        San::Email(e)
            if printable(e)
                && e.split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty()) =>
        {
            Ok(s.clone())
        }
        San::Email(_) => Err("an email address (local@domain, ASCII)".into()),
        San::Uri(u) if printable(u) && u.contains(':') => Ok(s.clone()),
        San::Uri(_) => Err("an absolute URI (ASCII, no spaces)".into()),
    }
}

enum CnKind {
    Identifier(San),
    Name,
    Refused,
}

fn cn_identifier(t: &TemplateSpec, cn: &str) -> CnKind {
    if let Ok(ip) = cn.parse::<std::net::IpAddr>() {
        return CnKind::Identifier(San::Ip(ip));
    }
    let dns = names::normalize_dns(cn).ok();
    // A dotted host name is always an identifier: no pattern lets a CN name
    // a host the DNS rules refuse.
    if let Some(d) = &dns
        && d.contains('.')
    {
        return CnKind::Identifier(San::Dns(d.clone()));
    }
    if t.cn_pattern.iter().any(|p| glob_matches(p, cn)) {
        return CnKind::Name;
    }
    match dns {
        Some(d) => CnKind::Identifier(San::Dns(d)),
        None => CnKind::Refused,
    }
}

/// The name rules alone: what newOrder checks before any key is known.
pub fn identifier_violations(t: &TemplateSpec, sans: &[San]) -> Vec<Violation> {
    let mut out = Vec::new();
    for s in sans {
        match s {
            San::Dns(d) => {
                if names::is_wildcard(d) && !t.allow_wildcard {
                    out.push(v("allow_wildcard", d.clone(), "no wildcard names"));
                } else if !t.dns.iter().any(|p| dns_matches(p, d)) {
                    out.push(v("dns", d.clone(), list(&t.dns)));
                }
            }
            San::Ip(ip) => {
                if !t.ip.iter().any(|c| ip_matches(c, ip)) {
                    out.push(v("ip", ip.to_string(), list(&t.ip)));
                }
            }
            San::Email(e) => {
                if !t.email.iter().any(|p| email_matches(p, e)) {
                    out.push(v("email", e.clone(), list(&t.email)));
                }
            }
            San::Uri(u) => {
                if !t.uri.iter().any(|p| glob_matches(p, u)) {
                    out.push(v("uri", u.clone(), list(&t.uri)));
                }
            }
        }
    }

    out
}

/// Evaluate a request against a template: the plan, or every violation.
pub fn evaluate(t: &TemplateSpec, r: &PolicyRequest<'_>) -> Result<Plan, Vec<Violation>> {
    let mut out = Vec::new();
    if !t.channels.contains(&r.channel) {
        let allowed: Vec<String> = t.channels.iter().map(|c| c.to_string()).collect();
        out.push(v("channels", r.channel.as_str(), list(&allowed)));
    }

    let mut sans: Vec<San> = Vec::new();
    for s in r.sans {
        match checked_san(s) {
            Ok(n) if !sans.contains(&n) => sans.push(n),
            Ok(_) => {}
            Err(why) => out.push(v("san_syntax", s.value(), why)),
        }
    }
    out.extend(subject_violations(r.subject));
    let cn = r
        .subject
        .iter()
        .find(|(k, _)| k == "CN")
        .map(|(_, v)| v.clone());
    // The CN is a host name or address, and then an identifier like any
    // SAN (and copied into the SANs), or a name the template allows
    // explicitly, which then gets no SAN.
    if let Some(cn) = &cn {
        match cn_identifier(t, cn) {
            CnKind::Identifier(s) => {
                if !sans.contains(&s) {
                    sans.push(s);
                }
            }
            CnKind::Name => {}
            CnKind::Refused => out.push(v(
                "common_name",
                cn.clone(),
                if t.cn_pattern.is_empty() {
                    "a DNS name or IP address".to_string()
                } else {
                    format!("a DNS name or IP address, or {}", list(&t.cn_pattern))
                },
            )),
        }
    }
    if sans.is_empty() && cn.is_none() {
        out.push(v(
            "identifiers",
            "(none)",
            "at least one subject alternative name or a common name",
        ));
    }
    if sans.len() > t.max_sans {
        out.push(v(
            "max_sans",
            sans.len().to_string(),
            t.max_sans.to_string(),
        ));
    }
    out.extend(identifier_violations(t, &sans));

    let label = r.key.label();
    if !t.key_types.contains(&label) {
        out.push(v("key_types", label, list(&t.key_types)));
    }

    let days = r.validity_days.unwrap_or(t.default_validity_days);
    if days == 0 || days > t.max_validity_days {
        out.push(v(
            "max_validity_days",
            days.to_string(),
            format!("1..={}", t.max_validity_days),
        ));
    }

    for (k, val) in r.subject {
        if !t.subject_allowed.contains(k) {
            out.push(v(
                "subject_allowed",
                format!("{k}={val}"),
                list(&t.subject_allowed),
            ));
        }
    }
    for req in &t.subject_required {
        if !r.subject.iter().any(|(k, _)| k == req) {
            out.push(v(
                "subject_required",
                format!("{req} missing"),
                list(&t.subject_required),
            ));
        }
    }
    if !out.is_empty() {
        return Err(out);
    }

    let mut subject: Vec<(String, String)> = r.subject.to_vec();
    let first_name = sans
        .iter()
        .find(|s| matches!(s, San::Dns(_)))
        .map(San::value);
    if let Some(val) = first_name
        && cn.is_none()
        && t.cn_from_first_san
        && val.len() <= 64
    {
        subject.push(("CN".into(), val));
    }
    Ok(Plan {
        cert: CertPlan {
            subject,
            sans,
            not_before: r.now - t.backdate_secs,
            not_after: if t.validity_minutes > 0 && r.validity_days.is_none() {
                r.now + i64::from(t.validity_minutes) * 60
            } else {
                r.now + i64::from(days) * 86400
            },
            key_usage: t.key_usage.clone(),
            ext_key_usage: t.ext_key_usage.clone(),
            ..Default::default()
        },
        approvals_required: t.approvals_required,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ec256() -> KeyInfo {
        KeyInfo {
            algorithm: "ec".into(),
            bits: 256,
        }
    }

    fn req<'a>(
        subject: &'a [(String, String)],
        sans: &'a [San],
        key: &'a KeyInfo,
    ) -> PolicyRequest<'a> {
        PolicyRequest {
            channel: Channel::Acme,
            subject,
            sans,
            key,
            validity_days: None,
            now: 1_000_000,
        }
    }

    fn dns(n: &str) -> San {
        San::Dns(n.into())
    }

    type Row<'a> = (
        &'a str,
        fn(&mut TemplateSpec),
        Vec<(String, String)>,
        Vec<San>,
        Option<u32>,
        &'a KeyInfo,
        Vec<&'a str>,
    );

    /// Each row: a template tweak, a request, and the rules expected to fire.
    #[test]
    fn each_rule_fires() {
        let k = ec256();
        let rsa1k = KeyInfo {
            algorithm: "rsa".into(),
            bits: 4096,
        };
        let rows: Vec<Row> = vec![
            (
                "ok",
                |_| {},
                vec![],
                vec![dns("a.example.com")],
                None,
                &k,
                vec![],
            ),
            (
                "channel",
                |t| t.channels = vec![Channel::Api],
                vec![],
                vec![dns("a.b")],
                None,
                &k,
                vec!["channels"],
            ),
            (
                "dns suffix",
                |t| t.dns = vec![".corp".into()],
                vec![],
                vec![dns("a.evil.com")],
                None,
                &k,
                vec!["dns"],
            ),
            (
                "dns ok",
                |t| t.dns = vec![".corp".into()],
                vec![],
                vec![dns("a.b.corp")],
                None,
                &k,
                vec![],
            ),
            (
                "wildcard",
                |t| t.allow_wildcard = false,
                vec![],
                vec![dns("*.a.com")],
                None,
                &k,
                vec!["allow_wildcard"],
            ),
            (
                "ip",
                |t| t.ip = vec!["10.0.0.0/8".into()],
                vec![],
                vec![San::Ip("192.168.0.1".parse().unwrap())],
                None,
                &k,
                vec!["ip"],
            ),
            (
                "email",
                |_| {},
                vec![],
                vec![San::Email("a@b.com".into())],
                None,
                &k,
                vec!["email"],
            ),
            (
                "uri",
                |t| t.uri = vec!["spiffe://corp/*".into()],
                vec![],
                vec![San::Uri("spiffe://x/y".into())],
                None,
                &k,
                vec!["uri"],
            ),
            (
                "key",
                |t| t.key_types = vec!["ec-p256".into()],
                vec![],
                vec![dns("a.b")],
                None,
                &rsa1k,
                vec!["key_types"],
            ),
            (
                "validity",
                |_| {},
                vec![],
                vec![dns("a.b")],
                Some(365),
                &k,
                vec!["max_validity_days"],
            ),
            (
                "subject allowed",
                |_| {},
                vec![("O".into(), "Evil".into())],
                vec![dns("a.b")],
                None,
                &k,
                vec!["subject_allowed"],
            ),
            (
                "subject required",
                |t| {
                    t.subject_allowed.push("O".into());
                    t.subject_required = vec!["O".into()];
                },
                vec![],
                vec![dns("a.b")],
                None,
                &k,
                vec!["subject_required"],
            ),
            (
                "max sans",
                |t| t.max_sans = 1,
                vec![],
                vec![dns("a.b"), dns("c.d")],
                None,
                &k,
                vec!["max_sans"],
            ),
            (
                "empty",
                |_| {},
                vec![],
                vec![],
                None,
                &k,
                vec!["identifiers"],
            ),
            (
                "cn checked as dns",
                |t| t.dns = vec![".corp".into()],
                vec![("CN".into(), "x.evil.com".into())],
                vec![],
                None,
                &k,
                vec!["dns"],
            ),
            (
                "an omitted ip list allows no address",
                |t| t.ip.clear(),
                vec![],
                vec![San::Ip("10.0.0.1".parse().unwrap())],
                None,
                &k,
                vec!["ip"],
            ),
            (
                "cn that is no host name",
                |_| {},
                vec![("CN".into(), "evil example.org".into())],
                vec![],
                None,
                &k,
                vec!["common_name"],
            ),
            (
                "cn with a path",
                |_| {},
                vec![("CN".into(), "evil.example.org/x".into())],
                vec![],
                None,
                &k,
                vec!["common_name"],
            ),
            (
                "cn with a NUL",
                |_| {},
                vec![("CN".into(), "a\0.example.com".into())],
                vec![],
                None,
                &k,
                vec!["subject_syntax", "common_name"],
            ),
            (
                "cn over 64 characters",
                |_| {},
                vec![("CN".into(), format!("{}.example.com", "a".repeat(60)))],
                vec![],
                None,
                &k,
                vec!["subject_syntax"],
            ),
            (
                "device name through cn_pattern",
                |t| t.cn_pattern = vec!["*".into()],
                vec![("CN".into(), "Jane's iPhone".into())],
                vec![],
                None,
                &k,
                vec![],
            ),
            (
                "a dotted cn is a host name whatever the pattern",
                |t| {
                    t.cn_pattern = vec!["*".into()];
                    t.dns = vec![".corp".into()];
                },
                vec![("CN".into(), "x.evil.com".into())],
                vec![],
                None,
                &k,
                vec!["dns"],
            ),
            (
                "empty dns san",
                |_| {},
                vec![],
                vec![dns("")],
                None,
                &k,
                vec!["san_syntax", "identifiers"],
            ),
            (
                "several at once",
                |t| {
                    t.dns = vec![".corp".into()];
                    t.channels = vec![Channel::Scep];
                },
                vec![],
                vec![dns("a.com")],
                Some(1000),
                &k,
                vec!["channels", "dns", "max_validity_days"],
            ),
        ];
        for (name, tweak, subject, sans, days, key, want) in rows {
            let mut t = TemplateSpec::allow_any_host();
            tweak(&mut t);
            t.validate().unwrap();
            let mut r = req(&subject, &sans, key);
            r.validity_days = days;
            let got: Vec<String> = match evaluate(&t, &r) {
                Ok(_) => vec![],
                Err(vs) => vs.into_iter().map(|v| v.rule).collect(),
            };
            assert_eq!(got, want, "row {name}");
        }
    }

    #[test]
    fn violations_name_the_value_and_what_is_allowed() {
        let t = TemplateSpec {
            dns: vec![".corp".into()],
            ..Default::default()
        };
        let k = ec256();
        let sans = [dns("x.evil.com")];
        let err = evaluate(&t, &req(&[], &sans, &k)).unwrap_err();
        assert_eq!(
            err,
            vec![Violation {
                rule: "dns".into(),
                offending_value: "x.evil.com".into(),
                allowed: ".corp".into()
            }]
        );
    }

    #[test]
    fn a_host_name_cn_is_copied_into_the_sans_and_a_device_name_is_not() {
        let k = ec256();
        let host = [("CN".to_string(), "Web.Example.com".to_string())];
        let p = evaluate(&TemplateSpec::allow_any_host(), &req(&host, &[], &k)).unwrap();
        assert_eq!(p.cert.sans, vec![dns("web.example.com")]);
        let t = TemplateSpec {
            cn_pattern: vec!["laptop-*".into()],
            ..TemplateSpec::default()
        };
        let device = [("CN".to_string(), "laptop-42".to_string())];
        let p = evaluate(&t, &req(&device, &[], &k)).unwrap();
        assert!(p.cert.sans.is_empty());
        // Without the pattern, a single label is a host name, which this
        // template (no dns list) does not allow.
        let t = TemplateSpec::default();
        let got = evaluate(&t, &req(&device, &[], &k)).unwrap_err();
        assert_eq!(got[0].rule, "dns");
    }

    #[test]
    fn plan_fills_cn_validity_and_usage() {
        let t = TemplateSpec::allow_any_host();
        let k = ec256();
        let sans = [dns("a.example.com"), San::Ip("10.0.0.1".parse().unwrap())];
        let p = evaluate(&t, &req(&[], &sans, &k)).unwrap();
        assert_eq!(
            p.cert.subject,
            vec![("CN".to_string(), "a.example.com".to_string())]
        );
        assert_eq!(p.cert.not_after - 1_000_000, 90 * 86400);
        assert_eq!(p.cert.not_before, 1_000_000 - 300);
        assert_eq!(p.cert.ext_key_usage, vec!["serverAuth", "clientAuth"]);
        assert_eq!(p.approvals_required, 0);
    }

    #[test]
    fn spec_errors_name_their_fields() {
        use serde_json::json;
        let e = TemplateSpec::from_json(json!({"max_sans": -1, "dns": "x", "auto_renew": true}))
            .unwrap_err();
        let mut fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        fields.sort();
        assert_eq!(fields, ["dns", "max_sans"]);
        assert!(!e[0].message.contains("line"), "{e:?}");
        let e = TemplateSpec::from_json(json!({"max_validity_days": 0, "backdate_secs": -1}))
            .unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["max_validity_days", "backdate_secs"]);
        assert!(TemplateSpec::from_json(json!([])).is_err());
        assert_eq!(
            TemplateSpec::from_json(json!({"dns": ["*"]})).unwrap().dns,
            ["*"]
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        let bad: Vec<fn(&mut TemplateSpec)> = vec![
            |t| t.channels.clear(),
            |t| t.key_types = vec!["dsa-1024".into()],
            |t| t.key_usage = vec!["everything".into()],
            |t| t.ip = vec!["10.0.0.0/99".into()],
            |t| t.default_validity_days = 1000,
            |t| t.subject_required = vec!["O".into()],
        ];
        for tweak in bad {
            let mut t = TemplateSpec::default();
            tweak(&mut t);
            assert!(t.validate().is_err(), "{t:?}");
        }
    }
}
