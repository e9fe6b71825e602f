//! The management REST API (`/api/v1`). Every route takes a `Principal`
//! and checks a permission before doing anything.

pub mod auth;
mod cas;
mod certificates;
pub mod json;

use axum::Router;

use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(cas::routes())
        .merge(certificates::routes())
}
