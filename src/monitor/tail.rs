//! Exactly-once tailing of a folder of line files, shared by the inference log (`ingest`)
//! and the labels folder (`labels`): each file's progress (identity, byte offset after the last
//! complete line, lines consumed) lives in `monitor_files` and moves in the same SQLite
//! transaction as the rows its lines made ([`LineSink::write`]). Torn trailing lines wait;
//! replaced or truncated files are read again from the start; bad lines are quarantined.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{Error, Result};

/// Longest line read when none is configured (`monitoring.max_line_bytes`).
pub const DEFAULT_MAX_LINE: usize = 32 << 20;

/// Bytes read from a file per transaction.
pub(crate) const READ_CHUNK: usize = 8 << 20;

/// What reading from an offset found.
pub(crate) enum Found {
    /// Complete lines: the first `n` bytes of the buffer, ending with a newline.
    Lines(usize),
    /// One line longer than the maximum, `len` bytes with its newline; its start.
    TooLong { len: u64, head: Vec<u8> },
    /// No complete line yet: this many bytes wait for their newline.
    Waiting(u64),
}

/// Quarantined text is cut here.
pub(crate) const QUARANTINE_TEXT: usize = 4096;

// ---------------------------------------------------------------------------------------------
// Tailing: shared by the inference log and the labels folder (`labels.rs`).
// ---------------------------------------------------------------------------------------------

/// A line that did not parse, kept in `monitor_quarantine` with its place.
#[derive(Debug, Clone)]
pub(crate) struct Quarantined {
    pub line: u64,
    pub offset: u64,
    pub error: String,
    pub text: String,
}

impl Quarantined {
    pub(crate) fn new(line: u64, offset: u64, error: String, text: &[u8]) -> Quarantined {
        let cut = &text[..text.len().min(QUARANTINE_TEXT)];
        Quarantined {
            line,
            offset,
            error,
            text: String::from_utf8_lossy(cut).into_owned(),
        }
    }
}

/// What a sink made of one chunk of complete lines.
pub(crate) struct Staged<D> {
    pub data: D,
    pub lines: u64,
    pub bad: Vec<Quarantined>,
}

/// Turns chunks of complete lines into rows: `stage` parses (no database), `write` stores what
/// it staged inside the transaction that also moves the file's offset.
pub(crate) trait LineSink {
    type Data;
    /// `chunk` ends with a newline and follows `lines_before` lines, at byte `offset` of `path`.
    fn stage(
        &mut self,
        path: &Path,
        chunk: &[u8],
        lines_before: u64,
        offset: u64,
    ) -> Staged<Self::Data>;
    fn write(&mut self, tx: &rusqlite::Transaction<'_>, data: Self::Data) -> Result<()>;
}

/// What a tailing pass did, summed over files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TailCounts {
    pub files: u64,
    pub lines: u64,
    pub corrupt: u64,
    pub bytes: u64,
    pub resets: u64,
    pub deleted: u64,
    pub waiting_bytes: u64,
}

/// Reads files from their stored offsets, exactly once, over its own connection to the store.
pub(crate) struct Tailer {
    pub conn: Connection,
    /// Lines longer than this are quarantined, not read.
    pub(crate) max_line: usize,
}

/// A file's progress as stored in `monitor_files`: (identity, offset, lines).
pub(crate) type Progress = Option<(String, i64, i64)>;

/// How a commit went.
pub(crate) enum Committed {
    Yes,
    /// Another ingester moved the file's offset since this one read it: nothing was written.
    Moved,
}

/// How many times a file is re-read after another ingester moved it, in one pass.
pub(crate) const MAX_MOVED: usize = 1000;

impl Tailer {
    pub(crate) fn open(db_path: &Path) -> Result<Tailer> {
        let (conn, _) = crate::store::open::connect(db_path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Tailer {
            conn,
            max_line: DEFAULT_MAX_LINE,
        })
    }

    /// Lines longer than `bytes` are quarantined (at least 1 KiB).
    pub(crate) fn set_max_line(&mut self, bytes: u64) {
        self.max_line = usize::try_from(bytes.max(1024)).unwrap_or(usize::MAX);
    }

