//! Settings: built-in defaults < `signet.toml` < `SIGNET_*` environment
//! (`__` between levels; lists and maps comma-separated).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};

use crate::policy::TemplateSpec;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where state lives (SIGNET_DATA_DIR or --data-dir).
    pub data_dir: PathBuf,
    /// Empty means SQLite at <data_dir>/signet.db.
    pub database_url: String,
    /// PostgreSQL pool size. SQLite has one writer and opens readers as
    /// statements need them.
    pub database_max_connections: u32,
    /// SQLite: `full` (every COMMIT is on disk before a response) or
    /// `normal` (faster; a power loss can forget the last commits).
    pub sqlite_synchronous: SqliteSynchronous,
    /// HTTPS: ACME and the REST API.
    pub listen: SocketAddr,
    /// Plain HTTP: CA certificates, CRLs, OCSP, SCEP.
    pub http_listen: SocketAddr,
    /// Base URLs as clients see them; empty means derived from the bound address.
    pub public_url: String,
    pub public_http_url: String,
    /// Base64 32-byte key that seals private keys at rest; empty means <data_dir>/master.key.
    pub master_key: String,
    /// A certificate left `issuing`, or an ACME order left `processing`, for
    /// this long (a crash, a store outage) is finished or failed by a job
    /// that runs on one replica, and by a client polling such an order.
    pub reconcile_after_secs: i64,
    pub log: LogConfig,
    pub limits: LimitsConfig,
    pub ca: CaConfig,
    pub tls: TlsConfig,
    pub acme: AcmeConfig,
    pub revocation: RevocationConfig,
    pub scep: ScepConfig,
    pub lifecycle: LifecycleConfig,
    pub notifications: NotificationsConfig,
    /// Templates upserted into the store at every start (name → spec).
    pub templates: BTreeMap<String, TemplateSpec>,
    /// `SIGNET_*` environment variables that name no setting (Kubernetes'
    /// service links, SIGNET_URL for the CLI): ignored, and reported once.
    #[serde(skip)]
    pub ignored_env: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// "text" or "json".
    pub format: String,
    /// A tracing filter, e.g. "info" or "signet=debug,info".
    pub level: String,
}

/// What one client, or a flood of them, can hold of the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// A connection must send a request's headers within this long, and an
    /// idle keep-alive connection is closed after it (slow-loris, idle floods).
    pub header_timeout_secs: u64,
    /// Open connections over both listeners; 0 derives it from the
    /// file-descriptor limit (raised to its hard limit at start).
    pub max_connections: usize,
    /// Request-body bytes buffered at once over all requests; past it a
    /// request gets 503 with Retry-After.
    pub body_bytes_in_flight: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            header_timeout_secs: 10,
            max_connections: 0,
            body_bytes_in_flight: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaConfig {
    pub key_type: signet_ca::key::KeyType,
    pub organization: String,
    pub root_name: String,
    pub issuing_name: String,
    pub root_validity_days: u32,
    pub issuing_validity_days: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// An operator-supplied certificate chain and key; empty means Signet issues its own.
    pub cert_file: String,
    pub key_file: String,
    /// Extra names on the self-issued server certificate (localhost and loopback are always present).
    #[serde(deserialize_with = "comma_list")]
    pub dns_names: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    pub eab_required: bool,
    pub terms_of_service: String,
    pub website: String,
    #[serde(deserialize_with = "comma_list")]
    pub caa_identities: Vec<String>,
    /// Reuse valid authorizations of the same account for this long (0 disables reuse).
    pub authz_reuse_secs: i64,
    pub order_lifetime_secs: i64,
    pub nonce_lifetime_secs: i64,
    /// ARI: the suggested renewal window starts at this fraction of the lifetime…
    pub ari_window_start: f64,
    /// …and ends at this fraction.
    pub ari_window_end: f64,
    pub validation: ValidationConfig,
}

/// `[lifecycle]`: automatic renewal and delivery to rotation targets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// How often the renewal, delivery and notification jobs look for work.
    pub tick_secs: u64,
    /// The first retry of a failed renewal or delivery waits this long; each
    /// further one twice as long, up to `retry_max_secs`.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// A delivery is given up after this many attempts (then `failed`).
    pub delivery_attempts: u32,
    /// Directories under which `file` rotation targets may write. Only the
    /// configuration grants this: an API caller cannot name another place.
    pub file_target_dirs: Vec<PathBuf>,
    /// Let webhooks (rotation and notification) use plain `http://` URLs;
    /// off, only `https://` is accepted.
    pub allow_http_webhooks: bool,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            tick_secs: 60,
            retry_base_secs: 60,
            retry_max_secs: 6 * 3600,
            delivery_attempts: 8,
            file_target_dirs: Vec::new(),
            allow_http_webhooks: false,
        }
    }
}

