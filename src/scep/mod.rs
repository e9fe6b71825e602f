//! SCEP (RFC 8894) on the plain-HTTP listener: `/scep/{profile}` (and
//! `/pkiclient.exe` under it, and `/api/v1/scep/{ca}` as an alias). The
//! message codec is `signet_ca::scep`; requests go through the shared
//! issuance pipeline like ACME and REST ones.

pub mod challenge;
mod enrol;
mod http;
pub mod profile;
pub mod responder;

pub use http::routes;

use crate::core_state::CoreState;
use crate::policy::{Channel, TemplateSpec};

/// The SCEP front's own state beside the core: the responders (CA or RA
/// certificate and key per CA) and the static challenge. Derefs to the core.
pub struct Scep {
    pub core: CoreState,
    pub responders: responder::Responders,
}

pub type ScepState = std::sync::Arc<Scep>;

crate::core_state::derefs_to_core!(Scep);

impl Scep {
    pub fn new(core: CoreState) -> ScepState {
        std::sync::Arc::new(Scep {
            core,
            responders: responder::Responders::default(),
        })
    }
}

/// The template the default profile issues from.
pub const DEVICE_TEMPLATE: &str = "scep-device";
/// Prefix of the per-CA templates RA certificates are issued from.
pub const RA_TEMPLATE: &str = "scep-ra";

/// Device certificates: the subject fields devices and MDMs send, client
/// authentication, a year.
pub fn device_template() -> TemplateSpec {
    TemplateSpec {
        description: "Devices enrolling over SCEP".into(),
        channels: vec![Channel::Scep, Channel::Api],
        // Device names ("laptop-42", "Jane's iPhone") are not host names.
        cn_pattern: vec!["*".into()],
        email: vec!["*".into()],
        uri: vec!["*".into()],
        default_validity_days: 365,
        max_validity_days: 365,
        key_usage: vec!["digitalSignature".into(), "keyEncipherment".into()],
        ext_key_usage: vec!["clientAuth".into()],
        subject_allowed: [
            "CN",
            "O",
            "OU",
            "C",
            "ST",
            "L",
            "emailAddress",
            "serialNumber",
        ]
        .map(String::from)
        .to_vec(),
        ..TemplateSpec::allow_any_host()
    }
}

/// The RSA RA/decrypter certificate of one CA (the template names the CA).
pub fn ra_template(ca_id: &str) -> TemplateSpec {
    TemplateSpec {
        description: "SCEP RA/decrypter certificate (managed by Signet)".into(),
        ca: ca_id.to_string(),
        channels: vec![Channel::Api],
        dns: Vec::new(),
        ip: Vec::new(),
        key_types: vec!["rsa-2048".into()],
        default_validity_days: 3650,
        max_validity_days: 3650,
        key_usage: vec!["digitalSignature".into(), "keyEncipherment".into()],
        ext_key_usage: Vec::new(),
        subject_allowed: vec!["CN".into(), "O".into()],
        cn_pattern: vec!["*".into()],
        ..Default::default()
    }
}
