//! Ground truth that arrives after the predictions: a labels folder of CSV files (a header
//! naming an `id` and a `label` column) or JSON lines (`{"id": …, "label": …}`), tailed exactly
//! once into `monitor_labels` with the same machinery as the inference log (`ingest::Tailer`:
//! offsets in `monitor_files` committed with the rows, torn lines wait, truncated, replaced and
//! deleted files handled, bad lines in `monitor_quarantine`).
//!
//! **Values.** A label is 1 when it is the positive class (`dataset.positive`), `1` or `true`;
//! 0 when it is `0`, `false` or any other class name (the task is binary: everything that is not
//! the positive class is the negative one, as in training). An empty label is a bad line.
//!
//! **Bad input is never fatal.** A garbage line, a JSON line without `id` or `label`, a CSV line
//! with too few fields: quarantined with file and line, counted in the report. A CSV file whose
//! header lacks an id or a label column: every line of it is quarantined (nothing is guessed,
//! nothing lost). A label for an id no ingested prediction has is stored (its prediction may
//! still come) and counted as `unmatched`; `quality::unmatched_labels` counts them at any time.
//! `quality` joins the labels with the predictions `Ingestor::with_predictions` keeps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::params;
use serde::Serialize;

use super::ingest::{LineSink, Quarantined, Staged, TailCounts, Tailer};
use crate::error::Result;

/// File name endings read from the labels folder.
pub const LABEL_EXTENSIONS: [&str; 3] = ["csv", "jsonl", "json"];

/// How label files name their columns and the positive class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelOptions {
    /// The target value that counts as 1 (config `dataset.positive`).
    pub positive: String,
    /// Names accepted for the id column besides `id` (e.g. the config's `dataset.id`).
    pub id_aliases: Vec<String>,
    /// Names accepted for the label column besides `label` (e.g. the config's `dataset.target`).
    pub label_aliases: Vec<String>,
}

impl LabelOptions {
    pub fn new(positive: &str) -> LabelOptions {
        LabelOptions {
            positive: positive.to_string(),
            id_aliases: Vec::new(),
            label_aliases: Vec::new(),
        }
    }

    /// From a workspace's dataset section: its positive class, id and target names.
    pub fn from_dataset(d: &crate::config::DatasetConfig) -> LabelOptions {
        LabelOptions {
            positive: d.positive.clone(),
            id_aliases: d.id.iter().cloned().collect(),
            label_aliases: vec![d.target.clone()],
        }
    }

    fn is_id(&self, name: &str) -> bool {
        name == "id" || self.id_aliases.iter().any(|a| a == name)
    }

    fn is_label(&self, name: &str) -> bool {
        name == "label" || self.label_aliases.iter().any(|a| a == name)
    }

    /// 1 or 0, or why not.
    fn value(&self, text: &str) -> std::result::Result<u8, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty label".into());
        }
        if t == self.positive {
            return Ok(1);
        }
        Ok(match t.to_ascii_lowercase().as_str() {
            "1" | "true" | "1.0" => 1,
            _ => 0,
        })
    }
}

/// What one label ingestion pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LabelReport {
    pub files: u64,
    /// Complete lines consumed (CSV headers included).
    pub lines: u64,
    /// Labels stored (a later label for the same id replaces the earlier one).
    pub labels: u64,
    /// Labels stored whose id no ingested prediction has (yet).
    pub unmatched: u64,
    /// Lines quarantined.
    pub corrupt: u64,
    pub bytes: u64,
    pub resets: u64,
    pub deleted: u64,
    pub waiting_bytes: u64,
}

/// Ingests a labels folder into `monitor_labels`.
pub struct LabelIngestor {
    tail: Tailer,
    sink: LabelSink,
}

struct LabelSink {
    options: LabelOptions,
    /// Per CSV file: the (id, label) column positions, or why the header is unusable.
    headers: HashMap<PathBuf, std::result::Result<(usize, usize), String>>,
    labels: u64,
    unmatched: u64,
}

struct LabelRow {
    record_id: String,
    label: u8,
    source: String,
}

impl LabelIngestor {
    /// Opens its own connection to the store database at `db_path` (already migrated).
    pub fn open(db_path: &Path, options: LabelOptions) -> Result<LabelIngestor> {
        Ok(LabelIngestor {
            tail: Tailer::open(db_path)?,
            sink: LabelSink {
                options,
                headers: HashMap::new(),
                labels: 0,
                unmatched: 0,
            },
        })
    }

