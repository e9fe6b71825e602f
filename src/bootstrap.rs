//! First start and every start: data dir, master key, store, seed data,
//! CAs, admin token, server TLS certificate. Every step is idempotent, so a
//! second start reuses everything and replicas sharing PostgreSQL converge.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::rand::rand_bytes;
use openssl::x509::X509;
use serde_json::json;
use signet_ca::authority::{self, CaSpec};
use signet_ca::key::{self, KeyType};
use signet_ca::names::San;

use crate::app::{App, AppState};
use crate::ca_registry::CaRegistry;
use crate::config::{self, Config};
use crate::core_state::Core;
use crate::issuance::{self, IssuanceRequest, Outcome, RequestKey};
use crate::metrics::Metrics;
use crate::policy::{Channel, TemplateSpec};
use crate::store::{self, Store, audit, cas, projects, settings, templates};

/// The template the server's own TLS certificate is issued from; kept
/// separate so tightening `default` never breaks start-up.
pub const SERVER_TEMPLATE: &str = "signet-server";

/// Options only `signet init` sets.
#[derive(Default)]
pub struct InitOptions {
    pub import_cert: Option<PathBuf>,
    pub import_key: Option<PathBuf>,
    pub import_chain: Option<PathBuf>,
}

pub struct Paths {
    pub root_pem: PathBuf,
    pub chain_pem: PathBuf,
    pub admin_token: PathBuf,
    /// The HTTPS URL the running server answers on, for the CLI's default.
    pub server_url: PathBuf,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub scep_challenge: PathBuf,
}

impl Paths {
    pub fn new(cfg: &Config) -> Paths {
        let d = &cfg.data_dir;
        Paths {
            root_pem: d.join("root.pem"),
            chain_pem: d.join("ca-chain.pem"),
            admin_token: d.join("admin.token"),
            server_url: d.join("server.url"),
            tls_cert: if cfg.tls.cert_file.is_empty() {
                d.join("tls/server.pem")
            } else {
                PathBuf::from(&cfg.tls.cert_file)
            },
            tls_key: if cfg.tls.key_file.is_empty() {
                d.join("tls/server.key")
            } else {
                PathBuf::from(&cfg.tls.key_file)
            },
            scep_challenge: d.join("scep-challenge"),
        }
    }
}

/// Write a file only its owner can read (mode 0600).
pub fn write_secret(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(contents)?;
    Ok(())
}

fn master_key(cfg: &Config) -> anyhow::Result<[u8; 32]> {
    let text = if !cfg.master_key.is_empty() {
        cfg.master_key.clone()
    } else {
        let path = cfg.data_dir.join("master.key");
        if !path.exists() {
            let mut k = [0u8; 32];
            rand_bytes(&mut k)?;
            write_secret(&path, STANDARD.encode(k).as_bytes())?;
        }
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?
    };
    let raw = STANDARD
        .decode(text.trim())
        .context("master_key: not base64")?;
    raw.try_into()
        .map_err(|_| anyhow::anyhow!("master_key: must be 32 bytes"))
}

