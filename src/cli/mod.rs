//! The command line: one file per command group. `main.rs` calls `run`.

mod audit;
mod cert;
mod client;
mod eab;
mod init;
mod project;
mod scep;
mod serve;
mod template;
mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use signet::bootstrap::{self, InitOptions};
use signet::config::Config;
use signet::server;

#[derive(Parser)]
#[command(
    name = "signet",
    version,
    about = "Internal certificate authority with ACME, SCEP and a REST API"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
pub struct Common {
    /// Data directory (default ./signet-data).
    #[arg(long, env = "SIGNET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file (default <data-dir>/signet.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://path or postgres://…
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Set up the data dir, CAs, admin token and TLS certificate, then exit.
    Init(init::InitArgs),
    /// Run the server (initialising on first start).
    Serve(serve::ServeArgs),
    /// API tokens.
    Token {
        #[command(flatten)]
        remote: client::Remote,
        #[command(subcommand)]
        cmd: token::TokenCmd,
    },
    /// ACME External Account Binding credentials.
    Eab {
        #[command(flatten)]
        remote: client::Remote,
        #[command(subcommand)]
        cmd: eab::EabCmd,
    },
    /// SCEP one-time challenges.
    Scep {
        #[command(flatten)]
        remote: client::Remote,
        #[command(subcommand)]
        cmd: scep::ScepCmd,
    },
    /// The audit log.
    Audit {
        #[command(flatten)]
        remote: client::Remote,
        #[command(subcommand)]
        cmd: audit::AuditCmd,
    },
    /// Issue, renew, export, list, show, revoke, approve or reject certificates.
    Cert {
        #[command(flatten)]
        remote: client::Remote,
        #[command(subcommand)]
        cmd: cert::CertCmd,
    },
    /// Projects: tenancy for certificates, tokens and EAB credentials.
    Project {
        #[command(flatten)]
        remote: client::Remote,
        #[command(subcommand)]
        cmd: project::ProjectCmd,
    },
    /// Certificate templates (the policy).
    Template {
        #[command(flatten)]
        remote: client::Remote,
        #[command(subcommand)]
        cmd: template::TemplateCmd,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Init(a) => init::run(a).await,
        Cmd::Serve(a) => serve::run(a).await,
        Cmd::Token { remote, cmd } => token::run(&remote.connect()?, cmd).await,
        Cmd::Eab { remote, cmd } => eab::run(&remote.connect()?, cmd).await,
        Cmd::Scep { remote, cmd } => scep::run(&remote.connect()?, cmd).await,
        Cmd::Audit { remote, cmd } => audit::run(&remote.connect()?, cmd).await,
        Cmd::Cert { remote, cmd } => cert::run(&remote.connect()?, cmd).await,
        Cmd::Project { remote, cmd } => project::run(&remote.connect()?, cmd).await,
        Cmd::Template { remote, cmd } => template::run(&remote.connect()?, cmd).await,
    }
}

/// The base URLs written into certificates (CRLDP, AIA) and the ACME
/// directory. `init` records them in the signet.toml it writes.
#[derive(clap::Args, Clone)]
pub struct PublicUrls {
    /// HTTPS base URL as clients see it, e.g. https://ca.corp.example.com:8443
    #[arg(long)]
    public_url: Option<String>,
    /// Plain-HTTP base URL that relying parties reach for CRLs, OCSP and CA
    /// certificates, e.g. http://ca.corp.example.com
    #[arg(long)]
    public_http_url: Option<String>,
}

impl PublicUrls {
    pub fn apply(self, cfg: &mut Config) {
        if let Some(u) = self.public_url {
            cfg.public_url = u;
        }
        if let Some(u) = self.public_http_url {
            cfg.public_http_url = u;
        }
    }
}

pub fn load(common: &Common) -> anyhow::Result<Config> {
    let mut cfg = Config::load(common.data_dir.as_deref(), common.config.as_deref())?;
    if let Some(u) = &common.database_url {
        cfg.database_url = u.clone();
    }
    Ok(cfg)
}

pub fn init_logging(cfg: &Config) {
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

pub async fn offline_app(cfg: Config, opts: &InitOptions) -> anyhow::Result<signet::AppState> {
    let https = server::base_url("https", &cfg.public_url, cfg.listen);
    let http = server::base_url("http", &cfg.public_http_url, cfg.http_listen);
    bootstrap::start(cfg, opts, https, http).await
}