    /// Lines longer than `max_line_bytes` are quarantined (`monitoring.max_line_bytes`).
    pub fn with_max_line(mut self, max_line_bytes: u64) -> LabelIngestor {
        self.tail.set_max_line(max_line_bytes);
        self
    }

    /// One pass over every label file under `dir` (which must not be inside the log folder).
    pub fn ingest_dir(&mut self, dir: &Path) -> Result<LabelReport> {
        let mut counts = TailCounts::default();
        let result = self
            .tail
            .dir(dir, &LABEL_EXTENSIONS, &mut self.sink, &mut counts);
        let report = LabelReport {
            files: counts.files,
            lines: counts.lines,
            labels: self.sink.labels,
            unmatched: self.sink.unmatched,
            corrupt: counts.corrupt,
            bytes: counts.bytes,
            resets: counts.resets,
            deleted: counts.deleted,
            waiting_bytes: counts.waiting_bytes,
        };
        self.sink.labels = 0;
        self.sink.unmatched = 0;
        result.map(|()| report)
    }

    /// Quarantined lines of files under `dir`: (path, 1-based line, error).
    pub fn quarantine(&self, dir: &Path) -> Result<Vec<(String, u64, String)>> {
        let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        self.tail
            .quarantine(&format!("{}/", root.to_string_lossy()))
    }

    /// Labels stored whose id matches no ingested prediction.
    pub fn unmatched(&self) -> Result<u64> {
        super::quality::unmatched_labels(&self.tail.conn)
    }
}

impl LineSink for LabelSink {
    type Data = Vec<LabelRow>;

    fn stage(
        &mut self,
        path: &Path,
        chunk: &[u8],
        lines_before: u64,
        offset: u64,
    ) -> Staged<Vec<LabelRow>> {
        let csv = path.extension().is_some_and(|x| x == "csv");
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut rows = Vec::new();
        let mut bad = Vec::new();
        let (mut n, mut pos) = (0u64, 0usize);
        for raw in chunk.split_inclusive(|b| *b == b'\n') {
            n += 1;
            let line_no = lines_before + n;
            let at = offset + pos as u64;
            pos += raw.len();
            let text = raw.strip_suffix(b"\n").unwrap_or(raw);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            let parsed = match std::str::from_utf8(text) {
                Err(e) => Err(format!("not UTF-8: {e}")),
                Ok(t) if csv => {
                    if line_no == 1 {
                        let h = csv_header(t, &self.options);
                        self.headers.insert(path.to_path_buf(), h.clone());
                        match h {
                            Ok(_) => continue,
                            Err(e) => Err(e),
                        }
                    } else {
                        let header = self
                            .headers
                            .entry(path.to_path_buf())
                            .or_insert_with(|| read_header(path, &self.options));
                        match header {
                            Ok(cols) => csv_row(t, *cols, &self.options),
                            Err(e) => Err(format!("not read: {e}")),
                        }
                    }
                }
                Ok(t) if t.trim().is_empty() => continue,
                Ok(t) => json_row(t, &self.options),
            };
            match parsed {
                Ok((record_id, label)) => rows.push(LabelRow {
                    record_id,
                    label,
                    source: format!("{name}:{line_no}"),
                }),
                Err(e) => bad.push(Quarantined::new(line_no, at, e, text)),
            }
        }
        Staged {
            data: rows,
            lines: n,
            bad,
        }
    }

    fn write(&mut self, tx: &rusqlite::Transaction<'_>, rows: Vec<LabelRow>) -> Result<()> {
        let now = crate::clock::now_ms();
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO monitor_labels (record_id, label, arrived_at, source)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut known = tx.prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM monitor_predictions WHERE record_id = ?1)",
        )?;
        for r in &rows {
            insert.execute(params![r.record_id, r.label, now, r.source])?;
            let matched: bool = known.query_row([&r.record_id], |row| row.get(0))?;
            self.unmatched += u64::from(!matched);
        }
        self.labels += rows.len() as u64;
        Ok(())
    }
}