/// Open the store and make the data dir ready; returns the running app.
pub async fn start(
    cfg: Config,
    opts: &InitOptions,
    https_url: String,
    http_url: String,
) -> anyhow::Result<AppState> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(cfg.data_dir.join("tls"))
        .with_context(|| format!("cannot create data dir {}", cfg.data_dir.display()))?;
    let toml_path = cfg.data_dir.join("signet.toml");
    if !toml_path.exists() {
        fs::write(&toml_path, config::default_file(&cfg))?;
    }
    let master_key = master_key(&cfg)?;
    let url = cfg.database_url();
    let store = Store::open(
        &url,
        cfg.database_max_connections,
        cfg.sqlite_synchronous == config::SqliteSynchronous::Full,
    )
    .await
    .with_context(|| format!("cannot open database {}", redact(&url)))?;
    seed(&cfg, &store).await?;
    let body_budget = Arc::new(tokio::sync::Semaphore::new(
        cfg.limits.body_bytes_in_flight.div_ceil(1024),
    ));
    let core = Arc::new(Core {
        config: cfg,
        store,
        master_key,
        cas: CaRegistry::default(),
        metrics: Metrics::default(),
        revoke_trigger: Default::default(),
        account_rows_epoch: Default::default(),
        webhook_client: Default::default(),
        https_url,
        http_url,
    });
    // The shell composes the fronts, each with its own state.
    let app = Arc::new(App {
        acme: crate::acme::Acme::new(core.clone())?,
        api: crate::api::Api::new(core.clone()),
        scep: crate::scep::Scep::new(core.clone()),
        core,
        body_budget,
    });
    ensure_cas(&app, opts).await?;
    write_public_files(&app).await?;
    ensure_admin_token(&app).await?;
    let paths = Paths::new(&app.config);
    // Old devices encrypt with single DES, which OpenSSL 3 keeps in its
    // legacy provider.
    if !signet_ca::scep::enable_legacy_ciphers() {
        tracing::warn!(
            "OpenSSL legacy provider unavailable: SCEP requests using single DES will fail"
        );
    }
    // The static SCEP challenge is shared through the store; the file is the
    // operator's copy, rewritten at every start.
    let adopt = fs::read_to_string(&paths.scep_challenge).ok();
    let secret = crate::scep::challenge::ensure_static_secret(&app, adopt).await?;
    write_secret(&paths.scep_challenge, secret.as_bytes())?;
    let _ = app.scep.responders.static_secret.set(secret);
    // Nothing is in flight in this process yet: finish every reserved row.
    issuance::reconcile(&app, store::now()).await?;
    // A CRL must never lapse: publish whatever fell due while we were down.
    crate::revocation::crl::publish_all_due(&app).await;
    Ok(app)
}

/// Hide a password in a database URL before printing it.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

/// Create a template unless it exists (an administrator may have edited it).
async fn seed_once(store: &Store, name: &str, spec: &TemplateSpec) -> anyhow::Result<String> {
    match templates::find(&store.read, name).await {
        Ok(t) => Ok(t.id),
        Err(store::StoreError::NotFound) => {
            Ok(templates::upsert(&store.write, name, &serde_json::to_string(spec)?).await?)
        }
        Err(e) => Err(e.into()),
    }
}

async fn seed(cfg: &Config, store: &Store) -> anyhow::Result<()> {
    let default_id = seed_once(store, "default", &TemplateSpec::allow_any_host()).await?;
    seed_once(
        store,
        crate::scep::DEVICE_TEMPLATE,
        &crate::scep::device_template(),
    )
    .await?;
    let server = TemplateSpec {
        channels: vec![Channel::Api],
        description: "Signet's own TLS certificate".into(),
        ..TemplateSpec::allow_any_host()
    };
    templates::upsert(
        &store.write,
        SERVER_TEMPLATE,
        &serde_json::to_string(&server)?,
    )
    .await?;
    for (name, spec) in &cfg.templates {
        templates::upsert(&store.write, name, &serde_json::to_string(spec)?).await?;
    }
    projects::ensure(&store.write, "default", Some(&default_id)).await?;
    Ok(())
}

/// A CA row; `key_sealed` is empty for a certificate-only (external) parent.
fn ca_row(
    id: &str,
    name: &str,
    parent: Option<&str>,
    cert: &X509,
    key_sealed: Vec<u8>,
    kt: &str,
) -> anyhow::Result<cas::CaRow> {
    let unix = signet_ca::unix_time;
    Ok(cas::CaRow {
        id: id.to_string(),
        name: name.to_string(),
        parent_id: parent.map(str::to_string),
        subject: signet_ca::names::dn_text(cert.subject_name()),
        key_type: kt.to_string(),
        cert_der: cert.to_der()?,
        key_sealed,
        not_before: unix(cert.not_before())?,
        not_after: unix(cert.not_after())?,
        crl_number: 0,
        status: "active".into(),
        created_at: store::now(),
    })
}

fn ca_spec<'a>(
    cfg: &'a config::CaConfig,
    name: &'a str,
    days: u32,
    path_len: Option<u32>,
    now: i64,
) -> CaSpec<'a> {
    CaSpec {
        common_name: name,
        organization: Some(&cfg.organization),
        key_type: cfg.key_type,
        not_before: now - 3600,
        not_after: now + i64::from(days) * 86400,
        path_len,
        crl_urls: vec![],
        ocsp_urls: vec![],
        ca_issuers_urls: vec![],
    }
}