/// `[notifications]`: who hears of expiring certificates, renewals,
/// pending approvals and revocations, and how.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// A JSON POST per event, signed like rotation webhooks.
    pub webhook_url: String,
    /// The HMAC-SHA256 key of `Signet-Signature` on notification webhooks.
    pub webhook_secret: String,
    /// Recipients of every event; templates and projects add their own.
    pub email_to: Vec<String>,
    pub smtp: SmtpConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Empty: no email.
    pub host: String,
    pub port: u16,
    /// `starttls` (default), `tls` (implicit, port 465) or `none` (a relay on
    /// a trusted network only).
    pub security: String,
    pub username: String,
    pub password: String,
    pub from: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 587,
            security: "starttls".into(),
            username: String::new(),
            password: String::new(),
            from: "signet@localhost".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationConfig {
    /// A new full CRL at least this often…
    pub crl_full_interval_secs: i64,
    /// …each valid (nextUpdate) for this long, which must exceed the interval.
    pub crl_validity_secs: i64,
    pub delta_interval_secs: i64,
    pub delta_validity_secs: i64,
    /// OCSP responses' nextUpdate and Cache-Control max-age.
    pub ocsp_validity_secs: i64,
    /// How often the publisher checks whether a CRL is due.
    pub check_interval_secs: u64,
    /// Partition each CA's revocations into this many CRLs (by serial), each
    /// with an Issuing Distribution Point; certificates name their shard's
    /// CRL. 1 means no sharding. The complete CRL is published either way.
    pub crl_shards: u32,
    /// What a revocation publishes, a moment later: `full` (a full CRL and a
    /// delta: relying parties that read only the CRL distribution point,
    /// such as `openssl verify -crl_check`, see it), `delta`, or `off` (the
    /// schedule alone).
    pub publish_on_revoke: PublishOnRevoke,
    /// How long after a revocation that publication waits, so that a burst
    /// of revocations makes one CRL.
    pub publish_on_revoke_delay_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishOnRevoke {
    Full,
    Delta,
    Off,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        RevocationConfig {
            crl_full_interval_secs: 6 * 3600,
            crl_validity_secs: 24 * 3600,
            delta_interval_secs: 15 * 60,
            delta_validity_secs: 3600,
            ocsp_validity_secs: 3600,
            check_interval_secs: 60,
            crl_shards: 1,
            publish_on_revoke: PublishOnRevoke::Full,
            publish_on_revoke_delay_ms: 2000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScepConfig {
    /// Served at /scep/{name}. A profile names a template (which names the
    /// CA), so a CA rollover does not change what devices are configured with.
    pub profiles: BTreeMap<String, ScepProfile>,
}

impl Default for ScepConfig {
    fn default() -> Self {
        ScepConfig {
            profiles: BTreeMap::from([("default".to_string(), ScepProfile::default())]),
        }
    }
}

/// How a SCEP request proves it may enrol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChallengeMode {
    /// One shared secret (`challenge_secret`, or <data_dir>/scep-challenge).
    Static,
    /// Single-use secrets minted by POST /api/v1/scep/challenges.
    OneTime,
    /// `webhook_url` decides, and is told the outcome (the Intune pattern).
    Webhook,
    /// No challenge: the request waits for an administrator's approval.
    None,
}

/// Whether the profile uses a separate RSA RA/decrypter certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RaMode {
    /// An RA for EC CAs (which cannot decrypt); an RSA CA answers itself.
    Auto,
    /// Always an RA (some Apple setups expect one).
    Always,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScepProfile {
    pub template: String,
    pub challenge: ChallengeMode,
    /// Static mode; empty means the generated secret kept in the store (and
    /// copied to <data_dir>/scep-challenge).
    pub challenge_secret: String,
    pub webhook_url: String,
    pub webhook_timeout_secs: u64,
    /// Accept DES, 3DES and SHA-1 (RFC 8894 legacy). Real fleets need it.
    pub allow_legacy: bool,
    pub ra: RaMode,
    /// Accept a request signed by a current certificate of this CA without a
    /// challenge (renewal, RFC 8894 §3.3.1.2).
    pub renewal: bool,
    /// Put the CA chain next to the issued certificate in CertRep (Cisco VPN
    /// wants it; Juniper refuses it).
    pub include_ca_in_reply: bool,
}

impl Default for ScepProfile {
    fn default() -> Self {
        ScepProfile {
            template: "scep-device".into(),
            challenge: ChallengeMode::Static,
            challenge_secret: String::new(),
            webhook_url: String::new(),
            webhook_timeout_secs: 5,
            allow_legacy: true,
            ra: RaMode::Auto,
            renewal: true,
            include_ca_in_reply: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationConfig {
    pub http01_port: u16,
    pub tls_alpn01_port: u16,
    /// DNS servers as ip:port; empty means the system resolver.
    #[serde(deserialize_with = "comma_list")]
    pub dns_resolvers: Vec<String>,
    /// Name (or `*.suffix`) → IP, consulted before DNS.
    #[serde(deserialize_with = "comma_map")]
    pub hosts: BTreeMap<String, String>,
    pub timeout_secs: u64,
    /// Concurrent validations across the process.
    pub workers: usize,
    pub attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./signet-data"),
            database_url: String::new(),
            database_max_connections: 8,
            sqlite_synchronous: SqliteSynchronous::Full,
            reconcile_after_secs: 30,
            listen: "127.0.0.1:8443".parse().expect("literal"),
            http_listen: "127.0.0.1:8080".parse().expect("literal"),
            public_url: String::new(),
            public_http_url: String::new(),
            master_key: String::new(),
            log: LogConfig::default(),
            limits: LimitsConfig::default(),
            ca: CaConfig::default(),
            tls: TlsConfig::default(),
            acme: AcmeConfig::default(),
            revocation: RevocationConfig::default(),
            scep: ScepConfig::default(),
            lifecycle: LifecycleConfig::default(),
            notifications: NotificationsConfig::default(),
            templates: BTreeMap::new(),
            ignored_env: Vec::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            key_type: signet_ca::key::KeyType::EcP256,
            organization: "Signet".into(),
            root_name: "Signet Root CA".into(),
            issuing_name: "Signet Issuing CA".into(),
            root_validity_days: 3650,
            issuing_validity_days: 1825,
        }
    }
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            eab_required: false,
            terms_of_service: String::new(),
            website: String::new(),
            caa_identities: Vec::new(),
            authz_reuse_secs: 0,
            order_lifetime_secs: 7 * 86400,
            nonce_lifetime_secs: 3600,
            ari_window_start: 2.0 / 3.0,
            ari_window_end: 0.8,
            validation: ValidationConfig::default(),
        }
    }
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            http01_port: 80,
            tls_alpn01_port: 443,
            dns_resolvers: Vec::new(),
            hosts: BTreeMap::new(),
            timeout_secs: 10,
            workers: 32,
            attempts: 3,
        }
    }
}

