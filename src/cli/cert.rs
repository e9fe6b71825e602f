//! `signet cert`: issue, renew, export, list, show, revoke, approve, reject.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509ReqBuilder};
use reqwest::Method;
use serde_json::{Value, json};
use signet_ca::key::KeyType;

use super::client::{Client, all_items, s};

#[derive(Subcommand)]
pub enum CertCmd {
    /// Issue a certificate for one or more names: the key is made here and
    /// never leaves this machine; the certificate, key and chain are written.
    Issue {
        /// DNS names or IP addresses; the first is the common name.
        #[arg(required = true)]
        names: Vec<String>,
        /// Template id or name (default: the project's default).
        #[arg(long)]
        template: Option<String>,
        /// Project id or name (default: `default`).
        #[arg(long)]
        project: Option<String>,
        #[arg(long, default_value = "ec-p256")]
        key_type: KeyType,
        /// Shorter than the template's validity, if asked.
        #[arg(long)]
        validity_days: Option<u32>,
        /// Default NAME.crt
        #[arg(long)]
        out: Option<PathBuf>,
        /// Default NAME.key (mode 0600)
        #[arg(long)]
        key_out: Option<PathBuf>,
        /// Also write the issuing chain here.
        #[arg(long)]
        chain_out: Option<PathBuf>,
    },
    /// Renew: the same names and template; writes the successor with --out.
    Renew {
        id: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Export a certificate (with its server-held key for pem/pkcs12 and --password-file).
    Export {
        id: String,
        /// pem, der, pkcs7 or pkcs12
        #[arg(long, default_value = "pem")]
        format: String,
        /// Include the server-held key, encrypted under the password in this file.
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[arg(long)]
        no_chain: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// Newest first.
    List {
        /// Comma-separated: active, pending_approval, revoked, …
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        expiring_within_days: Option<u32>,
        /// Substring of the common name.
        #[arg(long)]
        cn: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// The certificate's details, and its PEM.
    Show { id: String },
    /// Revoke with an RFC 5280 reason name or code.
    Revoke {
        id: String,
        #[arg(long, default_value = "unspecified")]
        reason: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Approve a pending request as the token's identity (N-of-M counts
    /// distinct identities; a requester cannot approve their own).
    Approve {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    Reject {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
}

fn summary(v: &Value) {
    println!(
        "{}  {}  {}  expires {}  {}",
        s(v, "id"),
        s(v, "status"),
        s(v, "common_name"),
        s(v, "expires_on"),
        s(v, "serial_number")
    );
}

/// A key and a CSR for `names`: CN is the first, every name is a SAN.
fn key_and_csr(names: &[String], kt: KeyType) -> anyhow::Result<(PKey<Private>, String)> {
    let key = kt.generate()?;
    let mut b = X509ReqBuilder::new()?;
    let mut dn = X509NameBuilder::new()?;
    dn.append_entry_by_text("CN", &names[0])?;
    b.set_subject_name(&dn.build())?;
    b.set_pubkey(&key)?;
    let mut san = SubjectAlternativeName::new();
    for n in names {
        if n.parse::<std::net::IpAddr>().is_ok() {
            san.ip(n);
        } else {
            san.dns(n);
        }
    }
    let mut exts = Stack::new()?;
    exts.push(san.build(&b.x509v3_context(None))?)?;
    b.add_extensions(&exts)?;
    let md = if kt == KeyType::Ed25519 {
        MessageDigest::null()
    } else {
        MessageDigest::sha256()
    };
    b.sign(&key, md)?;
    Ok((key, String::from_utf8(b.build().to_pem()?)?))
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

async fn certificate_pem(c: &Client, id: &str) -> anyhow::Result<Vec<u8>> {
    c.download(
        Method::GET,
        &format!("/certificates/{id}/export?format=pem&include_chain=false"),
        None,
    )
    .await
}

pub async fn run(c: &Client, cmd: CertCmd) -> anyhow::Result<()> {
    match cmd {
        CertCmd::Issue {
            names,
            template,
            project,
            key_type,
            validity_days,
            out,
            key_out,
            chain_out,
        } => {
            let (key, csr) = key_and_csr(&names, key_type)?;
            let stem = names[0].replace(['*', '/'], "_");
            let key_out = key_out.unwrap_or_else(|| PathBuf::from(format!("{stem}.key")));
            let out = out.unwrap_or_else(|| PathBuf::from(format!("{stem}.crt")));
            // The key first: a request that waits for approval still needs it.
            signet::bootstrap::write_secret(&key_out, &key.private_key_to_pem_pkcs8()?)?;
            let (status, v) = c
                .post(
                    "/certificates/csr",
                    &json!({"csr_source_mode": "uploaded_csr", "csr_pem": csr, "template_id": template,
                            "project_id": project, "validity_days": validity_days}),
                )
                .await?;
            let id = s(&v, "id").to_string();
            if status.as_u16() == 202 {
                c.show(&v, |_| {
                    println!(
                        "{id} waits for approval; key in {}. Once approved: signet cert export {id} --out {}",
                        key_out.display(),
                        out.display()
                    )
                });
                return Ok(());
            }
            write(&out, &certificate_pem(c, &id).await?)?;
            if let Some(chain) = chain_out {
                let pem = c
                    .download(Method::GET, &format!("/cas/{}/chain", s(&v, "ca_id")), None)
                    .await?;
                write(&chain, &pem)?;
            }
            c.show(&v, |v| {
                summary(v);
                println!("certificate: {}\nkey: {}", out.display(), key_out.display());
            });
        }
        CertCmd::Renew { id, out } => {
            let (status, v) = c
                .post(&format!("/certificates/{id}/renew"), &json!({}))
                .await?;
            if let (Some(out), 201) = (&out, status.as_u16()) {
                write(out, &certificate_pem(c, s(&v, "id")).await?)?;
            }
            c.show(&v, summary);
        }
        CertCmd::Export {
            id,
            format,
            password_file,
            no_chain,
            out,
        } => {
            let mut body = json!({"format": format, "include_chain": !no_chain});
            if let Some(f) = password_file {
                let pw = std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read {}", f.display()))?;
                body["password"] = json!(pw.trim_end_matches(['\r', '\n']));
                body["include_key"] = json!(true);
            }
            let bytes = c
                .download(
                    Method::POST,
                    &format!("/certificates/{id}/export"),
                    Some(&body),
                )
                .await?;
            if body["include_key"] == true {
                signet::bootstrap::write_secret(&out, &bytes)?;
            } else {
                write(&out, &bytes)?;
            }
            if !c.json {
                println!("wrote {}", out.display());
            }
        }
        CertCmd::List {
            status,
            project,
            expiring_within_days,
            cn,
            limit,
        } => {
            let mut q = vec![format!("limit={}", limit.clamp(1, 500))];
            for (k, v) in [
                ("status", status),
                ("project_id", project),
                ("common_name", cn),
                (
                    "expiring_within_days",
                    expiring_within_days.map(|d| d.to_string()),
                ),
            ] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", urlencode(&v)));
                }
            }
            let items = all_items(c, &format!("/certificates?{}", q.join("&")), limit).await?;
            c.show(&json!(items), |_| items.iter().for_each(summary));
        }
        CertCmd::Show { id } => {
            let v = c.get(&format!("/certificates/{id}")).await?;
            if c.json {
                c.show(&v, |_| {});
            } else {
                for k in [
                    "id",
                    "status",
                    "subject",
                    "serial_number",
                    "not_before",
                    "not_after",
                    "key_type",
                    "key_source",
                    "template_id",
                    "project_id",
                    "channel",
                    "requested_by",
                    "revocation_reason",
                    "revoked_by",
                ] {
                    if !v[k].is_null() {
                        println!(
                            "{k}: {}",
                            v[k].as_str()
                                .map(str::to_string)
                                .unwrap_or(v[k].to_string())
                        );
                    }
                }
                println!("sans: {}", v["san"]);
                if !s(&v, "serial").is_empty() {
                    print!(
                        "{}",
                        String::from_utf8_lossy(&certificate_pem(c, &id).await?)
                    );
                }
            }
        }
        CertCmd::Revoke {
            id,
            reason,
            comment,
        } => {
            let reason = reason
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::from(reason));
            let (_, v) = c
                .post(
                    &format!("/certificates/{id}/revoke"),
                    &json!({"reason": reason, "comment": comment}),
                )
                .await?;
            c.show(&v, |v| {
                println!("revoked: {} ({})", s(v, "id"), s(v, "revocation_reason"))
            });
        }
        CertCmd::Approve { id, comment } => decide(c, &id, comment, "approve").await?,
        CertCmd::Reject { id, comment } => decide(c, &id, comment, "reject").await?,
    }
    Ok(())
}

async fn decide(c: &Client, id: &str, comment: Option<String>, verb: &str) -> anyhow::Result<()> {
    let (_, v) = c
        .post(
            &format!("/certificates/{id}/{verb}"),
            &json!({"comment": comment}),
        )
        .await?;
    c.show(&v, |v| match s(v, "status") {
        "pending_approval" => println!("approval recorded; {id} still pending"),
        "active" => println!("issued: {id} serial {}", s(v, "serial_number")),
        other => println!("{id}: {other}"),
    });
    Ok(())
}

/// Percent-encode a query value.
pub fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
