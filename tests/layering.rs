//! The arrows between the parts (ARCHITECTURE.md): the core knows no front,
//! the fronts do not know each other, only the shell composes them, and the
//! CA crate knows nothing of the server. A `use` that breaks one fails here.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every .rs file under `rel` (a file or a directory of src/).
fn sources(rel: &str) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        if p.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path(), out);
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p.to_path_buf());
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(ROOT).join(rel), &mut out);
    assert!(!out.is_empty(), "no sources at {rel}");
    out
}

/// Lines of `files` that name one of `forbidden` (`crate::acme`, …).
fn offending(files: &[PathBuf], forbidden: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        for (n, line) in std::fs::read_to_string(f).unwrap().lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for m in forbidden {
                let hit = code.match_indices(m).any(|(i, _)| {
                    !code[i + m.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if hit {
                    out.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    out
}

const FRONTS_AND_SHELL: [&str; 6] = [
    "crate::acme",
    "crate::api",
    "crate::scep",
    "crate::ui",
    "crate::app",
    "crate::cli",
];

#[test]
fn the_core_knows_no_front() {
    let core: Vec<PathBuf> = [
        "src/core_state.rs",
        "src/issuance.rs",
        "src/policy",
        "src/store",
        "src/revocation",
        "src/jobs",
        "src/lifecycle",
        "src/timefmt.rs",
        "src/eab.rs",
        "src/challenges.rs",
    ]
    .iter()
    .flat_map(|r| sources(r))
    .collect();
    let bad = offending(&core, &FRONTS_AND_SHELL);
    assert!(
        bad.is_empty(),
        "the core imports a front or the shell:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_fronts_meet_only_in_the_core() {
    for front in ["acme", "api", "scep", "ui"] {
        let others: Vec<&str> = FRONTS_AND_SHELL
            .iter()
            .copied()
            .filter(|m| *m != format!("crate::{front}"))
            .collect();
        let bad = offending(&sources(&format!("src/{front}")), &others);
        assert!(
            bad.is_empty(),
            "{front} imports another front or the shell:\n{}",
            bad.join("\n")
        );
    }
}

#[test]
fn the_ca_crate_knows_nothing_of_the_server() {
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("ca/Cargo.toml")).unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap_or_default();
    assert!(
        !deps.lines().any(|l| l.trim_start().starts_with("signet ") || l.trim_start().starts_with("signet=")),
        "ca/ depends on the server crate"
    );
    let bad = offending(&sources("ca/src"), &["signet::", "axum", "sqlx", "tokio"]);
    assert!(
        bad.is_empty(),
        "ca/ uses the server or its frameworks:\n{}",
        bad.join("\n")
    );
}
