//! Opening the store's database file, the one way every part of cerebro connects to it
//! ([`connect`]; [`super::SqliteStore::open`] on top).
//!
//! - **First launch only creates.** A missing `cerebro.db` is created whole: built and migrated
//!   under a temporary name beside it, then hard-linked into place (which fails rather than
//!   replace a file another process created meanwhile, whose store is then used). So a
//!   `cerebro.db` of zero bytes is never cerebro's own doing: it is refused as empty or
//!   damaged ([`Access`] is not decided for it), never silently taken for a new store.
//! - **Read-only stores are read.** When the file or its folder cannot be written (permissions,
//!   a read-only mount, a file attribute), the database is opened read-only: with SQLite's
//!   `mode=ro`, or, when not even WAL's shared-memory file can be created beside it (a
//!   read-only folder), as `immutable` (nothing can change it there). Reads work; the store's
//!   writes fail with [`read_only_error`], naming the file.
//! - **One message per failure.** SQLite's errors become one sentence naming the file, what
//!   went wrong and what to do ([`open_error`]), instead of SQLite's message repeated by each
//!   layer of the error chain.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::{Error, Result};

/// Whether a connection may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// The file or its folder cannot be written: reads only.
    ReadOnly,
}

/// Connects to the database at `db_path`, which must exist (see [`create_if_missing`]):
/// read-write when it can be written, read-only otherwise (see the module documentation).
///
/// Errors: a zero-length file (empty or damaged), a file that is not a SQLite database, a folder
/// that cannot be read, each as one message naming `db_path` and what to do.
pub fn connect(db_path: &Path) -> Result<(Connection, Access)> {
    refuse_empty(db_path)?;
    let rw = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let first = Connection::open_with_flags(db_path, rw).and_then(|c| {
        // SQLite falls back to read-only by itself when the file cannot be opened for writing.
        let ro = c.is_readonly(rusqlite::MAIN_DB)?;
        probe(&c)?;
        Ok((c, ro))
    });
    match first {
        Ok((c, false)) => Ok((c, Access::ReadWrite)),
        Ok((c, true)) => Ok((c, Access::ReadOnly)),
        Err(e) if read_only_symptom(&e) => connect_read_only(db_path),
        Err(e) => Err(open_error(db_path, &e)),
    }
}

/// Creates the database at `db_path` when there is no file there (a first launch): migrated to
/// the current schema under a temporary name, then linked into place. Returns whether it
/// created it. Another process creating it at the same time is no error: one file wins whole.
pub fn create_if_missing(db_path: &Path) -> Result<bool> {
    match fs::symlink_metadata(db_path) {
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(db_path, e)),
    }
    let dir = db_path.parent().unwrap_or(Path::new("."));
    let name = db_path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(
        ".{name}.new-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let built = build_new(&tmp, db_path);
    let placed = built.and_then(|()| match fs::hard_link(&tmp, db_path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        // A file system without hard links: rename, which replaces; checked just before.
        Err(_) if !db_path.exists() => fs::rename(&tmp, db_path)
            .map(|()| true)
            .map_err(|e| Error::io(db_path, e)),
        Err(_) => Ok(false),
    });
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = fs::remove_file(PathBuf::from(format!("{}{suffix}", tmp.display())));
    }
    placed
}

/// A new database at `tmp`, in WAL mode and at the current schema, closed (so its WAL is
/// checkpointed into it and removed).
fn build_new(tmp: &Path, db_path: &Path) -> Result<()> {
    let failed = |e: rusqlite::Error| match e.sqlite_error_code() {
        // The folder cannot be written: say so of the database the user knows.
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
            Error::StoreFile {
                path: db_path.to_path_buf(),
                message: "there is no store database yet and it cannot be created here (the \
                          folder cannot be written); make the folder writable, or run cerebro \
                          in a workspace whose store folder is"
                    .into(),
            }
        }
        _ => open_error(db_path, &e),
    };
    let mut conn = Connection::open(tmp).map_err(failed)?;
    let _mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(failed)?;
    super::migrations::migrate(&mut conn, db_path).map_err(|e| match e {
        Error::Store(e) => failed(e),
        e => e,
    })?;
    conn.close().map_err(|(_, e)| failed(e))
}

/// Reads the schema, which makes SQLite open the file and, in WAL mode, its shared memory.
fn probe(c: &Connection) -> rusqlite::Result<()> {
    c.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
}

fn read_only_symptom(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied)
    )
}

