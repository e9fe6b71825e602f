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
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use openssl::ssl::{AlpnError, Ssl, SslAcceptor, SslFiletype, SslMethod, select_next_proto};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
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

/// The HTTPS listener's certificate, replaced when it is renewed: each new
/// connection takes the current one.
pub struct ServerTls(std::sync::RwLock<Arc<SslAcceptor>>);

impl ServerTls {
    pub fn new(acceptor: SslAcceptor) -> Arc<ServerTls> {
        Arc::new(ServerTls(std::sync::RwLock::new(Arc::new(acceptor))))
    }

    fn current(&self) -> Arc<SslAcceptor> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Renew Signet's own certificate when it is due (30 days before it
    /// expires; `bootstrap::ensure_tls_cert`) and serve the new one from the
    /// next connection on. True when it was renewed.
    pub async fn renew_if_due(&self, core: &crate::core_state::Core) -> anyhow::Result<bool> {
        let before = crate::bootstrap::Paths::new(&core.config).tls_cert;
        let old = std::fs::read(&before).unwrap_or_default();
        let (cert, key) = crate::bootstrap::ensure_tls_cert(core).await?;
        if std::fs::read(&cert).unwrap_or_default() == old {
            return Ok(false);
        }
        let acceptor = tls_acceptor(&cert, &key)?;
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(acceptor);
        tracing::info!(certificate = %cert.display(), "renewed the server's TLS certificate");
        Ok(true)
    }
}

/// Check the server's own certificate twice a day on this replica (each has
/// its own), for as long as the server runs: a server up for months must not
/// come to serve an expired certificate.
pub fn spawn_tls_renewal(core: crate::core_state::CoreState, tls: Arc<ServerTls>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(12 * 3600));
        tick.tick().await; // the start already checked it
        loop {
            tick.tick().await;
            if let Err(e) = tls.renew_if_due(&core).await {
                tracing::error!(error = %e, "cannot renew the server's TLS certificate; retrying in 12 h");
            }
        }
    });
}

/// Serve until `shutdown` resolves, then drain connections (up to 10 s).
pub async fn run(
    app: AppState,
    https: TcpListener,
    http: TcpListener,
    tls: Arc<ServerTls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let limits = app.config.limits.clone();
    let (https_router, http_router) = build_routers(&app);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let conns = Arc::new(Semaphore::new(max_connections(&limits)));
    let graceful = Arc::new(GracefulShutdown::new());
    let header_timeout = Duration::from_secs(limits.header_timeout_secs.max(1));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Headers within the timeout, and an idle keep-alive connection closed
    // after it (hyper's header timer also runs while it waits for the next
    // request); HTTP/2 peers that stop answering pings are dropped.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // hyper reads ahead of the handler up to this much per connection
        // (400 KiB by default): memory that no body budget sees.
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    let listeners = [(https, https_router, Some(tls)), (http, http_router, None)];
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|(listener, router, tls)| {
            let l = Listener {
                router,
                tls,
                conns: conns.clone(),
                builder: builder.clone(),
                header_timeout,
            };
            tokio::spawn(l.accept_loop(listener, stop_rx.clone(), graceful.clone()))
        })
        .collect();
    for l in loops {
        l.await?;
    }
    let graceful = Arc::into_inner(graceful).expect("the accept loops have ended");
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s; closing");
    }
    Ok(())
}

/// The most connections open at once: the configured number, or what the
/// file-descriptor limit leaves after the store, logs and CA files.
fn max_connections(limits: &crate::config::LimitsConfig) -> usize {
    if limits.max_connections > 0 {
        return limits.max_connections;
    }
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024);
    usize::try_from(soft.saturating_sub(256))
        .unwrap_or(usize::MAX)
        .max(64)
}

/// Raise the soft file-descriptor limit to the hard one, so that the
/// connection limit, not `accept`, is what a flood meets. Returns the limit.
pub fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 0,
    }
}

/// One listener's accept loop and what each connection needs.
struct Listener {
    router: axum::Router,
    tls: Option<Arc<ServerTls>>,
    conns: Arc<Semaphore>,
    builder: auto::Builder<TokioExecutor>,
    header_timeout: Duration,
}

impl Listener {
    async fn accept_loop(
        self,
        listener: TcpListener,
        mut stop: watch::Receiver<bool>,
        graceful: Arc<GracefulShutdown>,
    ) {
        let this = Arc::new(self);
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            // At the limit, stop accepting: new clients wait in the
            // kernel's backlog until a connection closes.
            let permit = tokio::select! {
                p = this.conns.clone().acquire_owned() => p.expect("never closed"),
                _ = stop.changed() => break,
            };
            let (tcp, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => {
                        backoff = ACCEPT_BACKOFF_MIN;
                        c
                    }
                    Err(e) => {
                        // EMFILE and friends: wait, longer each time, rather
                        // than spin on an error that persists.
                        tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "accept failed");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let _ = tcp.set_nodelay(true);
            let (this, watcher) = (this.clone(), graceful.watcher());
            tokio::spawn(async move {
                this.serve_connection(tcp, peer, watcher).await;
                drop(permit);
            });
        }
    }

    async fn serve_connection(
        &self,
        tcp: tokio::net::TcpStream,
        peer: SocketAddr,
        watcher: hyper_util::server::graceful::Watcher,
    ) {
        let Some(tls) = &self.tls else {
            return self.serve_io(tcp, peer, watcher).await;
        };
        let Ok(ssl) = Ssl::new(tls.current().context()) else {
            return;
        };
        let Ok(mut stream) = SslStream::new(ssl, tcp) else {
            return;
        };
        // A failed or slow handshake drops the connection.
        let handshake = tokio::time::timeout(self.header_timeout, Pin::new(&mut stream).accept());
        if let Ok(Ok(())) = handshake.await {
            self.serve_io(stream, peer, watcher).await;
        }
    }

    /// Serve once the client has sent its first bytes. hyper reads them to
    /// tell HTTP/1 from HTTP/2 with no timeout of its own, and its header
    /// timer starts only after, so a connection that never sends anything
    /// is closed here.
    async fn serve_io<I>(
        &self,
        mut io: I,
        peer: SocketAddr,
        watcher: hyper_util::server::graceful::Watcher,
    ) where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        use tokio::io::AsyncReadExt;
        let mut first = vec![0u8; 4096];
        let n = match tokio::time::timeout(self.header_timeout, io.read(&mut first)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return,
        };
        first.truncate(n);
        let io = TokioIo::new(FirstBytes {
            first,
            at: 0,
            inner: io,
        });
        let svc = self
            .router
            .clone()
            .map_request(move |req: axum::http::Request<Incoming>| {
                let mut req = crate::app::before_routing(req);
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let conn = self
            .builder
            .serve_connection_with_upgrades(io, TowerToHyperService::new(svc));
        let _ = watcher.watch(conn.into_owned()).await;
    }
}

/// A stream whose first bytes were already read: they are read again first.
struct FirstBytes<I> {
    first: Vec<u8>,
    at: usize,
    inner: I,
}

impl<I: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for FirstBytes<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.at < self.first.len() {
            let n = buf.remaining().min(self.first.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.first[at..at + n]);
            self.at += n;
            return std::task::Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for FirstBytes<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

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
