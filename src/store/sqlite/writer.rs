//! The one writer connection, its checkpointer, and group commit.
//!
//! SQLite allows one writer, so write transactions take turns on one
//! connection behind an async lock. A commit writes every page the
//! transaction changed to the WAL, two write calls per page, plus its
//! locking: a SCEP enrolment's three commits wrote 28 pages. Transactions
//! that run back to back change many of the same pages (the tail of each
//! table and time-ordered index, the full-text index's structure record,
//! the audit chain's head), so a transaction that ends while others wait
//! for the lock does not commit. It releases its savepoint inside the open
//! group transaction, hands the lock on, and waits for the COMMIT that the
//! last one in the queue runs. Nobody hears "committed" before the COMMIT
//! covering their writes has happened, so what a caller does after a
//! commit (sign a certificate whose row is recorded) keeps its guarantee.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rusqlite::{Connection, ffi};
use tokio::sync::{MutexGuard, OwnedMutexGuard};

use super::{Scans, error, open};

/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// WAL pages after which the writer checkpoints inside its own commit, as
/// SQLite does by default at 1,000: only if the checkpointer falls behind.
const WRITER_CHECKPOINT_PAGES: i64 = 20_000;

/// Transactions in one group at most, so the first of a long queue does not
/// wait for all of it.
const GROUP_MAX: usize = 32;

/// Failed groups remembered for members that have not yet looked.
const FAILURES_KEPT: usize = 64;

pub struct Writer {
    session: Arc<tokio::sync::Mutex<Session>>,
    closed: AtomicBool,
    /// Transactions waiting for the lock to begin: they would join a group.
    queued: AtomicUsize,
    ended: Mutex<Ended>,
    pub scans: Scans,
    transactions: AtomicU64,
    commits: AtomicU64,
}

/// Counters for `/metrics`: transactions per COMMIT is the group size.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Rows stepped through in full table scans (see [`Scans`]).
    pub fullscan_steps: u64,
    pub transactions: u64,
    pub commits: u64,
}

/// The connection, and the group transaction open on it.
pub struct Session {
    conn: Connection,
    group: Option<Group>,
    groups: u64,
}

struct Group {
    id: u64,
    members: usize,
}

/// Groups end in the order they began, one at a time.
#[derive(Default)]
struct Ended {
    /// Every group up to this id has ended.
    upto: u64,
    /// The last groups whose COMMIT failed: SQLite's code and message.
    failed: VecDeque<(u64, i32, String)>,
}

impl std::ops::Deref for Session {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

/// Counts a transaction as queued while it waits for the lock, and stops
/// counting it however the wait ends (granted or cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::AcqRel);
        Queued(n)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Writer {
    /// The writer for the database at `path`, with its checkpointer.
    /// `durable` false trades the last commits before a power loss for
    /// fewer fsyncs (`synchronous=NORMAL`, opt-in: `sqlite_synchronous`).
    pub fn new(path: &str, durable: bool) -> Result<Arc<Writer>, sqlx::Error> {
        let conn = open(path)?;
        if !durable {
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(error)?;
        }
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
            .map_err(error)?;
        let w = Arc::new(Writer {
            session: Arc::new(tokio::sync::Mutex::new(Session {
                conn,
                group: None,
                groups: 0,
            })),
            closed: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            ended: Mutex::new(Ended::default()),
            scans: Scans::new(0),
            transactions: AtomicU64::new(0),
            commits: AtomicU64::new(0),
        });
        spawn_checkpointer(open(path)?, Arc::downgrade(&w))?;
        Ok(w)
    }

    pub fn stats(&self) -> Stats {
        Stats {
            fullscan_steps: self.scans.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }

    /// Refuse new work; a group left open by a cancelled member commits now.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Ok(mut s) = self.session.try_lock() {
            let _ = self.end_group(&mut s);
        }
    }