impl Config {
    /// Load for a data dir: defaults, then `<data_dir>/signet.toml` (or an
    /// explicit file), then the environment. Errors name the key and the reason.
    pub fn load(data_dir: Option<&Path>, file: Option<&Path>) -> anyhow::Result<Config> {
        // Only variables whose first path segment is a setting are read:
        // Kubernetes injects SIGNET_PORT=tcp://… and SIGNET_SERVICE_HOST into
        // every pod beside a Service named `signet`. A typo below a known
        // section (SIGNET_ACME__EAB_REQUIRD) still stops the start.
        let known = top_level_keys();
        let is_setting = move |key: &str| {
            let top = key.split("__").next().unwrap_or_default();
            known.iter().any(|k| top.eq_ignore_ascii_case(k))
        };
        let ignored_env: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| {
                k.strip_prefix("SIGNET_")
                    .is_some_and(|rest| !is_setting(rest))
            })
            .collect();
        let env = Env::prefixed("SIGNET_")
            .filter(move |k| is_setting(k.as_str()))
            .split("__");
        // The data dir decides where signet.toml is, so resolve it first.
        let data_dir = match data_dir {
            Some(d) => d.to_path_buf(),
            None => Figment::from(Serialized::defaults(Config::default()))
                .merge(env.clone().only(&["data_dir"]))
                .extract_inner::<PathBuf>("data_dir")?,
        };
        let file = file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| data_dir.join("signet.toml"));
        if file.exists() {
            std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        }
        let mut cfg: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&file))
            .merge(env)
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {}", describe(&e)))?;
        cfg.data_dir = data_dir;
        cfg.ignored_env = ignored_env;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let v = &self.acme.validation;
        if !(0.0..1.0).contains(&self.acme.ari_window_start)
            || self.acme.ari_window_end <= self.acme.ari_window_start
            || self.acme.ari_window_end > 1.0
        {
            anyhow::bail!(
                "invalid configuration: acme.ari_window_start/end must satisfy 0 <= start < end <= 1"
            );
        }
        for r in &v.dns_resolvers {
            r.parse::<SocketAddr>().map_err(|_| {
                anyhow::anyhow!(
                    "invalid configuration: acme.validation.dns_resolvers: {r:?} is not ip:port"
                )
            })?;
        }
        for (name, ip) in &v.hosts {
            ip.parse::<std::net::IpAddr>().map_err(|_| {
                anyhow::anyhow!("invalid configuration: acme.validation.hosts.{name}: {ip:?} is not an IP address")
            })?;
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            anyhow::bail!(
                "invalid configuration: log.format must be \"text\" or \"json\", not {:?}",
                self.log.format
            );
        }
        let r = &self.revocation;
        if r.crl_validity_secs <= r.crl_full_interval_secs
            || r.delta_validity_secs <= r.delta_interval_secs
        {
            anyhow::bail!(
                "invalid configuration: revocation.*_validity_secs must exceed the matching interval, or CRLs lapse"
            );
        }
        if !(1..=1024).contains(&r.crl_shards) {
            anyhow::bail!("invalid configuration: revocation.crl_shards must be 1..=1024");
        }
        if r.crl_full_interval_secs <= 0
            || r.delta_interval_secs <= 0
            || r.ocsp_validity_secs <= 0
            || r.check_interval_secs == 0
        {
            anyhow::bail!("invalid configuration: revocation intervals must be > 0");
        }
        if v.workers == 0 || v.timeout_secs == 0 {
            anyhow::bail!(
                "invalid configuration: acme.validation.workers and timeout_secs must be > 0"
            );
        }
        for (name, p) in &self.scep.profiles {
            if p.challenge == ChallengeMode::Webhook && !p.webhook_url.starts_with("http") {
                anyhow::bail!(
                    "invalid configuration: scep.profiles.{name}.webhook_url must be an http(s) URL in webhook mode"
                );
            }
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                anyhow::bail!(
                    "invalid configuration: scep.profiles.{name:?}: names are letters, digits, - and _"
                );
            }
        }
        for (name, spec) in &self.templates {
            spec.validate().map_err(|e| {
                anyhow::anyhow!(
                    "invalid configuration: templates.{name}: {}",
                    crate::policy::spec_errors_line(&e)
                )
            })?;
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("signet.db").display())
        } else {
            self.database_url.clone()
        }
    }
}

