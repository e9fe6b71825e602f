//! `signet serve`: the server, its background jobs and its limits.

use std::net::SocketAddr;

use anyhow::Context;
use signet::bootstrap::{self, InitOptions, Paths};
use signet::server;

use super::{Common, PublicUrls, init_logging, load};

/// `signet serve`: run the server, initialising on first start.
#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long)]
    listen: Option<SocketAddr>,
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    #[command(flatten)]
    urls: PublicUrls,
}

pub async fn run(a: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        common,
        listen,
        http_listen,
        urls,
    } = a;
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
    let tls = server::ServerTls::new(server::tls_acceptor(&cert, &key)?);
    for w in server::certificate_url_warnings(
        &app.config.public_http_url,
        &http_url,
        requested_http_port,
    ) {
        tracing::warn!("{w}");
    }
    signet::jobs::start(&app.core);
    server::spawn_tls_renewal(app.core.clone(), tls.clone());
    signet::acme::spawn_jobs(&app.acme);
    let p = Paths::new(&app.config);
    println!("https: {https_url}");
    println!("http: {http_url}");
    println!("acme directory: {https_url}/acme/directory");
    println!("dashboard: {https_url}/ui/");
    if app.config.scep.profiles.contains_key("default") {
        println!(
            "scep: {http_url}/scep/default (challenge: {})",
            p.scep_challenge.display()
        );
    }
    println!("root certificate: {}", p.root_pem.display());
    println!("admin token: {}", p.admin_token.display());
    // The admin commands (`signet cert list`, …) find the server here.
    if let Err(e) = std::fs::write(&p.server_url, format!("{https_url}\n")) {
        tracing::warn!("cannot write {}: {e}", p.server_url.display());
    }
    server::run(app.clone(), https_l, http_l, tls, server::shutdown_signal()).await?;
    app.store.close().await;
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