    async fn acquire(&self) -> Result<OwnedMutexGuard<Session>, sqlx::Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed);
        }
        Ok(self.session.clone().lock_owned().await)
    }

    /// The connection for a read, if no one holds it and no group's
    /// uncommitted writes are on it.
    pub fn try_idle(&self) -> Option<MutexGuard<'_, Session>> {
        self.session.try_lock().ok().filter(|s| s.group.is_none())
    }

    /// Begin a transaction: a savepoint inside the open group, or in a new
    /// group. Returns the connection, held until commit or [`Self::abandon`].
    pub async fn begin(&self) -> Result<OwnedMutexGuard<Session>, sqlx::Error> {
        let mut s = {
            let _queued = Queued::enter(&self.queued);
            self.acquire().await?
        };
        if s.group.is_none() {
            s.conn.execute_batch("BEGIN IMMEDIATE").map_err(error)?;
            s.groups += 1;
            s.group = Some(Group {
                id: s.groups,
                members: 0,
            });
        }
        if let Err(e) = s.conn.execute_batch("SAVEPOINT tx") {
            self.end_group_unless_queued(&mut s);
            return Err(error(e));
        }
        if let Some(g) = s.group.as_mut() {
            g.members += 1;
        }
        self.transactions.fetch_add(1, Ordering::Relaxed);
        Ok(s)
    }

    /// Commit the transaction begun on `s`: now, or with the group the
    /// transactions queued behind it join. Returns once committed.
    pub async fn commit(&self, mut s: OwnedMutexGuard<Session>) -> Result<(), sqlx::Error> {
        if let Err(e) = s.conn.execute_batch("RELEASE tx") {
            self.abandon(&mut s);
            return Err(error(e));
        }
        let Some(group) = s.group.as_ref() else {
            return Err(sqlx::Error::Protocol("commit outside a group".into()));
        };
        let id = group.id;
        if self.queued.load(Ordering::Acquire) == 0 || group.members >= GROUP_MAX {
            return self.end_group(&mut s);
        }
        drop(s);
        // The lock is fair: those queued run (and join) before this comes
        // back. Not through `acquire`: after a close, the outcome still counts.
        let mut s = self.session.clone().lock_owned().await;
        match self.outcome(id) {
            Some(done) => done,
            None => self.end_group(&mut s),
        }
    }

    /// Undo the transaction begun on `s` (an error, or a cancelled request),
    /// leaving the rest of its group as it was.
    pub fn abandon(&self, s: &mut Session) {
        if s.group.is_none() {
            return;
        }
        if s.conn.execute_batch("ROLLBACK TO tx; RELEASE tx").is_err() {
            // The savepoint cannot be undone alone: undo the whole group
            // (its members hear that it failed) rather than commit part of
            // this transaction.
            let _ = s.conn.execute_batch("ROLLBACK");
            let _ = self.end_group(s);
            return;
        }
        self.end_group_unless_queued(s);
    }

    fn end_group_unless_queued(&self, s: &mut Session) {
        if self.queued.load(Ordering::Acquire) == 0 {
            let _ = self.end_group(s);
        }
    }

    /// COMMIT the open group, if any, and record how it ended for its members.
    fn end_group(&self, s: &mut Session) -> Result<(), sqlx::Error> {
        let Some(group) = s.group.take() else {
            return Ok(());
        };
        // SQLite rolls a transaction back by itself on some errors (a full
        // disk, an I/O error): then there is nothing left to commit.
        let done = if s.conn.is_autocommit() {
            Err(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_ABORT),
                Some("the transaction was rolled back".into()),
            ))
        } else {
            let done = s.conn.execute_batch("COMMIT");
            self.commits.fetch_add(1, Ordering::Relaxed);
            done
        };
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        ended.upto = group.id;
        if let Err(e) = &done {
            if !s.conn.is_autocommit() {
                let _ = s.conn.execute_batch("ROLLBACK");
            }
            let (code, message) = match e {
                rusqlite::Error::SqliteFailure(f, m) => (f.extended_code, m.clone()),
                _ => (ffi::SQLITE_ERROR, None),
            };
            ended
                .failed
                .push_back((group.id, code, message.unwrap_or_else(|| e.to_string())));
            if ended.failed.len() > FAILURES_KEPT {
                ended.failed.pop_front();
            }
        }
        done.map_err(error)
    }

    /// How group `id` ended, if it has.
    fn outcome(&self, id: u64) -> Option<Result<(), sqlx::Error>> {
        let ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        if id > ended.upto {
            return None;
        }
        Some(match ended.failed.iter().find(|f| f.0 == id) {
            None => Ok(()),
            Some((_, code, message)) => Err(error(rusqlite::Error::SqliteFailure(
                ffi::Error::new(*code),
                Some(message.clone()),
            ))),
        })
    }
}

/// Checkpoints run on a thread and connection of their own. Inside a commit
/// (SQLite's default) a checkpoint copies up to 1,000 pages and fsyncs the
/// database while every other writer waits for the lock; beside the writer
/// it delays no one. The thread ends with the writer.
fn spawn_checkpointer(conn: Connection, writer: Weak<Writer>) -> Result<(), sqlx::Error> {
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            // A failing disk fails every checkpoint, ten a second: say so
            // once, then once a minute with the count, then when it heals.
            let mut failing: Option<(std::time::Instant, u64)> = None;
            loop {
                std::thread::sleep(CHECKPOINT_EVERY);
                match writer.upgrade() {
                    Some(w) if !w.closed.load(Ordering::Acquire) => {}
                    _ => return,
                }
                match (conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)"), &mut failing) {
                    (Ok(()), None) => {}
                    (Ok(()), Some((_, n))) => {
                        tracing::info!(failures = *n, "WAL checkpoints succeed again");
                        failing = None;
                    }
                    (Err(e), None) => {
                        tracing::warn!(error = %e, "WAL checkpoint failed; retrying every 100 ms");
                        failing = Some((std::time::Instant::now(), 1));
                    }
                    (Err(e), Some((since, n))) => {
                        *n += 1;
                        if since.elapsed() >= std::time::Duration::from_secs(60) {
                            tracing::warn!(error = %e, failures = *n, "WAL checkpoints still failing");
                            *since = std::time::Instant::now();
                        }
                    }
                }
            }
        })
        .map(|_| ())
        .map_err(sqlx::Error::Io)
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("group", &self.group.as_ref().map(|g| (g.id, g.members)))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}
