use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use signet::bootstrap::{self, InitOptions, Paths};
use signet::config::Config;
use signet::issuance::{self, Outcome};
use signet::server;
use signet::store::projects;

#[derive(Parser)]
#[command(
    name = "signet",
    version,
    about = "Internal certificate authority with ACME, SCEP and a REST API"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Data directory (default ./signet-data).
    #[arg(long, env = "SIGNET_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Configuration file (default <data-dir>/signet.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Database URL: sqlite://path or postgres://…
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Set up the data dir, CAs, admin token and TLS certificate, then exit.
    Init {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        ca_key_type: Option<signet_ca::key::KeyType>,
        /// Name of the issuing CA.
        #[arg(long)]
        ca_name: Option<String>,
        #[arg(long)]
        root_name: Option<String>,
        #[arg(long)]
        organization: Option<String>,
        #[arg(long)]
        root_validity_days: Option<u32>,
        #[arg(long)]
        issuing_validity_days: Option<u32>,
        /// Extra DNS names for the server's TLS certificate.
        #[arg(long = "dns")]
        dns: Vec<String>,
        #[command(flatten)]
        urls: PublicUrls,
        /// Import an existing issuing CA instead of creating one (PEM).
        #[arg(long, requires = "import_key")]
        import_cert: Option<PathBuf>,
        #[arg(long, requires = "import_cert")]
        import_key: Option<PathBuf>,
        /// The chain above the imported CA, parent first (PEM bundle).
        #[arg(long, requires = "import_cert")]
        import_chain: Option<PathBuf>,
    },
    /// Run the server (initialising on first start).
    Serve {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[arg(long)]
        http_listen: Option<SocketAddr>,
        #[command(flatten)]
        urls: PublicUrls,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// ACME External Account Binding credentials.
    Eab {
        #[command(subcommand)]
        cmd: EabCmd,
    },
    /// SCEP one-time challenges.
    Scep {
        #[command(subcommand)]
        cmd: ScepCmd,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// List, show, revoke, approve or reject certificates.
    Cert {
        #[command(subcommand)]
        cmd: CertCmd,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token; the secret is printed once.
    Create {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        role: String,
        #[arg(long)]
        project: Option<String>,
        #[arg(long, default_value = "cli")]
        name: String,
        #[arg(long)]
        expires_days: Option<u32>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum EabCmd {
    /// Create a credential bound to a project and template; the HMAC key is printed once.
    Create {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "default")]
        project: String,
        #[arg(long, default_value = "default")]
        template: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ScepCmd {
    /// Mint a one-time challenge for a profile with challenge = "one-time"; printed once.
    Challenge {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "default")]
        profile: String,
        #[arg(long, default_value_t = 3600)]
        ttl_secs: i64,
        /// The CSR must carry exactly this CN.
        #[arg(long)]
        cn: Option<String>,
        /// The CSR may only request these SANs (repeatable).
        #[arg(long = "san")]
        sans: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Recompute the audit log's hash chain.
    Verify {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum CertCmd {
    /// Newest first.
    List {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    Show {
        #[command(flatten)]
        common: Common,
        id: String,
    },
    /// Revoke with an RFC 5280 reason name or code.
    Revoke {
        #[command(flatten)]
        common: Common,
        id: String,
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// Approve a pending request as the operating-system user running this
    /// command (N-of-M counts distinct identities).
    Approve {
        #[command(flatten)]
        common: Common,
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    Reject {
        #[command(flatten)]
        common: Common,
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
}

/// The base URLs written into certificates (CRLDP, AIA) and the ACME
/// directory. `init` records them in the signet.toml it writes.
#[derive(clap::Args, Clone)]
struct PublicUrls {
    /// HTTPS base URL as clients see it, e.g. https://ca.corp.example.com:8443
    #[arg(long)]
    public_url: Option<String>,
    /// Plain-HTTP base URL that relying parties reach for CRLs, OCSP and CA
    /// certificates, e.g. http://ca.corp.example.com
    #[arg(long)]
    public_http_url: Option<String>,
}

impl PublicUrls {
    fn apply(self, cfg: &mut Config) {
        if let Some(u) = self.public_url {
            cfg.public_url = u;
        }
        if let Some(u) = self.public_http_url {
            cfg.public_http_url = u;
        }
    }
}

fn load(common: &Common) -> anyhow::Result<Config> {
    let mut cfg = Config::load(common.data_dir.as_deref(), common.config.as_deref())?;
    if let Some(u) = &common.database_url {
        cfg.database_url = u.clone();
    }
    Ok(cfg)
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    // Colours only on a terminal: journald and log files get plain text.
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if cfg.log.format == "json" {
        b.json().init()
    } else {
        b.init()
    }
}

async fn offline_app(cfg: Config, opts: &InitOptions) -> anyhow::Result<signet::AppState> {
    let https = server::base_url("https", &cfg.public_url, cfg.listen);
    let http = server::base_url("http", &cfg.public_http_url, cfg.http_listen);
    bootstrap::start(cfg, opts, https, http).await
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Init {
            common,
            ca_key_type,
            ca_name,
            root_name,
            organization,
            root_validity_days,
            issuing_validity_days,
            dns,
            urls,
            import_cert,
            import_key,
            import_chain,
        } => {
            let mut cfg = load(&common)?;
            init_logging(&cfg);
            urls.apply(&mut cfg);
            if let Some(k) = ca_key_type {
                cfg.ca.key_type = k;
            }
            if let Some(n) = ca_name {
                cfg.ca.issuing_name = n;
            }
            if let Some(n) = root_name {
                cfg.ca.root_name = n;
            }
            if let Some(o) = organization {
                cfg.ca.organization = o;
            }
            if let Some(d) = root_validity_days {
                cfg.ca.root_validity_days = d;
            }
            if let Some(d) = issuing_validity_days {
                cfg.ca.issuing_validity_days = d;
            }
            cfg.tls.dns_names.extend(dns);
            let opts = InitOptions {
                import_cert,
                import_key,
                import_chain,
            };
            let app = offline_app(cfg, &opts).await?;
            bootstrap::ensure_tls_cert(&app).await?;
            let p = Paths::new(&app.config);
            println!("data dir: {}", app.config.data_dir.display());
            println!("root certificate: {}", p.root_pem.display());
            println!("admin token: {}", p.admin_token.display());
            app.store.close().await;
        }
        Cmd::Serve {
            common,
            listen,
            http_listen,
            urls,
        } => {
            let mut cfg = load(&common)?;
            init_logging(&cfg);
            urls.apply(&mut cfg);
            bound_heap_retention();
            let fds = server::raise_fd_limit();
            tracing::debug!(file_descriptors = fds, "file-descriptor limit");
            if !cfg.ignored_env.is_empty() {
                tracing::warn!(
                    variables = %cfg.ignored_env.join(", "),
                    "ignoring SIGNET_* environment variables that are not settings"
                );
            }
            let requested_http_port = http_listen.unwrap_or(cfg.http_listen).port();
            if let Some(l) = listen {
                cfg.listen = l;
            }
            if let Some(l) = http_listen {
                cfg.http_listen = l;
            }
            let https_l = tokio::net::TcpListener::bind(cfg.listen)
                .await
                .with_context(|| format!("cannot listen on {}", cfg.listen))?;
            let http_l = tokio::net::TcpListener::bind(cfg.http_listen)
                .await
                .with_context(|| format!("cannot listen on {}", cfg.http_listen))?;
            let https_url = server::base_url("https", &cfg.public_url, https_l.local_addr()?);
            let http_url = server::base_url("http", &cfg.public_http_url, http_l.local_addr()?);
            let app = bootstrap::start(
                cfg,
                &InitOptions::default(),
                https_url.clone(),
                http_url.clone(),
            )
            .await?;
            let (cert, key) = bootstrap::ensure_tls_cert(&app).await?;
            let acceptor = server::tls_acceptor(&cert, &key)?;
            for w in server::certificate_url_warnings(
                &app.config.public_http_url,
                &http_url,
                requested_http_port,
            ) {
                tracing::warn!("{w}");
            }
            signet::acme::spawn_nonce_purger(app.clone());
            signet::revocation::crl::spawn_scheduler(app.clone());
            signet::revocation::crl::spawn_revoke_publisher(app.clone());
            signet::issuance::spawn_reconciler(app.clone());
            signet::acme::spawn_order_reconciler(app.clone());
            let p = Paths::new(&app.config);
            println!("https: {https_url}");
            println!("http: {http_url}");
            println!("acme directory: {https_url}/acme/directory");
            if app.config.scep.profiles.contains_key("default") {
                println!(
                    "scep: {http_url}/scep/default (challenge: {})",
                    p.scep_challenge.display()
                );
            }
            println!("root certificate: {}", p.root_pem.display());
            println!("admin token: {}", p.admin_token.display());
            server::run(
                app.clone(),
                https_l,
                http_l,
                acceptor,
                server::shutdown_signal(),
            )
            .await?;
            app.store.close().await;
        }
        Cmd::Token {
            cmd:
                TokenCmd::Create {
                    common,
                    role,
                    project,
                    name,
                    expires_days,
                    json,
                },
        } => {
            if !signet::tokens::ROLES.contains(&role.as_str()) {
                anyhow::bail!(
                    "unknown role {role:?} (expected one of {})",
                    signet::tokens::ROLES.join(", ")
                );
            }
            let cfg = load(&common)?;
            let app = offline_app(cfg, &InitOptions::default()).await?;
            let project_id = match &project {
                Some(p) => Some(
                    projects::find(&app.store.read, p)
                        .await
                        .with_context(|| format!("unknown project {p:?}"))?
                        .id,
                ),
                None => None,
            };
            let expires = expires_days.map(|d| signet::store::now() + i64::from(d) * 86400);
            let (id, secret) =
                signet::tokens::create(&app.store, &name, &role, project_id.as_deref(), expires)
                    .await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"id": id, "token": secret, "role": role, "project": project, "expires_at": expires})
                );
            } else {
                println!("token id: {id}\nrole: {role}\ntoken (shown once): {secret}");
            }
            app.store.close().await;
        }
        Cmd::Scep {
            cmd:
                ScepCmd::Challenge {
                    common,
                    profile,
                    ttl_secs,
                    cn,
                    sans,
                    json,
                },
        } => {
            let app = offline_app(load(&common)?, &InitOptions::default()).await?;
            let m = signet::scep::challenge::mint(
                &app,
                &profile,
                ttl_secs,
                cn.as_deref(),
                &sans,
                "cli",
            )
            .await?
            .map_err(anyhow::Error::msg)?;
            let mut tx = app.store.write.begin().await?;
            signet::store::audit::record(
                &mut tx,
                signet::store::audit::Event {
                    actor: "cli",
                    action: "scep.challenge_created",
                    target: Some(&m.id),
                    severity: "info",
                    request_id: None,
                    details: serde_json::json!({"profile": profile, "expires_at": m.expires_at, "subject_cn": cn, "sans": sans}),
                },
            )
            .await?;
            tx.commit().await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"id": m.id, "challenge": m.secret, "profile": profile, "expires_at": m.expires_at})
                );
            } else {
                println!(
                    "challenge (shown once): {}\nexpires at: {}",
                    m.secret, m.expires_at
                );
            }
            app.store.close().await;
        }
        Cmd::Eab {
            cmd:
                EabCmd::Create {
                    common,
                    project,
                    template,
                    json,
                },
        } => {
            let app = offline_app(load(&common)?, &InitOptions::default()).await?;
            let e = signet::eab::create(&app, &project, &template)
                .await
                .with_context(|| {
                    format!("cannot create EAB for project {project:?} and template {template:?}")
                })?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"kid": e.kid, "hmac_key": e.hmac_key, "project": project, "template": template})
                );
            } else {
                println!(
                    "kid: {}\nhmac key (base64url, shown once): {}",
                    e.kid, e.hmac_key
                );
            }
            app.store.close().await;
        }
        Cmd::Audit {
            cmd: AuditCmd::Verify { common },
        } => {
            let app = offline_app(load(&common)?, &InitOptions::default()).await?;
            let n = signet::store::audit::verify_chain(&app.store.read)
                .await
                .context("the audit chain does not verify")?;
            println!("audit chain intact: {n} events");
            app.store.close().await;
        }
        Cmd::Cert {
            cmd:
                CertCmd::List {
                    common,
                    status,
                    limit,
                },
        } => {
            let app = offline_app(load(&common)?, &InitOptions::default()).await?;
            // (id, status, serial, common name, not after)
            type Listed = (String, String, Option<String>, Option<String>, Option<i64>);
            let rows: Vec<Listed> = sqlx::query_as(
                "SELECT id, status, serial, common_name, not_after FROM certificates WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(status)
            .bind(limit)
            .fetch_all(&app.store.read)
            .await?;
            println!(
                "{:<32}  {:<16}  {:<32}  {:<10}  common name",
                "id", "status", "serial", "not after"
            );
            for (id, st, serial, cn, na) in rows {
                let na = na
                    .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                    .map(|d| d.date().to_string())
                    .unwrap_or_default();
                println!(
                    "{id:<32}  {st:<16}  {:<32}  {na:<10}  {}",
                    serial.unwrap_or_default(),
                    cn.unwrap_or_default()
                );
            }
            app.store.close().await;
        }
        Cmd::Cert {
            cmd: CertCmd::Show { common, id },
        } => {
            let app = offline_app(load(&common)?, &InitOptions::default()).await?;
            let row = signet::store::certificates::get(&app.store.read, &id)
                .await
                .with_context(|| format!("no certificate {id}"))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&signet::api::certificate_view(&row))?
            );
            if let Some(der) = &row.der {
                print!(
                    "{}",
                    String::from_utf8_lossy(&openssl::x509::X509::from_der(der)?.to_pem()?)
                );
            }
            app.store.close().await;
        }
        Cmd::Cert {
            cmd: CertCmd::Revoke { common, id, reason },
        } => {
            let app = offline_app(load(&common)?, &InitOptions::default()).await?;
            let code = reason.parse::<i64>().ok().or_else(|| {
                signet::revocation::REASONS
                    .iter()
                    .find(|(_, n)| n.eq_ignore_ascii_case(&reason))
                    .map(|(c, _)| *c)
            });
            let code = code.with_context(|| format!("unknown reason {reason:?}"))?;
            let row = signet::store::certificates::get(&app.store.read, &id)
                .await
                .with_context(|| format!("no certificate {id}"))?;
            signet::revocation::revoke(&app, &row, code, &os_identity()).await?;
            println!("revoked: {id} (reason {code})");
            // No publisher runs in this process: publish before exiting.
            let mode = app.config.revocation.publish_on_revoke;
            if mode != signet::config::PublishOnRevoke::Off {
                signet::revocation::crl::publish_after_revocation(
                    &app,
                    &row.ca_id,
                    signet::store::now(),
                    mode,
                )
                .await?;
            }
            app.store.close().await;
        }
        Cmd::Cert { cmd } => {
            let (common, id, comment, approve) = match cmd {
                CertCmd::Approve {
                    common,
                    id,
                    comment,
                } => (common, id, comment, true),
                CertCmd::Reject {
                    common,
                    id,
                    comment,
                } => (common, id, comment, false),
                _ => unreachable!("handled above"),
            };
            let approver = os_identity();
            let app = offline_app(load(&common)?, &InitOptions::default()).await?;
            if approve {
                match issuance::approve(&app, &id, &approver, comment.as_deref()).await? {
                    Outcome::Issued(r) => {
                        println!("issued: {} serial {}", r.id, r.serial.unwrap_or_default())
                    }
                    Outcome::Pending(r) => println!("approval recorded; {} still pending", r.id),
                }
            } else {
                issuance::reject(&app, &id, &approver, comment.as_deref()).await?;
                println!("rejected: {id}");
            }
            app.store.close().await;
        }
    }
    Ok(())
}

/// Give freed memory back to the OS. glibc raises its mmap threshold to the
/// size of each large block freed (up to 32 MiB), after which such buffers
/// come from arenas, and it returns arena pages only from a heap's top: 150
/// concurrent 10 MB uploads left 120-170 MB resident for good. So large
/// buffers stay mapped on their own, and a thread trims the arenas every
/// 2 s (after that burst: 32 MB resident against 30 MB idle).
fn bound_heap_retention() {
    // SAFETY: mallopt and malloc_trim only tune and compact the C
    // allocator, which is thread-safe; they touch no Rust object.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
    let _ = std::thread::Builder::new()
        .name("heap-trim".into())
        .spawn(|| {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(2));
                // SAFETY: as above.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        });
}

/// Who runs a local command: the operating-system account of the process's
/// real uid (not $USER, which anyone can set).
fn os_identity() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => format!("os-user:{}", u.name),
        _ => format!("os-user:uid-{uid}"),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
