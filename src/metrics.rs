//! Prometheus metrics, kept as plain atomics: the hot path pays one
//! relaxed increment per request.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::core_state::CoreState;

const BUCKETS_MS: [u64; 10] = [1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000];
const CHANNELS: [&str; 3] = ["acme", "scep", "api"];
const RENEWAL_OUTCOMES: [&str; 3] = ["succeeded", "queued", "failed"];
const SEND_OUTCOMES: [&str; 3] = ["sent", "pending", "failed"];
const DELIVERY_OUTCOMES: [&str; 3] = ["succeeded", "pending", "failed"];
const EXPIRING_WITHIN: [&str; 3] = ["1d", "7d", "30d"];

#[derive(Default)]
pub struct Metrics {
    /// Requests by status class 1xx..5xx.
    requests: [AtomicU64; 5],
    latency_buckets: [AtomicU64; BUCKETS_MS.len()],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
    issued: [AtomicU64; CHANNELS.len()],
    renewals: [AtomicU64; 3],
    notifications: [AtomicU64; 3],
    deliveries: [AtomicU64; 3],
    /// Gauges the lifecycle refreshes: active certificates expiring within
    /// 1, 7 and 30 days, and the age of the oldest failed renewal.
    expiring: [AtomicU64; 3],
    oldest_failed_renewal_secs: AtomicU64,
}

fn count(names: &[&str], counters: &[AtomicU64], name: &str) {
    if let Some(i) = names.iter().position(|n| *n == name) {
        counters[i].fetch_add(1, Relaxed);
    }
}

impl Metrics {
    pub fn issued(&self, channel: &str) {
        count(&CHANNELS, &self.issued, channel);
    }

    /// A renewal's outcome: succeeded, queued (for approval) or failed.
    pub fn renewal(&self, outcome: &str) {
        count(&RENEWAL_OUTCOMES, &self.renewals, outcome);
    }

    /// A notification attempt: sent, pending (to be retried) or failed.
    pub fn notification(&self, outcome: &str) {
        count(&SEND_OUTCOMES, &self.notifications, outcome);
    }

    /// A delivery attempt: succeeded, pending (to be retried) or failed.
    pub fn delivery(&self, outcome: &str) {
        count(&DELIVERY_OUTCOMES, &self.deliveries, outcome);
    }

    pub fn set_lifecycle(&self, expiring: [i64; 3], oldest_failed_secs: i64) {
        for (g, v) in self.expiring.iter().zip(expiring) {
            g.store(v.max(0) as u64, Relaxed);
        }
        self.oldest_failed_renewal_secs
            .store(oldest_failed_secs.max(0) as u64, Relaxed);
    }

    fn observe(&self, status: u16, elapsed_us: u64) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.requests[class].fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(elapsed_us, Relaxed);
        self.latency_count.fetch_add(1, Relaxed);
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if elapsed_us <= b * 1000 {
                self.latency_buckets[i].fetch_add(1, Relaxed);
            }
        }
    }

    pub fn render(&self) -> String {
        let mut s = String::with_capacity(2048);
        s.push_str("# HELP signet_http_requests_total HTTP requests by status class.\n# TYPE signet_http_requests_total counter\n");
        for (i, c) in self.requests.iter().enumerate() {
            s.push_str(&format!(
                "signet_http_requests_total{{class=\"{}xx\"}} {}\n",
                i + 1,
                c.load(Relaxed)
            ));
        }
        s.push_str("# HELP signet_http_request_duration_seconds Request latency.\n# TYPE signet_http_request_duration_seconds histogram\n");
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            s.push_str(&format!(
                "signet_http_request_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                *b as f64 / 1000.0,
                self.latency_buckets[i].load(Relaxed)
            ));
        }
        let count = self.latency_count.load(Relaxed);
        s.push_str(&format!(
            "signet_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n"
        ));
        s.push_str(&format!(
            "signet_http_request_duration_seconds_sum {}\n",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        ));
        s.push_str(&format!(
            "signet_http_request_duration_seconds_count {count}\n"
        ));
        s.push_str("# HELP signet_certificates_issued_total Certificates signed, by channel.\n# TYPE signet_certificates_issued_total counter\n");
        for (i, c) in CHANNELS.iter().enumerate() {
            s.push_str(&format!(
                "signet_certificates_issued_total{{channel=\"{c}\"}} {}\n",
                self.issued[i].load(Relaxed)
            ));
        }
        for (name, help, kind, label, names, values) in [
            (
                "signet_renewals_total",
                "Automatic and requested renewals, by outcome.",
                "counter",
                "outcome",
                &RENEWAL_OUTCOMES,
                &self.renewals,
            ),
            (
                "signet_notifications_total",
                "Notification attempts, by outcome.",
                "counter",
                "outcome",
                &SEND_OUTCOMES,
                &self.notifications,
            ),
            (
                "signet_deliveries_total",
                "Rotation delivery attempts, by outcome.",
                "counter",
                "outcome",
                &DELIVERY_OUTCOMES,
                &self.deliveries,
            ),
            (
                "signet_certificates_expiring",
                "Active certificates expiring within a window.",
                "gauge",
                "within",
                &EXPIRING_WITHIN,
                &self.expiring,
            ),
        ] {
            s.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (n, v) in names.iter().zip(values.iter()) {
                s.push_str(&format!("{name}{{{label}=\"{n}\"}} {}\n", v.load(Relaxed)));
            }
        }
        s.push_str(&format!(
            "# HELP signet_oldest_failed_renewal_seconds Age of the oldest failed automatic renewal (0: none).\n\
             # TYPE signet_oldest_failed_renewal_seconds gauge\nsignet_oldest_failed_renewal_seconds {}\n",
            self.oldest_failed_renewal_secs.load(Relaxed)
        ));
        s
    }
}

pub async fn track(State(app): State<CoreState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let resp = next.run(req).await;
    app.metrics
        .observe(resp.status().as_u16(), start.elapsed().as_micros() as u64);
    resp
}
