//! `signet init`.

use std::path::PathBuf;

use signet::bootstrap::{self, InitOptions, Paths};

use super::{Common, PublicUrls, init_logging, load, offline_app};

/// `signet init`: set up the data dir, CAs, admin token and TLS certificate.
#[derive(clap::Args)]
pub struct InitArgs {
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
}

pub async fn run(a: InitArgs) -> anyhow::Result<()> {
    let InitArgs {
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
    } = a;
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
    Ok(())
}
