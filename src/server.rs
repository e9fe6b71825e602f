//! Listeners: HTTPS (openssl) for ACME and the API, plain HTTP for what
//! relying parties and devices fetch. Both stop gracefully on a signal.

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use openssl::ssl::{AlpnError, Ssl, SslAcceptor, SslFiletype, SslMethod, select_next_proto};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_openssl::SslStream;
use tower::ServiceExt;

use crate::app::{AppState, build_routers};

pub fn tls_acceptor(cert_chain: &Path, key: &Path) -> anyhow::Result<SslAcceptor> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    b.set_certificate_chain_file(cert_chain)
        .with_context(|| format!("TLS certificate {}", cert_chain.display()))?;
    b.set_private_key_file(key, SslFiletype::PEM)
        .with_context(|| format!("TLS key {}", key.display()))?;
    b.check_private_key()
        .context("TLS key does not match the certificate")?;
    b.set_alpn_select_callback(|_, client| {
        select_next_proto(b"\x02h2\x08http/1.1", client).ok_or(AlpnError::NOACK)
    });
    Ok(b.build())
}

/// Serve until `shutdown` resolves, then drain connections (up to 10 s).
pub async fn run(
    app: AppState,
    https: TcpListener,
    http: TcpListener,
    acceptor: SslAcceptor,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (https_router, http_router) = build_routers(app);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut http_stop = stop_rx.clone();
    let plain = tokio::spawn(async move {
        axum::serve(
            http,
            http_router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = http_stop.changed().await;
        })
        .await
    });

    let acceptor = Arc::new(acceptor);
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut stop = stop_rx.clone();
    loop {
        let (tcp, peer) = tokio::select! {
            r = https.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = https_router.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let Ok(ssl) = Ssl::new(acceptor.context()) else {
                return;
            };
            let Ok(mut stream) = SslStream::new(ssl, tcp) else {
                return;
            };
            match tokio::time::timeout(Duration::from_secs(10), Pin::new(&mut stream).accept())
                .await
            {
                Ok(Ok(())) => {}
                _ => return, // failed or slow handshake: drop the connection
            }
            let svc = router.map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(svc),
            );
            let _ = watcher.watch(conn.into_owned()).await;
        });
    }
    drop(https);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s; closing");
    }
    plain.await??;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}

/// A base URL for a bound address; an unspecified address is shown as loopback.
pub fn base_url(scheme: &str, configured: &str, bound: SocketAddr) -> String {
    if !configured.is_empty() {
        return configured.trim_end_matches('/').to_string();
    }
    let ip = if bound.ip().is_unspecified() {
        "127.0.0.1".parse().expect("literal")
    } else {
        bound.ip()
    };
    format!("{scheme}://{}", SocketAddr::new(ip, bound.port()))
}

/// What is wrong with the base URL that certificates carry in their CRLDP
/// and AIA extensions: relying parties elsewhere cannot reach loopback, and
/// a port picked by the OS changes at the next start while the certificates
/// keep naming the old one.
pub fn certificate_url_warnings(
    configured: &str,
    http_url: &str,
    requested_port: u16,
) -> Vec<String> {
    let mut out = Vec::new();
    let host = http_url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or_default())
        .unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        out.push(format!(
            "certificates issued now name {http_url} for their CRL, OCSP and CA certificate: a loopback \
             address that other machines cannot reach; set public_http_url (or init --public-http-url)"
        ));
    }
    if configured.is_empty() && requested_port == 0 {
        out.push(format!(
            "certificates issued now name {http_url}, a port chosen by the OS for this run only; \
             after a restart their CRL and OCSP URLs break; set public_http_url or a fixed http_listen port"
        ));
    }
    out
}
