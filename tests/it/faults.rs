//! Storage faults and crashes: a store that cannot write answers 503 and is
//! not ready, recovers without a restart, and loses nothing it acknowledged.

use serde_json::{Value, json};
use signet::store::Backend;

use crate::helpers::*;

/// Make every write of the app's store fail as a read-only or failing disk
/// does (SQLite: the writer connection turns query-only, SQLITE_READONLY;
/// PostgreSQL: the database turns read-only and its sessions reconnect,
/// SQLSTATE 25006), or heal it.
async fn writes_fail(t: &TestApp, fail: bool) {
    match t.app.store.backend {
        Backend::Sqlite => {
            // Healing cannot go through the writer handle, which opens a
            // transaction first (refused while query-only); a read on an
            // idle store runs on the writer's connection as it is.
            if fail {
                sqlx::query("PRAGMA query_only = 1")
                    .execute(&t.app.store.write)
                    .await
                    .unwrap();
            } else {
                sqlx::query("PRAGMA query_only = 0")
                    .execute(&t.app.store.read)
                    .await
                    .unwrap();
            }
        }
        Backend::Postgres => {
            let url = t.app.config.database_url();
            let (base, db) = url.rsplit_once('/').unwrap();
            let admin = sqlx::AnyPool::connect(&format!("{base}/postgres"))
                .await
                .unwrap();
            let set = if fail { "on" } else { "off" };
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {db} SET default_transaction_read_only = {set}"
            )))
            .execute(&admin)
            .await
            .unwrap();
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(db.to_string())
            .fetch_all(&admin)
            .await
            .unwrap();
            admin.close().await;
        }
    }
}

async fn readyz(t: &TestApp) -> u16 {
    t.client
        .get(format!("{}/readyz", t.https_url))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn request(t: &TestApp, name: &str) -> reqwest::Response {
    t.client
        .post(format!("{}/api/v1/certificates/csr", t.https_url))
        .bearer_auth(t.admin_token())
        .json(&json!({"mode": "generated", "common_name": name}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_store_that_cannot_write_answers_503_and_is_not_ready_until_it_heals() {
    let t = spawn_app().await;
    assert_eq!(readyz(&t).await, 200);
    writes_fail(&t, true).await;
    // Sessions the fault cut may need a retry to reach the store at all.
    let mut last = None;
    for _ in 0..3 {
        let r = request(&t, "full.example.test").await;
        let status = r.status().as_u16();
        let retry = r.headers().get("retry-after").cloned();
        let v: Value = r.json().await.unwrap();
        last = Some((status, retry, v));
        if last.as_ref().unwrap().2["error"]["code"] == "store_unavailable" {
            break;
        }
    }
    let (status, retry, v) = last.unwrap();
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], "store_unavailable", "{v}");
    assert!(retry.is_some(), "503 without Retry-After");
    assert_eq!(readyz(&t).await, 503, "ready while every write fails");
    // ACME says the same as a problem document.
    let dir: Value = t
        .client
        .get(format!("{}/acme/directory", t.https_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(dir["newAccount"].is_string(), "reads still work: {dir}");
    writes_fail(&t, false).await;
    // Healed without a restart.
    let mut ready = 0;
    for _ in 0..20 {
        ready = readyz(&t).await;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200);
    assert_eq!(request(&t, "healed.example.test").await.status(), 201);
    t.stop().await;
}

#[tokio::test]
async fn sqlite_commits_are_on_disk_before_they_return() {
    let t = spawn_app().await;
    if t.app.store.backend == Backend::Sqlite {
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&t.app.store.write)
            .await
            .unwrap();
        assert_eq!(sync, 2, "the writer must run synchronous=FULL");
    }
    t.stop().await;
}