/// Store an existing CA (checked: key matches, is a CA, chain in order) and
/// the chain above it as certificate-only parents. Returns the CA's id.
pub async fn import_ca(
    conn: &mut crate::store::TxConn,
    master: &[u8; 32],
    name: &str,
    cert: &X509,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
    chain: &[X509],
) -> anyhow::Result<String> {
    authority::check_import(cert, key, chain)?;
    let kt = key::describe(key)?.label();
    let mut parent: Option<String> = None;
    for c in chain.iter().rev() {
        let der = c.to_der()?;
        let known: Option<String> = sqlx::query_scalar("SELECT id FROM cas WHERE cert_der = $1")
            .bind(der)
            .fetch_optional(&mut *conn)
            .await?;
        let id = match known {
            Some(id) => id,
            None => {
                let id = store::new_id();
                let mut row = ca_row(
                    &id,
                    &format!("imported-{}", &id[..8]),
                    parent.as_deref(),
                    c,
                    Vec::new(),
                    "external",
                )?;
                row.status = "external".into(); // no key here: Signet cannot sign with it
                cas::insert(&mut *conn, &row).await?;
                id
            }
        };
        parent = Some(id);
    }
    let id = store::new_id();
    let sealed = key::seal_key(master, id.as_bytes(), key)?;
    cas::insert(
        &mut *conn,
        &ca_row(&id, name, parent.as_deref(), cert, sealed, &kt)?,
    )
    .await?;
    Ok(id)
}