fn describe(e: &figment::Error) -> String {
    e.clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let src = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{src}", e.kind)
            } else {
                format!("{key}: {}{src}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ListOrString {
    List(Vec<String>),
    Str(String),
}

/// A list given as a TOML array or as "a,b,c" (the environment form).
fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match ListOrString::deserialize(d)? {
        ListOrString::List(v) => v,
        ListOrString::Str(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}

#[derive(Deserialize)]
#[serde(untagged)]
enum MapOrString {
    Map(BTreeMap<String, String>),
    Str(String),
}

/// A map given as a TOML table or as "k=v,k2=v2".
fn comma_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(match MapOrString::deserialize(d)? {
        MapOrString::Map(m) => m,
        MapOrString::Str(s) => s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| serde::de::Error::custom(format!("{p:?} is not key=value")))
            })
            .collect::<Result<_, _>>()?,
    })
}

/// The names of the top-level settings, e.g. `listen`, `acme`.
fn top_level_keys() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The commented `signet.toml` written on first start: every default visible.
pub fn default_file(cfg: &Config) -> String {
    format!(
        r#"# Signet configuration. Every key can also be set in the environment as
# SIGNET_<PATH> with "__" between levels, e.g. SIGNET_ACME__EAB_REQUIRED=true.
# Precedence: built-in defaults < this file < environment.

# database_url = "postgres://signet@db/signet"  # empty: SQLite at <data_dir>/signet.db
database_url = "{db}"
database_max_connections = {maxc}   # PostgreSQL pool size (SQLite: one writer, readers as needed)
sqlite_synchronous = "full"    # full: each COMMIT on disk before the response | normal: faster, a power loss forgets the last commits
listen = "{listen}"            # HTTPS: ACME + REST API
http_listen = "{http}"       # plain HTTP: CA certs, CRL, OCSP, SCEP
public_url = "{public}"                # base URL clients use; empty = https://<listen>
public_http_url = "{public_http}"           # base URL put in CRL/AIA extensions; empty = http://<http_listen>
master_key = ""                # base64 32 bytes; empty = <data_dir>/master.key
reconcile_after_secs = 30      # finish or fail what a crash left issuing/processing after this long

[log]
format = "text"                # text | json
level = "info"

[limits]
header_timeout_secs = 10       # headers within this long; idle keep-alive connections closed after it
max_connections = 0            # over both listeners; 0 = from the file-descriptor limit (raised to the hard limit)
body_bytes_in_flight = 67108864  # request bodies buffered at once; past it 503 + Retry-After

[ca]                           # used only when a CA is first created
key_type = "{kt}"            # ec-p256 | ec-p384 | rsa-2048 | rsa-3072 | rsa-4096
organization = "{org}"
root_name = "{root}"
issuing_name = "{iss}"
root_validity_days = {rv}
issuing_validity_days = {iv}

[tls]
cert_file = ""                 # operator-supplied chain; empty = issued by this CA
key_file = ""
dns_names = []                 # extra names on the self-issued server certificate

[acme]
eab_required = false
terms_of_service = ""
website = ""
caa_identities = []
authz_reuse_secs = 0           # reuse valid authorizations for this long (0 = never)
order_lifetime_secs = 604800
nonce_lifetime_secs = 3600
ari_window_start = 0.6667      # ARI window as fractions of the certificate lifetime
ari_window_end = 0.8

[acme.validation]
http01_port = 80
tls_alpn01_port = 443
dns_resolvers = []             # ["10.0.0.53:53"]; empty = system resolver
timeout_secs = 10
workers = 32
attempts = 3

[revocation]
crl_full_interval_secs = 21600 # a new full CRL every 6 h…
crl_validity_secs = 86400      # …valid for 24 h (nextUpdate)
delta_interval_secs = 900      # a delta CRL every 15 min
delta_validity_secs = 3600
ocsp_validity_secs = 3600      # OCSP nextUpdate and cache lifetime
check_interval_secs = 60
crl_shards = 1                 # >1: partition CRLs by serial (Issuing Distribution Point)
publish_on_revoke = "full"     # full (full CRL + delta) | delta | off: published after each revocation…
publish_on_revoke_delay_ms = 2000  # …this long after it, once for a burst

# SCEP profiles, served at http://<http_listen>/scep/<name>. See README "SCEP".
[scep.profiles.default]
template = "scep-device"       # the template names the signing CA
challenge = "static"           # static | one-time | webhook | none (admin approval)
challenge_secret = ""          # static: empty = the generated one (copied to <data_dir>/scep-challenge)
webhook_url = ""               # webhook: POSTed the request, must answer {{"allow": true}}
webhook_timeout_secs = 5
allow_legacy = true            # DES/3DES/SHA-1 (RFC 8894 legacy; most device fleets need it)
ra = "auto"                    # auto: RSA RA/decrypter for EC CAs | always
renewal = true                 # requests signed by a current certificate need no challenge
include_ca_in_reply = false

[acme.validation.hosts]        # name or "*.suffix" -> IP, consulted before DNS
# "*.example.test" = "127.0.0.1"

# Templates are upserted at every start. See README "Templates".
# [templates.web]
# channels = ["acme", "api"]
# dns = [".corp.example.com"]
# max_validity_days = 30
"#,
        db = cfg.database_url,
        public = cfg.public_url,
        public_http = cfg.public_http_url,
        maxc = cfg.database_max_connections,
        listen = cfg.listen,
        http = cfg.http_listen,
        kt = cfg.ca.key_type,
        org = cfg.ca.organization,
        root = cfg.ca.root_name,
        iss = cfg.ca.issuing_name,
        rv = cfg.ca.root_validity_days,
        iv = cfg.ca.issuing_validity_days,
    )
}