/// Opens `db_path` read-only: `mode=ro` first, `immutable` when WAL's shared memory cannot be
/// created beside it.
fn connect_read_only(db_path: &Path) -> Result<(Connection, Access)> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let uri = |query: &str| format!("file:{}?{query}", uri_path(db_path));
    let mut last = None;
    for query in ["mode=ro", "immutable=1"] {
        match Connection::open_with_flags(uri(query), flags).and_then(|c| probe(&c).map(|()| c)) {
            Ok(c) => return Ok((c, Access::ReadOnly)),
            Err(e) => last = Some(e),
        }
    }
    Err(open_error(db_path, &last.expect("tried")))
}

/// `path` as the path part of a SQLite URI: absolute, with `%`, `?` and `#` escaped.
fn uri_path(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::new();
    for ch in abs.to_string_lossy().chars() {
        match ch {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// A zero-length `cerebro.db` is refused: cerebro never leaves one (see the module docs).
fn refuse_empty(db_path: &Path) -> Result<()> {
    match fs::metadata(db_path) {
        Ok(m) if m.is_file() && m.len() == 0 => Err(Error::StoreFile {
            path: db_path.to_path_buf(),
            message: "the store database is empty (0 bytes), so it holds no runs, models or \
                      monitoring data: it was probably cut short by a crash or a full disk. \
                      Restore it from a backup; or, to start over with an empty store, delete \
                      it and run cerebro again"
                .into(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::StoreFile {
            path: db_path.to_path_buf(),
            message: "the store database does not exist".into(),
        }),
        Err(e) => Err(Error::io(db_path, e)),
    }
}

/// The error of a write to a store opened read-only.
pub fn read_only_error(db_path: &Path) -> Error {
    Error::StoreFile {
        path: db_path.to_path_buf(),
        message: "the store is read-only (the file or its folder cannot be written), so this \
                  command, which changes it, cannot run; make the file and its folder writable \
                  (permissions, the mount, free space) and run it again. Commands that only \
                  read work as they are"
            .into(),
    }
}

/// One message for a SQLite failure opening or setting up `db_path`: what went wrong and what
/// to do.
pub fn open_error(db_path: &Path, e: &rusqlite::Error) -> Error {
    let what = match e.sqlite_error_code() {
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            "cannot open the store database; check that it and its folder exist and that this \
             user may read them"
                .to_string()
        }
        Some(ErrorCode::NotADatabase) => {
            "this is not a SQLite database (damaged, or another file in its place); restore it \
             from a backup, or move it away to start an empty store"
                .to_string()
        }
        Some(ErrorCode::DatabaseCorrupt) => {
            "the store database is damaged (SQLite: malformed); restore it from a backup \
             (`sqlite3 FILE 'PRAGMA integrity_check'` lists what is wrong)"
                .to_string()
        }
        Some(ErrorCode::DiskFull) => {
            "the disk holding the store is full; free some space and run again".to_string()
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "another process keeps the store locked; wait for it to finish, or stop it, and run \
             again"
                .to_string()
        }
        Some(ErrorCode::ReadOnly) => return read_only_error(db_path),
        _ => format!(
            "cannot use the store database: {}",
            crate::error::sqlite_text(e)
        ),
    };
    Error::StoreFile {
        path: db_path.to_path_buf(),
        message: what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths_escape_what_sqlite_would_read_as_query_or_fragment() {
        assert_eq!(uri_path(Path::new("/a/b%?#c.db")), "/a/b%25%3f%23c.db");
    }

    #[test]
    fn a_missing_database_is_created_whole_and_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cerebro.db");
        assert!(create_if_missing(&db).unwrap());
        assert!(!create_if_missing(&db).unwrap());
        let (conn, access) = connect(&db).unwrap();
        assert_eq!(access, Access::ReadWrite);
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, super::super::SCHEMA_VERSION);
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".new-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_zero_length_database_is_refused_not_taken_for_a_new_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cerebro.db");
        fs::write(&db, b"").unwrap();
        let err = connect(&db).unwrap_err().to_string();
        assert!(
            err.contains("cerebro.db") && err.contains("empty (0 bytes)"),
            "{err}"
        );
        assert!(!create_if_missing(&db).unwrap());
        assert_eq!(fs::metadata(&db).unwrap().len(), 0, "left as it was");
    }

    #[test]
    fn a_file_that_is_not_a_database_gets_one_message_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cerebro.db");
        fs::write(&db, vec![b'x'; 8192]).unwrap();
        let err = connect(&db).unwrap_err().to_string();
        assert!(err.starts_with(&db.display().to_string()), "{err}");
        assert!(err.contains("not a SQLite database"), "{err}");
    }
}