    /// One pass over every file under `dir` (two levels deep) whose name ends in one of `exts`,
    /// oldest name first; files seen before under `dir` that are gone are marked deleted.
    pub(crate) fn dir<S: LineSink>(
        &mut self,
        dir: &Path,
        exts: &[&str],
        sink: &mut S,
        counts: &mut TailCounts,
    ) -> Result<()> {
        let root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let mut files = Vec::new();
        collect_files(&root, exts, 0, &mut files)?;
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()).then(a.cmp(b)));
        for path in &files {
            self.file(path, sink, counts)?;
        }
        let prefix = format!("{}/", root.to_string_lossy());
        let known: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT path FROM monitor_files WHERE deleted_at IS NULL")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        for p in known {
            let ours = p.starts_with(&prefix) && has_ext(Path::new(&p), exts);
            if ours && !Path::new(&p).exists() {
                let n = self.conn.execute(
                    "UPDATE monitor_files SET deleted_at = ?2, updated_at = ?2
                     WHERE path = ?1 AND deleted_at IS NULL",
                    params![p, crate::clock::now_ms()],
                )?;
                counts.deleted += n as u64;
            }
        }
        Ok(())
    }

    /// Reads what is new in one file, a chunk at a time, each chunk committed with its offset.
    ///
    /// Several ingesters may tail the same store at once (two `monitor` commands, the TUI, an
    /// agent's monitor step): each chunk's commit checks that the stored offset is still the
    /// one the chunk was read from (compare-and-set inside the write transaction). When another
    /// ingester got there first, this one writes nothing and reads on from the new offset, so
    /// every line counts once whatever the number of ingesters.
    pub(crate) fn file<S: LineSink>(
        &mut self,
        path: &Path,
        sink: &mut S,
        counts: &mut TailCounts,
    ) -> Result<()> {
        counts.files += 1;
        for _ in 0..MAX_MOVED {
            match self.file_once(path, sink, counts)? {
                Committed::Yes => return Ok(()),
                Committed::Moved => {}
            }
        }
        Err(Error::invalid(format!(
            "{}: its offset kept moving under this ingester ({MAX_MOVED} times in one pass)",
            path.display()
        )))
    }

    pub(crate) fn progress(&self, key: &str) -> Result<Progress> {
        Ok(self
            .conn
            .query_row(
                "SELECT identity, offset, lines FROM monitor_files WHERE path = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    /// Reads from the stored progress until the end of the file, or until another ingester is
    /// found to have moved it (`Moved`).
    pub(crate) fn file_once<S: LineSink>(
        &mut self,
        path: &Path,
        sink: &mut S,
        counts: &mut TailCounts,
    ) -> Result<Committed> {
        let key = path.to_string_lossy().to_string();
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Committed::Yes),
            Err(e) => return Err(Error::io(path, e)),
        };
        let identity = format!("{}:{}", meta.dev(), meta.ino());
        let mut expected = self.progress(&key)?;
        let (mut offset, mut lines, mut reset) = match &expected {
            None => (0u64, 0u64, false),
            Some((id, off, n)) if *id == identity && meta.len() >= *off as u64 => {
                (*off as u64, *n as u64, false)
            }
            Some(_) => (0, 0, true),
        };
        if meta.len() == offset && !reset {
            return Ok(Committed::Yes);
        }
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut buf =
            Vec::with_capacity(READ_CHUNK.min(meta.len().saturating_sub(offset) as usize + 1));
        loop {
            let (data, n, bad, advance) = match self
                .read_lines(&mut file, path, offset, &mut buf)?
            {
                Found::Lines(end) => {
                    let staged = sink.stage(path, &buf[..end], lines, offset);
                    (Some(staged.data), staged.lines, staged.bad, end as u64)
                }
                Found::TooLong { len, head } => {
                    let q = Quarantined::new(
                        lines + 1,
                        offset,
                        format!(
                            "a line of {len} bytes, longer than monitoring.max_line_bytes ({}): skipped",
                            self.max_line
                        ),
                        &head,
                    );
                    (None, 1, vec![q], len)
                }
                Found::Waiting(bytes) => {
                    if reset {
                        // Record the reset even when nothing complete is there yet.
                        let next = (identity.clone(), offset as i64, lines as i64);
                        if let Committed::Moved =
                            self.commit(sink, &key, &expected, &next, None, &[], true)?
                        {
                            return Ok(Committed::Moved);
                        }
                        counts.resets += 1;
                    }
                    counts.waiting_bytes += bytes;
                    return Ok(Committed::Yes);
                }
            };
            let next = (
                identity.clone(),
                (offset + advance) as i64,
                (lines + n) as i64,
            );
            if let Committed::Moved =
                self.commit(sink, &key, &expected, &next, data, &bad, reset)?
            {
                return Ok(Committed::Moved);
            }
            counts.lines += n;
            counts.corrupt += bad.len() as u64;
            counts.bytes += advance;
            counts.resets += u64::from(reset);
            reset = false;
            offset += advance;
            lines += n;
            expected = Some(next);
        }
    }

    /// Reads complete lines from `offset` into `buf`: up to [`READ_CHUNK`] bytes of them, or
    /// one line longer than that (up to `max_line`). A line longer than `max_line` is measured
    /// (to its newline) and reported as `TooLong` with its first bytes, not kept.
    pub(crate) fn read_lines(
        &self,
        file: &mut File,
        path: &Path,
        offset: u64,
        buf: &mut Vec<u8>,
    ) -> Result<Found> {
        let io = |e| Error::io(path, e);
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        buf.clear();
        file.by_ref()
            .take(READ_CHUNK as u64)
            .read_to_end(buf)
            .map_err(io)?;
        if let Some(i) = buf.iter().rposition(|b| *b == b'\n') {
            let end = i + 1;
            if end <= self.max_line {
                return Ok(Found::Lines(end));
            }
            // A chunk longer than the maximum line (only with a small max_line_bytes): stop
            // before the first over-long line, or report it when it comes first.
            let mut start = 0;
            for (k, b) in buf[..end].iter().enumerate() {
                if *b == b'\n' {
                    if k - start > self.max_line {
                        if start > 0 {
                            return Ok(Found::Lines(start));
                        }
                        let head = buf[..QUARANTINE_TEXT.min(k)].to_vec();
                        return Ok(Found::TooLong {
                            len: k as u64 + 1,
                            head,
                        });
                    }
                    start = k + 1;
                }
            }
            return Ok(Found::Lines(end));
        }
        if buf.len() < READ_CHUNK {
            return Ok(Found::Waiting(buf.len() as u64));
        }
        // One line longer than a chunk: read on to its newline, up to the maximum.
        while buf.len() <= self.max_line {
            let from = buf.len();
            let want = (self.max_line + 1 - from).min(READ_CHUNK);
            file.by_ref()
                .take(want as u64)
                .read_to_end(buf)
                .map_err(io)?;
            if let Some(i) = buf[from..].iter().position(|b| *b == b'\n') {
                let end = from + i + 1;
                buf.truncate(end);
                return Ok(Found::Lines(end));
            }
            if buf.len() == from {
                return Ok(Found::Waiting(buf.len() as u64));
            }
        }
        // Past the maximum: find the newline without keeping the bytes.
        let head = buf[..QUARANTINE_TEXT.min(buf.len())].to_vec();
        let mut len = buf.len() as u64;
        let mut scratch = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut scratch).map_err(io)?;
            if n == 0 {
                return Ok(Found::Waiting(len));
            }
            if let Some(i) = scratch[..n].iter().position(|b| *b == b'\n') {
                return Ok(Found::TooLong {
                    len: len + i as u64 + 1,
                    head,
                });
            }
            len += n as u64;
        }
    }

    /// Writes the sink's rows, the quarantined lines and the file's new progress in one
    /// transaction, if the stored progress is still `expected` (compare-and-set); otherwise
    /// writes nothing and says `Moved`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn commit<S: LineSink>(
        &mut self,
        sink: &mut S,
        path: &str,
        expected: &Progress,
        next: &(String, i64, i64),
        data: Option<S::Data>,
        bad: &[Quarantined],
        reset: bool,
    ) -> Result<Committed> {
        let now = crate::clock::now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored: Progress = tx
            .query_row(
                "SELECT identity, offset, lines FROM monitor_files WHERE path = ?1",
                [path],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if stored != *expected {
            return Ok(Committed::Moved);
        }
        if let Some(data) = data {
            sink.write(&tx, data)?;
        }
        {
            let mut q = tx.prepare_cached(
                "INSERT OR IGNORE INTO monitor_quarantine (path, line, offset, error, text, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for b in bad {
                q.execute(params![
                    path,
                    b.line as i64,
                    b.offset as i64,
                    b.error,
                    b.text,
                    now
                ])?;
            }
        }
        tx.execute(
            "INSERT INTO monitor_files (path, identity, offset, lines, corrupt, resets, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(path) DO UPDATE SET identity = ?2, offset = ?3, lines = ?4,
               corrupt = corrupt + ?5, resets = resets + ?6, deleted_at = NULL, updated_at = ?7",
            params![
                path,
                next.0,
                next.1,
                next.2,
                bad.len() as i64,
                i64::from(reset),
                now
            ],
        )?;
        tx.commit()?;
        Ok(Committed::Yes)
    }

    /// Quarantined lines under `prefix` (a folder; empty for all): (path, 1-based line, error).
    pub(crate) fn quarantine(&self, prefix: &str) -> Result<Vec<(String, u64, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT path, line, error FROM monitor_quarantine
             WHERE substr(path, 1, length(?1)) = ?1 ORDER BY path, line",
        )?;
        let rows = stmt.query_map([prefix], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

pub(crate) fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| exts.contains(&x))
}

pub(crate) fn collect_files(
    dir: &Path,
    exts: &[&str],
    depth: usize,
    out: &mut Vec<PathBuf>,
) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && depth < 2 {
            collect_files(&path, exts, depth + 1, out)?;
        } else if kind.is_file() && has_ext(&path, exts) {
            out.push(path);
        }
    }
    Ok(())
}
