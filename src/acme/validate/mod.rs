//! The validation authority: real network checks with timeouts, a bounded
//! worker pool, a few retries, a configurable DNS resolver and a static
//! name → address map consulted first (tests, split horizon).

mod dns01;
mod http01;
mod tls_alpn01;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use signet_ca::names::San;
use tokio::sync::Semaphore;

use super::problem::Problem;
use crate::config::ValidationConfig;

pub const HTTP01: &str = "http-01";
pub const DNS01: &str = "dns-01";
pub const TLS_ALPN01: &str = "tls-alpn-01";

pub struct Validator {
    cfg: ValidationConfig,
    hosts: BTreeMap<String, IpAddr>,
    resolver: TokioResolver,
    pool: Arc<Semaphore>,
}

impl Validator {
    pub fn new(cfg: &ValidationConfig) -> anyhow::Result<Validator> {
        let mut builder = if cfg.dns_resolvers.is_empty() {
            TokioResolver::builder_tokio()?
        } else {
            let servers = cfg
                .dns_resolvers
                .iter()
                .map(|s| {
                    let addr: SocketAddr = s.parse()?;
                    let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                    for c in &mut ns.connections {
                        c.port = addr.port();
                    }
                    Ok(ns)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let opts = builder.options_mut();
        opts.cache_size = 0; // a validation must see the record as it is now
        opts.timeout = Duration::from_secs(cfg.timeout_secs.min(5));
        opts.attempts = 2;
        let hosts = cfg
            .hosts
            .iter()
            .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), v.parse().ok()?)))
            .collect();
        Ok(Validator {
            cfg: cfg.clone(),
            hosts,
            resolver: builder.build()?,
            pool: Arc::new(Semaphore::new(cfg.workers)),
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.timeout_secs)
    }

    /// Addresses for a name: the override map (exact, then `*.suffix`), then DNS.
    async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, Problem> {
        if let Some(ip) = self.hosts.get(name) {
            return Ok(vec![*ip]);
        }
        let mut rest = name;
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(ip) = self.hosts.get(&format!("*.{parent}")) {
                return Ok(vec![*ip]);
            }
            rest = parent;
        }
        let lookup = self
            .resolver
            .lookup_ip(format!("{name}."))
            .await
            .map_err(|e| Problem::dns(format!("cannot resolve {name}: {e}")))?;
        let ips: Vec<IpAddr> = lookup.iter().collect();
        if ips.is_empty() {
            return Err(Problem::dns(format!("no A/AAAA records for {name}")));
        }
        Ok(ips)
    }

    async fn addresses(&self, id: &San) -> Result<Vec<IpAddr>, Problem> {
        match id {
            San::Ip(ip) => Ok(vec![*ip]),
            San::Dns(d) => self.resolve(d).await,
            other => Err(Problem::malformed(format!(
                "cannot validate identifier {other}"
            ))),
        }
    }

    /// Validate one challenge, retrying connection-level failures.
    pub async fn validate(
        &self,
        kind: &str,
        id: &San,
        token: &str,
        key_authz: &str,
    ) -> Result<(), Problem> {
        let _permit = self
            .pool
            .acquire()
            .await
            .map_err(|_| Problem::server_internal("validator closed"))?;
        let mut last = Problem::server_internal("no attempt made");
        for attempt in 0..self.cfg.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
            let r = tokio::time::timeout(self.timeout(), self.attempt(kind, id, token, key_authz))
                .await;
            match r {
                Ok(Ok(())) => return Ok(()),
                // A wrong answer is final; only transport trouble is retried.
                Ok(Err(p))
                    if p.kind == "incorrectResponse"
                        || p.kind == "unauthorized"
                        || p.kind == "malformed" =>
                {
                    return Err(p);
                }
                Ok(Err(p)) => last = p,
                Err(_) => {
                    last = Problem::connection(format!(
                        "{kind} validation of {} timed out after {:?}",
                        id.value(),
                        self.timeout()
                    ))
                }
            }
        }
        Err(last)
    }

    async fn attempt(
        &self,
        kind: &str,
        id: &San,
        token: &str,
        key_authz: &str,
    ) -> Result<(), Problem> {
        match kind {
            HTTP01 => {
                let addrs = self.addresses(id).await?;
                http01::check(
                    &addrs,
                    self.cfg.http01_port,
                    id,
                    token,
                    key_authz,
                    self.timeout(),
                )
                .await
            }
            TLS_ALPN01 => {
                let addrs = self.addresses(id).await?;
                tls_alpn01::check(
                    &addrs,
                    self.cfg.tls_alpn01_port,
                    id,
                    key_authz,
                    self.timeout(),
                )
                .await
            }
            DNS01 => match id {
                San::Dns(d) => dns01::check(&self.resolver, d, key_authz).await,
                _ => Err(Problem::malformed("dns-01 applies only to DNS identifiers")),
            },
            other => Err(Problem::malformed(format!(
                "unknown challenge type {other}"
            ))),
        }
    }
}
