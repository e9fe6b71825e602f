//! http-01 (RFC 8555 §8.3): GET http://<name>:<port>/.well-known/acme-challenge/<token>
//! must return the key authorization. Redirects to other http URLs are
//! followed (at most 10); bodies are capped.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header;
use hyper_util::rt::TokioIo;
use signet_ca::names::San;
use tokio::net::TcpStream;

use crate::acme::problem::Problem;

const MAX_BODY: usize = 16 * 1024;
const MAX_REDIRECTS: usize = 10;

fn host_header(id: &San, port: u16) -> String {
    let host = match id {
        San::Ip(IpAddr::V6(v6)) => format!("[{v6}]"),
        other => other.value(),
    };
    if port == 80 {
        host
    } else {
        format!("{host}:{port}")
    }
}

async fn fetch(
    addr: SocketAddr,
    host: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Option<String>, Bytes), Problem> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Problem::connection(format!("timeout connecting to {addr}")))?
        .map_err(|e| Problem::connection(format!("cannot connect to {addr}: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| Problem::connection(format!("HTTP handshake with {addr}: {e}")))?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header(header::HOST, host)
        .header(header::USER_AGENT, "Signet-VA/1.0")
        .header(header::ACCEPT, "*/*")
        .body(Empty::<Bytes>::new())
        .map_err(|e| Problem::malformed(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| Problem::connection(format!("HTTP request to {addr}: {e}")))?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| Problem::incorrect_response(format!("reading the response from {addr}: {e}")))?
        .to_bytes();
    Ok((status, location, body))
}

pub async fn check(
    addrs: &[IpAddr],
    port: u16,
    id: &San,
    token: &str,
    key_authz: &str,
    timeout: Duration,
) -> Result<(), Problem> {
    let host = host_header(id, port);
    let path = format!("/.well-known/acme-challenge/{token}");
    let mut last_err = None;
    // Try each address of the name until one answers.
    for ip in addrs {
        let addr = SocketAddr::new(*ip, port);
        match fetch(addr, &host, &path, timeout).await {
            Ok(r) => return follow(r, addr, &host, path, id, key_authz, timeout).await,
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| Problem::connection("no address to connect to")))
}

async fn follow(
    mut resp: (u16, Option<String>, Bytes),
    addr: SocketAddr,
    host: &str,
    mut path: String,
    id: &San,
    key_authz: &str,
    timeout: Duration,
) -> Result<(), Problem> {
    for _ in 0..MAX_REDIRECTS {
        let (status, location, body) = &resp;
        if (300..400).contains(status) {
            let loc = location
                .clone()
                .ok_or_else(|| Problem::incorrect_response("redirect without Location"))?;
            if let Some(rest) = loc.strip_prefix("http://") {
                let (authority, p) = rest
                    .split_once('/')
                    .map(|(a, p)| (a, format!("/{p}")))
                    .unwrap_or((rest, "/".into()));
                if authority != host {
                    return Err(Problem::incorrect_response(format!(
                        "redirect to another host ({authority}) is not followed"
                    )));
                }
                path = p;
            } else if loc.starts_with('/') {
                path = loc;
            } else {
                return Err(Problem::incorrect_response(format!(
                    "redirect to {loc:?} is not followed (only http on the same host)"
                )));
            }
            resp = fetch(addr, host, &path, timeout).await?;
            continue;
        }
        if *status != 200 {
            return Err(Problem::incorrect_response(format!(
                "http-01 for {}: {addr} answered HTTP {status} for {path}",
                id.value()
            )));
        }
        let got = String::from_utf8_lossy(body);
        if got.trim_end() == key_authz {
            return Ok(());
        }
        let shown: String = got.chars().take(100).collect();
        return Err(Problem::incorrect_response(format!(
            "http-01 for {}: expected the key authorization, got {shown:?}",
            id.value()
        )));
    }
    Err(Problem::incorrect_response("too many redirects"))
}