async fn ensure_cas(app: &Core, opts: &InitOptions) -> anyhow::Result<()> {
    if settings::get(&app.store.read, settings::DEFAULT_CA)
        .await?
        .is_some()
    {
        if opts.import_cert.is_some() {
            bail!("this data dir already has a CA; import into a fresh one");
        }
        return Ok(());
    }
    let cfg = &app.config.ca;
    let now = store::now();
    let mut tx = app.store.write.begin().await?;
    let issuing_id =
        if let (Some(cert_path), Some(key_path)) = (&opts.import_cert, &opts.import_key) {
            let cert = X509::from_pem(&fs::read(cert_path)?)
                .with_context(|| format!("{}: not a PEM certificate", cert_path.display()))?;
            let key = key::private_from_pem(&fs::read(key_path)?, None)?;
            let chain = match &opts.import_chain {
                Some(p) => authority::certs_from_pem(&fs::read(p)?)?,
                None => Vec::new(),
            };
            import_ca(
                &mut tx,
                &app.master_key,
                &cfg.issuing_name,
                &cert,
                &key,
                &chain,
            )
            .await?
        } else {
            let root = authority::create_root(&ca_spec(
                cfg,
                &cfg.root_name,
                cfg.root_validity_days,
                None,
                now,
            ))?;
            let root_id = store::new_id();
            let mut ispec = ca_spec(
                cfg,
                &cfg.issuing_name,
                cfg.issuing_validity_days.min(cfg.root_validity_days),
                Some(0),
                now,
            );
            ispec.crl_urls = vec![app.crl_url(&root_id)];
            ispec.ca_issuers_urls = vec![app.ca_cert_url(&root_id)];
            let issuing = authority::create_subordinate(&root, &ispec)?;
            let kt = cfg.key_type.as_str();
            let sealed = key::seal_key(&app.master_key, root_id.as_bytes(), &root.key)?;
            cas::insert(
                &mut *tx,
                &ca_row(&root_id, &cfg.root_name, None, &root.cert, sealed, kt)?,
            )
            .await?;
            let id = store::new_id();
            let sealed = key::seal_key(&app.master_key, id.as_bytes(), &issuing.key)?;
            cas::insert(
                &mut *tx,
                &ca_row(
                    &id,
                    &cfg.issuing_name,
                    Some(&root_id),
                    &issuing.cert,
                    sealed,
                    kt,
                )?,
            )
            .await?;
            id
        };
    settings::set(&mut *tx, settings::DEFAULT_CA, &issuing_id).await?;
    audit::record(
        &mut tx,
        audit::Event {
            actor: "system",
            action: "ca.initialized",
            target: Some(&issuing_id),
            severity: "high",
            request_id: None,
            details: json!({"imported": opts.import_cert.is_some()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// root.pem and ca-chain.pem always reflect the store.
async fn write_public_files(app: &Core) -> anyhow::Result<()> {
    let id = app.cas.default_id(&app.store).await?;
    let issuer = app.cas.get(&app.store, &app.master_key, &id).await?;
    let paths = Paths::new(&app.config);
    fs::write(&paths.root_pem, issuer.root().to_pem()?)?;
    let mut chain = issuer.cert.to_pem()?;
    for c in &issuer.chain {
        chain.extend(c.to_pem()?);
    }
    fs::write(&paths.chain_pem, chain)?;
    Ok(())
}

async fn ensure_admin_token(app: &Core) -> anyhow::Result<()> {
    let path = Paths::new(&app.config).admin_token;
    if path.exists() {
        return Ok(());
    }
    let (_, secret) =
        crate::tokens::create(&app.store, "bootstrap admin", "admin", None, None).await?;
    write_secret(&path, format!("{secret}\n").as_bytes())
}

/// Make sure the HTTPS listener has a certificate: the operator's, or one
/// issued by this CA (renewed when it is within 30 days of expiry or no
/// longer chains to the current issuing CA).
pub async fn ensure_tls_cert(app: &Core) -> anyhow::Result<(PathBuf, PathBuf)> {
    let paths = Paths::new(&app.config);
    if !app.config.tls.cert_file.is_empty() {
        return Ok((paths.tls_cert, paths.tls_key));
    }
    let issuer = app
        .cas
        .get(
            &app.store,
            &app.master_key,
            &app.cas.default_id(&app.store).await?,
        )
        .await?;
    let fresh = fs::read(&paths.tls_cert)
        .ok()
        .and_then(|pem| X509::from_pem(&pem).ok())
        .filter(|c| {
            let ca_key = issuer.cert.public_key().ok();
            paths.tls_key.exists() && ca_key.is_some_and(|k| signet_ca::signed_by(c, &k))
        })
        .filter(|c| {
            let soon = openssl::asn1::Asn1Time::days_from_now(30).ok();
            soon.is_some_and(|s| c.not_after() > s)
        });
    if fresh.is_some() {
        return Ok((paths.tls_cert, paths.tls_key));
    }
    let mut sans = vec![
        San::Dns("localhost".into()),
        San::Ip("127.0.0.1".parse()?),
        San::Ip("::1".parse()?),
    ];
    for n in &app.config.tls.dns_names {
        sans.push(San::Dns(
            signet_ca::names::normalize_dns(n).map_err(anyhow::Error::msg)?,
        ));
    }
    let host = app
        .https_url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']))
        .unwrap_or("");
    let extra = match host.parse() {
        Ok(ip) => San::Ip(ip),
        Err(_) => San::Dns(host.to_string()),
    };
    if !host.is_empty() && !sans.contains(&extra) && host != "0.0.0.0" && host != "::" {
        sans.push(extra);
    }
    let req = IssuanceRequest {
        channel: Channel::Api,
        requested_by: "system".into(),
        template: Some(SERVER_TEMPLATE.into()),
        project: None,
        subject: vec![("CN".into(), "localhost".into())],
        sans,
        key: RequestKey::Generate(KeyType::EcP256),
        validity_days: None,
        replaces_id: None,
        min_approvals: 0,
        link: None,
    };
    let row = match issuance::submit(app, req).await? {
        Outcome::Issued(row) => row,
        Outcome::Pending(_) => bail!("template {SERVER_TEMPLATE} must not require approval"),
    };
    let key = key::open_key(
        &app.master_key,
        row.id.as_bytes(),
        row.key_sealed.as_deref().unwrap_or_default(),
    )?;
    let mut chain = X509::from_der(row.der.as_deref().unwrap_or_default())?.to_pem()?;
    chain.extend_from_slice(issuer.chain_pem_excluding_root());
    fs::write(&paths.tls_cert, chain)?;
    write_secret(&paths.tls_key, &key.private_key_to_pem_pkcs8()?)?;
    Ok((paths.tls_cert, paths.tls_key))
}
