//! Integration tests: one binary, the real app on 127.0.0.1:0 per test.
//! Runs on SQLite, and on PostgreSQL when PG_TEST_URL is set.

mod acme;
mod acme_env;
mod api;
mod documents;
mod faults;
mod foundation;
mod hardening;
mod helpers;
mod lifecycle;
mod replicas;
mod revocation;
mod scep;
