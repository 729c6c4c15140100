//! The job store: one SQLite file (WAL mode) holding jobs and the instances received for
//! each study, so that a restart loses nothing.
//!
//! Job life: `receiving` (instances arriving) → `queued` (quiet period passed) →
//! `processing` → `done` | `failed` | `ignored` (no diffusion series). A job found in
//! `processing` at start-up was interrupted and goes back to `queued`. Every state change is
//! one statement or transaction under the connection's mutex, so a job is claimed by exactly
//! one worker.

use crate::error::{ensure, err, Result};
use crate::ingest::PatientInfo;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Seconds since the Unix epoch.
#[must_use]
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Where a job is in its life (stored as its lower-case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Instances are arriving.
    Receiving,
    /// The quiet period passed; waiting for a worker.
    Queued,
    /// A worker is processing it.
    Processing,
    /// Processed; the result is ready.
    Done,
    /// Processing failed (the job's `error` says why).
    Failed,
    /// No diffusion series to process.
    Ignored,
}

impl JobState {
    /// Every state, in the order of a job's life.
    pub const ALL: [JobState; 6] = [
        JobState::Receiving,
        JobState::Queued,
        JobState::Processing,
        JobState::Done,
        JobState::Failed,
        JobState::Ignored,
    ];

    /// The name stored in the database and shown by the API.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Receiving => "receiving",
            JobState::Queued => "queued",
            JobState::Processing => "processing",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Ignored => "ignored",
        }
    }

    /// Whether processing has ended (done or failed), so that it may be queued again.
    #[must_use]
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::ToSql for JobState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for JobState {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let s = v.as_str()?;
        JobState::ALL
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| {
                rusqlite::types::FromSqlError::Other(format!("unknown job state {s:?}").into())
            })
    }
}

/// A series that was stored but not processed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IgnoredSeries {
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// Modality.
    pub modality: String,
    /// Instances received.
    pub instances: i64,
    /// Why it is not processed.
    pub reason: String,
}

/// One job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// Job id.
    pub id: i64,
    /// StudyInstanceUID.
    pub study_uid: String,
    /// Where the job is.
    pub status: JobState,
    /// Unix seconds.
    pub created_at: f64,
    /// Unix seconds of the last state change.
    pub updated_at: f64,
    /// Unix seconds of the last new instance.
    pub last_instance_at: f64,
    /// Times processing started (more than 1 after an interruption).
    pub attempts: i64,
    /// Diffusion instances of the study.
    pub n_dwi: i64,
    /// Other instances of the study (stored, not processed).
    pub n_other: i64,
    /// Result summary from the processor.
    pub summary: Option<serde_json::Value>,
    /// Why it failed or was ignored.
    pub error: Option<String>,
    /// What happened when sending results on.
    pub forward: Option<serde_json::Value>,
    /// Series stored but not processed, with reasons.
    pub ignored_series: Vec<IgnoredSeries>,
    /// Patient and study identifiers from the study's first instance.
    pub patient: PatientInfo,
    /// Whether the user asking has acknowledged this job's result (the worklist's alert).
    pub acknowledged: bool,
}

/// Fields of a newly received instance.
pub struct NewInstance<'a> {
    /// SOPInstanceUID.
    pub sop_uid: &'a str,
    /// StudyInstanceUID.
    pub study_uid: &'a str,
    /// SeriesInstanceUID.
    pub series_uid: &'a str,
    /// Modality.
    pub modality: &'a str,
    /// Whether it is processed.
    pub dwi: bool,
    /// Why not, when not.
    pub reason: Option<&'a str>,
    /// Where it was stored.
    pub path: &'a str,
    /// Patient and study identifiers (kept with the job its study starts).
    pub patient: &'a PatientInfo,
}

