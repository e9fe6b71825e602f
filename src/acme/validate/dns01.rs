//! dns-01 (RFC 8555 §8.4): a TXT record at _acme-challenge.<name> holding
//! base64url(SHA-256(key authorization)).

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::RData;
use signet_ca::jose::dns01_txt;

use crate::acme::problem::Problem;

pub async fn check(resolver: &TokioResolver, name: &str, key_authz: &str) -> Result<(), Problem> {
    let base = name.strip_prefix("*.").unwrap_or(name);
    let qname = format!("_acme-challenge.{base}.");
    let lookup = resolver
        .txt_lookup(qname.as_str())
        .await
        .map_err(|e| Problem::dns(format!("TXT lookup for {qname} failed: {e}")))?;
    let expected = dns01_txt(key_authz);
    let mut seen = Vec::new();
    for r in lookup.answers() {
        if let RData::TXT(txt) = &r.data {
            let value: Vec<u8> = txt
                .txt_data
                .iter()
                .flat_map(|s| s.iter().copied())
                .collect();
            let value = String::from_utf8_lossy(&value).to_string();
            if value == expected {
                return Ok(());
            }
            seen.push(value);
        }
    }
    Err(Problem::incorrect_response(format!(
        "no TXT record at {qname} matches the key authorization (found {seen:?})"
    )))
}
