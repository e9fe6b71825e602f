//! Request bodies, bounded and never left half-read.
//!
//! Every body counts against one budget of bytes buffered at once over all
//! requests (`limits.body_bytes_in_flight`): a request that would exceed it
//! gets 503 with Retry-After, so concurrent large uploads cannot take the
//! server's memory.
//!
//! A request answered before its body was read (401, 403, 404, 413, 415,
//! or a handler that never needed the body) still has that body on the wire.
//! HTTP/2 clients such as curl report such a stream as an error (exit 92)
//! even though the answer arrived, and an HTTP/1.1 connection cannot be
//! reused. So after the handler, the rest of the body is read and dropped,
//! up to a bound; past the bound an HTTP/1.1 answer says `Connection: close`.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use tokio::sync::Semaphore;

/// At most this much is read and dropped after the answer (the largest body
/// a route takes, so any legitimate upload gets its answer; reading to drop
/// buffers nothing)…
const DRAIN_MAX_BYTES: usize = crate::api::IMPORT_MAX_BODY;
/// …within this long.
const DRAIN_MAX_TIME: Duration = Duration::from_secs(10);

/// The request body, shared between the handler and this middleware; `None`
/// once it reached its end. `taken` is what it holds of the budget, in KiB.
#[derive(Clone)]
struct Shared {
    body: Arc<Mutex<Option<Body>>>,
    budget: Arc<Semaphore>,
    taken: Arc<AtomicU32>,
    over: Arc<AtomicBool>,
}

impl hyper::body::Body for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut slot = self.body.lock().expect("lock");
        let Some(body) = slot.as_mut() else {
            return Poll::Ready(None);
        };
        let r = Pin::new(body).poll_frame(cx);
        match &r {
            Poll::Ready(None) => *slot = None,
            Poll::Ready(Some(Ok(frame))) => {
                let kib = frame.data_ref().map_or(0, |d| d.len().div_ceil(1024));
                let kib = u32::try_from(kib).unwrap_or(u32::MAX);
                match self.budget.try_acquire_many(kib) {
                    Ok(p) => {
                        p.forget();
                        self.taken.fetch_add(kib, Ordering::Relaxed);
                    }
                    Err(_) => {
                        self.over.store(true, Ordering::Relaxed);
                        return Poll::Ready(Some(Err(axum::Error::new(
                            "request bodies in flight exceed the server's budget",
                        ))));
                    }
                }
            }
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.body
            .lock()
            .expect("lock")
            .as_ref()
            .is_none_or(hyper::body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .lock()
            .expect("lock")
            .as_ref()
            .map(hyper::body::Body::size_hint)
            .unwrap_or_else(|| SizeHint::with_exact(0))
    }
}

pub async fn bounded_body(
    State(budget): State<Arc<Semaphore>>,
    req: Request,
    next: Next,
) -> Response {
    let version = req.version();
    let acme = req.uri().path().starts_with("/acme/");
    // A client waiting for `100 Continue` has not sent its body: reading it
    // now would ask for what the answer already refused.
    let expects_continue = req
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (parts, body) = req.into_parts();
    let shared = Shared {
        body: Arc::new(Mutex::new(Some(body))),
        budget,
        taken: Arc::default(),
        over: Arc::default(),
    };
    let mut resp = next
        .run(Request::from_parts(parts, Body::new(shared.clone())))
        .await;
    // The handler is done with what it buffered.
    shared
        .budget
        .add_permits(shared.taken.swap(0, Ordering::Relaxed) as usize);
    if shared.over.load(Ordering::Relaxed) {
        resp = crate::app::busy(acme, "too many request bodies in flight; retry shortly");
    }
    let rest = shared.body.lock().expect("lock").take();
    if let Some(rest) = rest
        && !hyper::body::Body::is_end_stream(&rest)
        && (expects_continue || !drain(rest).await)
        && version <= Version::HTTP_11
    {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Read and drop the rest of a body; false when it is larger or slower than
/// the bounds allow (or broken).
async fn drain(mut body: Body) -> bool {
    let read = async {
        let mut n = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            n += frame.data_ref().map_or(0, Bytes::len);
            if n > DRAIN_MAX_BYTES {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_MAX_TIME, read)
        .await
        .unwrap_or(false)
}