/// The id and label column positions of a CSV header.
fn csv_header(line: &str, o: &LabelOptions) -> std::result::Result<(usize, usize), String> {
    let fields = csv_fields(line).map_err(|e| format!("header: {e}"))?;
    let id = fields.iter().position(|f| o.is_id(f.trim()));
    let label = fields.iter().position(|f| o.is_label(f.trim()));
    match (id, label) {
        (Some(i), Some(l)) => Ok((i, l)),
        _ => Err(format!(
            "the header has columns {fields:?}; a labels file needs an `id` and a `label` column"
        )),
    }
}

/// The header of a CSV file read earlier (a restart reads on after it).
fn read_header(path: &Path, o: &LabelOptions) -> std::result::Result<(usize, usize), String> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut first = String::new();
    // A header is short; a first line of megabytes is no header.
    std::io::BufReader::new(std::io::Read::take(file, 64 * 1024))
        .read_line(&mut first)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    csv_header(first.trim_end_matches(['\n', '\r']), o)
}

fn csv_row(
    line: &str,
    (id, label): (usize, usize),
    o: &LabelOptions,
) -> std::result::Result<(String, u8), String> {
    let fields = csv_fields(line)?;
    let (Some(i), Some(l)) = (fields.get(id), fields.get(label)) else {
        return Err(format!(
            "{} fields; the header puts id in column {} and label in column {}",
            fields.len(),
            id + 1,
            label + 1
        ));
    };
    let i = i.trim();
    if i.is_empty() {
        return Err("empty id".into());
    }
    Ok((i.to_string(), o.value(l)?))
}

/// Splits one CSV line (RFC 4180: commas, double-quoted fields with `""` for a quote) with
/// the `csv` crate. Files are tailed line by line, so a quoted field cannot span lines: a quote
/// still open at the end of the line is an error.
fn csv_fields(line: &str) -> std::result::Result<Vec<String>, String> {
    let text = format!("{line}\n");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Ok(vec![String::new()]),
        Err(e) => return Err(e.to_string()),
    }
    // An unclosed quote swallows the line's end.
    if record.iter().any(|f| f.contains('\n')) {
        return Err("an unclosed quote".into());
    }
    Ok(record.iter().map(str::to_string).collect())
}

fn json_row(line: &str, o: &LabelOptions) -> std::result::Result<(String, u8), String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let obj = v
        .as_object()
        .ok_or_else(|| "not a JSON object".to_string())?;
    let find = |is: &dyn Fn(&str) -> bool| obj.iter().find(|(k, _)| is(k)).map(|(_, v)| v);
    let id = find(&|k| o.is_id(k)).ok_or("no `id` field")?;
    let label = find(&|k| o.is_label(k)).ok_or("no `label` field")?;
    let id = match id {
        serde_json::Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        other => return Err(format!("`id` must be a string or number, got {other}")),
    };
    let label = match label {
        serde_json::Value::String(s) => o.value(s)?,
        serde_json::Value::Bool(b) => u8::from(*b),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(1.0) => 1,
            Some(0.0) => 0,
            _ => return Err(format!("a numeric label must be 0 or 1, got {n}")),
        },
        other => {
            return Err(format!(
                "`label` must be a string, number or boolean, got {other}"
            ));
        }
    };
    Ok((id, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_quotes() {
        assert_eq!(
            csv_fields(r#"a,"b,c","d""e",,"#).unwrap(),
            ["a", "b,c", "d\"e", "", ""]
        );
        assert!(csv_fields(r#"a,"b"#).is_err());
        assert_eq!(csv_fields("").unwrap(), [""]);
        assert_eq!(csv_fields("x").unwrap(), ["x"]);
        assert_eq!(csv_fields(r#""a""b",c"#).unwrap(), ["a\"b", "c"]);
    }

    #[test]
    fn label_values() {
        let o = LabelOptions::new("Living");
        for (t, want) in [
            ("Living", 1),
            ("Deceased", 0),
            ("1", 1),
            ("0", 0),
            ("true", 1),
            ("FALSE", 0),
        ] {
            assert_eq!(o.value(t), Ok(want), "{t}");
        }
        assert!(o.value(" ").is_err());
        assert_eq!(
            json_row(r#"{"id": 7, "label": true}"#, &o),
            Ok(("7".into(), 1))
        );
        assert!(json_row(r#"{"id": 7}"#, &o).is_err());
        assert!(json_row(r#"{"id": 7, "label": 2}"#, &o).is_err());
    }
}
