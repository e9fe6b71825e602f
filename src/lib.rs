//! Signet: an internal certificate authority with ACME, SCEP and a REST API.

pub mod acme;
pub mod api;
pub mod app;
pub mod bootstrap;
pub mod ca_registry;
pub mod challenges;
pub mod config;
pub mod core_state;
mod drain;
pub mod eab;
pub mod error;
pub mod issuance;
pub mod jobs;
pub mod lifecycle;
pub mod metrics;
pub mod ops;
pub mod policy;
pub mod revocation;
pub mod scep;
pub mod server;
pub mod store;
pub mod timefmt;
pub mod tokens;
pub mod ui;

pub use app::{App, AppState, build_routers};