/// The database.
pub struct Db {
    conn: Mutex<Connection>,
    /// Bumped by every change to a job, so that live views know when to look again.
    version: AtomicU64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    study_uid TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    last_instance_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    summary TEXT,
    error TEXT,
    forward TEXT
);
CREATE INDEX IF NOT EXISTS jobs_study ON jobs(study_uid);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE TABLE IF NOT EXISTS instances (
    sop_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    modality TEXT NOT NULL,
    dwi INTEGER NOT NULL,
    reason TEXT,
    path TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_study ON instances(study_uid);
CREATE TABLE IF NOT EXISTS acks (
    job_id INTEGER NOT NULL,
    user TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (job_id, user)
);
";

/// Columns added after the first release, with their definitions: added to an older
/// database when it is opened.
const ADDED_JOB_COLS: [(&str, &str); 5] = [
    ("patient_id", "TEXT NOT NULL DEFAULT ''"),
    ("patient_name", "TEXT NOT NULL DEFAULT ''"),
    ("accession", "TEXT NOT NULL DEFAULT ''"),
    ("study_description", "TEXT NOT NULL DEFAULT ''"),
    ("study_date", "TEXT NOT NULL DEFAULT ''"),
];

const JOB_COLS: &str = "id, study_uid, status, created_at, updated_at, last_instance_at, attempts, summary, error, forward, patient_id, patient_name, accession, study_description, study_date";

impl Db {
    /// Opens (creating if needed) the database at `path`, in WAL mode.
    ///
    /// # Errors
    /// SQLite errors, with the path.
    pub fn open(path: &Path) -> Result<Db> {
        let conn = Connection::open(path)
            .map_err(|e| err!(Db, "{}: cannot open the job database: {e}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        ensure!(
            Db,
            mode.eq_ignore_ascii_case("wal"),
            "{}: WAL mode refused ({mode})",
            path.display()
        );
        // NORMAL is durable across a killed process in WAL mode (only power loss can undo the
        // last commits).
        conn.execute_batch("PRAGMA synchronous=NORMAL;")?;
        conn.execute_batch(SCHEMA)?;
        let have: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('jobs')")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for (col, def) in ADDED_JOB_COLS {
            if !have.iter().any(|h| h == col) {
                conn.execute_batch(&format!("ALTER TABLE jobs ADD COLUMN {col} {def}"))?;
            }
        }
        Ok(Db {
            conn: Mutex::new(conn),
            version: AtomicU64::new(1),
        })
    }

    /// A number that changes whenever a job changes.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    fn changed(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each change is atomic).
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts jobs interrupted in `processing` back in the queue; returns how many.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn recover(&self) -> Result<usize> {
        let n = self.lock().execute(
            "UPDATE jobs SET status='queued', updated_at=?1 WHERE status='processing'",
            params![now()],
        )?;
        self.changed();
        Ok(n)
    }

    /// Records a received instance; returns its job id, whether the instance was new (a
    /// resent duplicate SOP instance changes nothing) and whether it is the first of its
    /// series.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn record_instance(&self, i: &NewInstance<'_>) -> Result<(i64, bool, bool)> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let t = now();
        let existing: Option<i64> = tx
            .query_row(
                "SELECT job_id FROM instances WHERE sop_uid=?1",
                [i.sop_uid],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(job) = existing {
            return Ok((job, false, false));
        }
        let first_of_series = tx
            .query_row(
                "SELECT 1 FROM instances WHERE series_uid=?1 LIMIT 1",
                [i.series_uid],
                |_| Ok(()),
            )
            .optional()?
            .is_none();
        let latest: Option<(i64, JobState)> = tx
            .query_row(
                "SELECT id, status FROM jobs WHERE study_uid=?1 ORDER BY id DESC LIMIT 1",
                [i.study_uid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let job = match latest {
            Some((id, JobState::Receiving | JobState::Queued)) => {
                tx.execute(
                    "UPDATE jobs SET status='receiving', last_instance_at=?2, updated_at=?2 WHERE id=?1",
                    params![id, t],
                )?;
                id
            }
            // New study, or new instances after the study was processed: a new job.
            _ => {
                let p = i.patient;
                tx.execute(
                    "INSERT INTO jobs (study_uid, status, created_at, updated_at, last_instance_at, patient_id, patient_name, accession, study_description, study_date) VALUES (?1, 'receiving', ?2, ?2, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![i.study_uid, t, p.patient_id, p.patient_name, p.accession, p.study_description, p.study_date],
                )?;
                tx.last_insert_rowid()
            }
        };
        tx.execute(
            "INSERT INTO instances (sop_uid, study_uid, series_uid, job_id, modality, dwi, reason, path, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![i.sop_uid, i.study_uid, i.series_uid, job, i.modality, i.dwi, i.reason, i.path, t],
        )?;
        tx.commit()?;
        self.changed();
        Ok((job, true, first_of_series))
    }

    /// Moves jobs with no new instance for `quiet_s` seconds to the queue.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn promote(&self, quiet_s: f64) -> Result<usize> {
        let t = now();
        let n = self.lock().execute(
            "UPDATE jobs SET status='queued', updated_at=?1 WHERE status='receiving' AND last_instance_at <= ?2",
            params![t, t - quiet_s],
        )?;
        if n > 0 {
            self.changed();
        }
        Ok(n)
    }

    /// Claims the oldest queued job for processing: returns (id, study UID).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn claim(&self) -> Result<Option<(i64, String)>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let next: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, study_uid FROM jobs WHERE status='queued' ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((id, _)) = &next {
            tx.execute(
                "UPDATE jobs SET status='processing', attempts=attempts+1, updated_at=?2, error=NULL WHERE id=?1",
                params![id, now()],
            )?;
        }
        tx.commit()?;
        if next.is_some() {
            self.changed();
        }
        Ok(next)
    }

    /// Number of diffusion instances stored for a study.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn n_dwi(&self, study_uid: &str) -> Result<i64> {
        Ok(self.lock().query_row(
            "SELECT count(*) FROM instances WHERE study_uid=?1 AND dwi=1",
            [study_uid],
            |r| r.get(0),
        )?)
    }

    /// Ends a job.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn finish(
        &self,
        id: i64,
        status: JobState,
        summary: Option<&serde_json::Value>,
        error: Option<&str>,
        forward: Option<&serde_json::Value>,
    ) -> Result<()> {
        self.lock().execute(
            "UPDATE jobs SET status=?2, summary=?3, error=?4, forward=?5, updated_at=?6 WHERE id=?1",
            params![
                id,
                status,
                summary.map(ToString::to_string),
                error,
                forward.map(ToString::to_string),
                now()
            ],
        )?;
        self.changed();
        Ok(())
    }

    /// Records that `user` acknowledged job `id`'s result; false when there is no such job.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn acknowledge(&self, id: i64, user: &str) -> Result<bool> {
        let conn = self.lock();
        let exists = conn
            .query_row("SELECT 1 FROM jobs WHERE id=?1", [id], |_| Ok(()))
            .optional()?
            .is_some();
        if exists {
            conn.execute(
                "INSERT OR IGNORE INTO acks (job_id, user, at) VALUES (?1, ?2, ?3)",
                params![id, user, now()],
            )?;
            drop(conn);
            self.changed();
        }
        Ok(exists)
    }

    /// Queues a finished or failed job again (an administrator's retry or re-run); returns
    /// the status it had, or `None` when there is no such job. Jobs still receiving, queued
    /// or processing, and ignored studies (no DWI), are left as they are.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn requeue(&self, id: i64) -> Result<Option<JobState>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let status: Option<JobState> = tx
            .query_row("SELECT status FROM jobs WHERE id=?1", [id], |r| r.get(0))
            .optional()?;
        if status.is_some_and(JobState::is_finished) {
            tx.execute(
                "UPDATE jobs SET status='queued', updated_at=?2, error=NULL WHERE id=?1",
                params![id, now()],
            )?;
            tx.execute("DELETE FROM acks WHERE job_id=?1", [id])?;
        }
        tx.commit()?;
        drop(conn);
        self.changed();
        Ok(status)
    }

    fn ignored_series(conn: &Connection, study_uid: &str) -> rusqlite::Result<Vec<IgnoredSeries>> {
        let mut st = conn.prepare_cached(
            "SELECT series_uid, modality, count(*), min(reason) FROM instances WHERE study_uid=?1 AND dwi=0 GROUP BY series_uid ORDER BY series_uid",
        )?;
        let rows = st.query_map([study_uid], |r| {
            Ok(IgnoredSeries {
                series_uid: r.get(0)?,
                modality: r.get(1)?,
                instances: r.get(2)?,
                reason: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
            })
        })?;
        rows.collect()
    }

    fn job_from_row(conn: &Connection, r: &rusqlite::Row<'_>, user: &str) -> rusqlite::Result<Job> {
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        let study_uid: String = r.get(1)?;
        let count = |dwi: bool| -> rusqlite::Result<i64> {
            conn.prepare_cached("SELECT count(*) FROM instances WHERE study_uid=?1 AND dwi=?2")?
                .query_row(params![study_uid, dwi], |r| r.get(0))
        };
        let id: i64 = r.get(0)?;
        let acknowledged = conn
            .prepare_cached("SELECT 1 FROM acks WHERE job_id=?1 AND user=?2")?
            .query_row(params![id, user], |_| Ok(()))
            .optional()?
            .is_some();
        Ok(Job {
            id,
            status: r.get(2)?,
            created_at: r.get(3)?,
            updated_at: r.get(4)?,
            last_instance_at: r.get(5)?,
            attempts: r.get(6)?,
            summary: json(r.get(7)?),
            error: r.get(8)?,
            forward: json(r.get(9)?),
            n_dwi: count(true)?,
            n_other: count(false)?,
            ignored_series: Self::ignored_series(conn, &study_uid)?,
            study_uid,
            patient: PatientInfo {
                patient_id: r.get(10)?,
                patient_name: r.get(11)?,
                accession: r.get(12)?,
                study_description: r.get(13)?,
                study_date: r.get(14)?,
            },
            acknowledged,
        })
    }

    /// All jobs, newest first, with `user`'s acknowledgements.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn list(&self, user: &str) -> Result<Vec<Job>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!("SELECT {JOB_COLS} FROM jobs ORDER BY id DESC"))?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(Self::job_from_row(&conn, r, user)?);
        }
        Ok(out)
    }

    /// One job, with `user`'s acknowledgement.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn get(&self, id: i64, user: &str) -> Result<Option<Job>> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!("SELECT {JOB_COLS} FROM jobs WHERE id=?1"))?;
        let mut rows = st.query([id])?;
        match rows.next()? {
            Some(r) => Ok(Some(Self::job_from_row(&conn, r, user)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static NOBODY: PatientInfo = PatientInfo {
        patient_id: String::new(),
        patient_name: String::new(),
        accession: String::new(),
        study_description: String::new(),
        study_date: String::new(),
    };

    fn inst<'a>(sop: &'a str, study: &'a str, dwi: bool) -> NewInstance<'a> {
        NewInstance {
            patient: &NOBODY,
            sop_uid: sop,
            study_uid: study,
            series_uid: "1.1",
            modality: "MR",
            dwi,
            reason: (!dwi).then_some("not diffusion"),
            path: "x",
        }
    }

    #[test]
    fn lifecycle_duplicates_and_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("jobs.sqlite")).unwrap();
        let (a, new, first) = db.record_instance(&inst("1.1.1", "1.2", true)).unwrap();
        assert!(new && first);
        let (b, new, first) = db.record_instance(&inst("1.1.2", "1.2", false)).unwrap();
        assert!(new && !first);
        assert_eq!(a, b);
        let (c, new, _) = db.record_instance(&inst("1.1.1", "1.2", true)).unwrap();
        assert_eq!((c, new), (a, false));
        assert_eq!(db.promote(3600.0).unwrap(), 0, "quiet period not over");
        assert_eq!(db.promote(0.0).unwrap(), 1);
        let (id, study) = db.claim().unwrap().unwrap();
        assert_eq!((id, study.as_str()), (a, "1.2"));
        assert!(db.claim().unwrap().is_none(), "claimed twice");
        drop(db);
        // Reopen as after a crash: the processing job is queued again.
        let db = Db::open(&dir.path().join("jobs.sqlite")).unwrap();
        assert_eq!(db.recover().unwrap(), 1);
        let j = db.get(a, "u").unwrap().unwrap();
        assert_eq!(
            (j.status.as_str(), j.attempts, j.n_dwi, j.n_other),
            ("queued", 1, 1, 1)
        );
        assert_eq!(j.ignored_series.len(), 1);
        db.claim().unwrap().unwrap();
        db.finish(
            a,
            JobState::Done,
            Some(&serde_json::json!({"x": 1})),
            None,
            None,
        )
        .unwrap();
        // A new instance after the job finished starts a new job for the study.
        let (d, _, _) = db.record_instance(&inst("1.1.3", "1.2", true)).unwrap();
        assert_ne!(d, a);
        assert_eq!(db.list("u").unwrap().len(), 2);
        assert_eq!(db.get(a, "u").unwrap().unwrap().summary.unwrap()["x"], 1);
    }

    #[test]
    fn acknowledgements_are_per_user_and_a_retry_clears_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("jobs.sqlite")).unwrap();
        let v0 = db.version();
        let (a, _, _) = db.record_instance(&inst("1.1.1", "1.2", true)).unwrap();
        assert!(db.version() > v0, "a new instance is a change");
        assert!(!db.acknowledge(a + 1, "ana").unwrap(), "no such job");
        assert_eq!(db.requeue(a).unwrap(), Some(JobState::Receiving));
        assert_eq!(
            db.get(a, "ana").unwrap().unwrap().status,
            JobState::Receiving,
            "a job still receiving is not queued by a retry"
        );
        db.promote(0.0).unwrap();
        db.claim().unwrap().unwrap();
        db.finish(a, JobState::Failed, None, Some("boom"), None)
            .unwrap();
        let v1 = db.version();
        assert!(db.acknowledge(a, "ana").unwrap());
        assert!(db.acknowledge(a, "ana").unwrap(), "twice is fine");
        assert!(db.version() > v1);
        assert!(db.get(a, "ana").unwrap().unwrap().acknowledged);
        assert!(!db.get(a, "ben").unwrap().unwrap().acknowledged);
        assert!(db.list("ana").unwrap()[0].acknowledged);
        assert_eq!(db.requeue(a).unwrap(), Some(JobState::Failed));
        let j = db.get(a, "ana").unwrap().unwrap();
        assert_eq!((j.status.as_str(), j.error), ("queued", None));
        assert!(!j.acknowledged, "a re-run result is a new result");
        assert_eq!(db.requeue(a + 7).unwrap(), None);
    }

    #[test]
    fn a_database_from_before_the_worklist_gains_the_patient_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.sqlite");
        {
            // The jobs table as the first release created it, with one finished job.
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, study_uid TEXT NOT NULL, \
                 status TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL, \
                 last_instance_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, summary TEXT, \
                 error TEXT, forward TEXT);
                 INSERT INTO jobs (study_uid, status, created_at, updated_at, last_instance_at) \
                 VALUES ('1.9', 'done', 1, 1, 1);",
            )
            .unwrap();
        }
        let db = Db::open(&path).unwrap();
        let j = db.list("u").unwrap();
        assert_eq!(j.len(), 1);
        assert_eq!((j[0].status.as_str(), &j[0].patient), ("done", &NOBODY));
        let who = PatientInfo {
            patient_id: "P1".into(),
            patient_name: "Doe^Jane".into(),
            ..NOBODY.clone()
        };
        let mut i = inst("1.1.9", "1.10", true);
        i.patient = &who;
        let (b, _, _) = db.record_instance(&i).unwrap();
        assert_eq!(db.get(b, "u").unwrap().unwrap().patient, who);
    }
}
