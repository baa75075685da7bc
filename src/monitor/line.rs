//! One inference-log line made into what ingestion adds to windows: its fields
//! ([`LineFields`]), and per record one [`Hit`] per baseline feature (a percentile bin and the
//! value, a category, unseen or null) through the model version's [`BaselineBinner`] — by a
//! single-pass parser for what `serve::log` writes (`fast`), with `serde_json` deciding
//! anything unusual, so both accept and reject the same lines.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use super::sample::NumericSample;
use super::stats::Binner;
use super::stats::FINE_BINS;
use super::window::{Baseline, FeatureBaseline, FeatureCounts, RAW_PREFIX};
use crate::data::raw::Cell;

// ---------------------------------------------------------------------------------------------
// The inference log.
// ---------------------------------------------------------------------------------------------

/// A baseline made ready to bin records: a binner per numeric feature, an index per categorical
/// one, and where in a record each feature comes from (not `data::prepare::Prepared`, a prepared
/// dataset).
pub(crate) struct BaselineBinner {
    pub(crate) baseline: Arc<Baseline>,
    pub(crate) binners: Vec<Option<Binner>>,
    /// The record keys read, as bytes, to match them without decoding: the features, or the
    /// raw input columns of a pipeline model.
    pub(crate) names: Vec<Box<[u8]>>,
    pub(crate) index: Vec<CategoryIndex>,
    /// Where each baseline entry's value comes from.
    pub(crate) sources: Vec<Source>,
    /// [`Baseline::row_features`].
    pub(crate) row_features: Vec<usize>,
}

/// Where a baseline entry's value comes from in a record.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    /// The record key at this position of `BaselineBinner::names`.
    Key(usize),
    /// A feature derived through the preparation: numeric or categorical, by position.
    Numeric(usize),
    Categorical(usize),
    /// Nothing in the record feeds it.
    Missing,
}

/// Finds a category's position: a linear scan for a few categories, a map beyond.
pub(crate) enum CategoryIndex {
    None,
    Few(Vec<Box<str>>),
    Many(HashMap<String, usize>),
}

impl CategoryIndex {
    pub(crate) fn get(&self, s: &str) -> Option<usize> {
        match self {
            CategoryIndex::None => None,
            CategoryIndex::Few(v) => v.iter().position(|c| &**c == s),
            CategoryIndex::Many(m) => m.get(s).copied(),
        }
    }
}

impl BaselineBinner {
    pub(crate) fn new(baseline: Arc<Baseline>) -> BaselineBinner {
        let binners = baseline
            .features
            .iter()
            .map(|f| match f {
                FeatureBaseline::Numeric { baseline, .. } => Some(baseline.binner()),
                FeatureBaseline::Categorical { .. } => None,
            })
            .collect();
        let index = baseline
            .features
            .iter()
            .map(|f| match f {
                FeatureBaseline::Categorical { categories, .. } if categories.len() <= 12 => {
                    CategoryIndex::Few(categories.iter().map(|c| c.as_str().into()).collect())
                }
                FeatureBaseline::Categorical { categories, .. } => CategoryIndex::Many(
                    categories
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.clone(), i))
                        .collect(),
                ),
                FeatureBaseline::Numeric { .. } => CategoryIndex::None,
            })
            .collect();
        let (names, sources): (Vec<Box<[u8]>>, Vec<Source>) = match &baseline.preparation {
            None => (
                baseline
                    .features
                    .iter()
                    .map(|f| f.name().as_bytes().into())
                    .collect(),
                (0..baseline.features.len()).map(Source::Key).collect(),
            ),
            Some(prep) => {
                let raw = prep.schema.names();
                let sources = baseline
                    .features
                    .iter()
                    .map(|f| {
                        let name = f.name();
                        if let Some(col) = name.strip_prefix(RAW_PREFIX) {
                            raw.iter()
                                .position(|r| r == col)
                                .map_or(Source::Missing, Source::Key)
                        } else if let Some(i) = prep.features.numeric.iter().position(|n| n == name)
                        {
                            Source::Numeric(i)
                        } else if let Some(i) =
                            prep.features.categorical.iter().position(|n| n == name)
                        {
                            Source::Categorical(i)
                        } else {
                            Source::Missing
                        }
                    })
                    .collect();
                (raw.iter().map(|n| n.as_bytes().into()).collect(), sources)
            }
        };
        BaselineBinner {
            row_features: baseline.row_features(),
            baseline,
            binners,
            names,
            index,
            sources,
        }
    }

    /// One hit per baseline entry for a record whose value of key `k` is `val(k)`: read directly,
    /// or for a pipeline model derived through its preparation (the scoring path), so the
    /// window counts the features the model saw.
    pub(crate) fn record_hits<'a>(&self, val: impl Fn(usize) -> Val<'a>, out: &mut Vec<Hit>) {
        let Some(prep) = &self.baseline.preparation else {
            for (i, s) in self.sources.iter().enumerate() {
                let v = match *s {
                    Source::Key(k) => val(k),
                    _ => Val::Null,
                };
                out.push(self.hit(i, &v));
            }
            return;
        };
        let mut batch = crate::data::raw::RawBatch::new(self.names.len());
        batch.rows = 1;
        for (k, col) in batch.columns.iter_mut().enumerate() {
            let cell = match val(k) {
                Val::Num(x) => Cell::Num(x),
                Val::Str(t) => Cell::Text(t.to_string()),
                Val::Bool(b) => Cell::Bool(b),
                Val::Null | Val::Other => Cell::Null,
            };
            let ty = prep.schema.inputs[k].ty;
            col.push(crate::data::raw::coerce(cell, ty).unwrap_or(Cell::Null));
        }
        let features = prep.transform(&batch).ok();
        for (i, s) in self.sources.iter().enumerate() {
            let hit = match (*s, &features) {
                (Source::Key(k), _) => self.hit(i, &val(k)),
                (Source::Numeric(j), Some(f)) => match f.numeric[j][0] {
                    Some(x) => self.hit(i, &Val::Num(x)),
                    None => Hit::Null,
                },
                (Source::Categorical(j), Some(f)) => match &f.categorical[j][0] {
                    Some(t) => self.hit(i, &Val::Str(t)),
                    None => Hit::Null,
                },
                _ => Hit::Null,
            };
            out.push(hit);
        }
    }

    /// One record's row of the model's features from its hits (one per baseline entry): a
    /// numeric value, a category's position in the baseline (an unseen value one past the
    /// last), `None` when missing — as `drift::baseline_rows` encodes training rows.
    pub(crate) fn row(&self, hits: &[Hit]) -> Vec<Option<f64>> {
        self.row_features
            .iter()
            .map(|&i| match (hits[i], &self.baseline.features[i]) {
                (Hit::Bin(_, x), _) => Some(x),
                (Hit::Category(k), _) => Some(k as f64),
                (Hit::Unseen, FeatureBaseline::Categorical { categories, .. }) => {
                    Some(categories.len() as f64)
                }
                _ => None,
            })
            .collect()
    }

    pub(crate) fn empty_list(&self) -> Vec<FeatureCounts> {
        self.baseline
            .features
            .iter()
            .map(|f| match f {
                FeatureBaseline::Numeric { .. } => FeatureCounts::Numeric {
                    counts: vec![0; FINE_BINS],
                    nulls: 0,
                    min: None,
                    max: None,
                    sample: Some(NumericSample::new()),
                },
                FeatureBaseline::Categorical { categories, .. } => FeatureCounts::Categorical {
                    counts: vec![0; categories.len()],
                    nulls: 0,
                    unseen: 0,
                },
            })
            .collect()
    }

    /// Where one value of feature `i` goes.
    pub(crate) fn hit(&self, i: usize, v: &Val<'_>) -> Hit {
        match &self.baseline.features[i] {
            FeatureBaseline::Numeric { .. } => {
                let x = match v {
                    Val::Num(n) => Some(*n),
                    Val::Str(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                match (x, &self.binners[i]) {
                    (Some(x), Some(b)) if !x.is_nan() => Hit::Bin(b.bin(x), x),
                    _ => Hit::Null,
                }
            }
            FeatureBaseline::Categorical { .. } => {
                let found = match v {
                    Val::Null | Val::Other => return Hit::Null,
                    Val::Str(s) => self.index[i].get(s),
                    Val::Num(n) => self.index[i].get(&n.to_string()),
                    Val::Bool(b) => self.index[i].get(if *b { "true" } else { "false" }),
                };
                match found {
                    Some(k) => Hit::Category(k),
                    None => Hit::Unseen,
                }
            }
        }
    }
}

/// Looks up the baseline of a model version (`None`: no baseline; counts without features).
pub type BaselineLoader = Box<dyn FnMut(&str, i64) -> Option<Arc<Baseline>> + Send>;

/// Baselines by model version, loaded once; the last one used is checked first.
pub(crate) struct Baselines {
    pub(crate) loader: BaselineLoader,
    pub(crate) cache: HashMap<(String, i64), Option<Arc<BaselineBinner>>>,
    pub(crate) last: Option<(String, i64, Option<Arc<BaselineBinner>>)>,
}

impl Baselines {
    pub(crate) fn get(&mut self, model: &str, version: i64) -> Option<Arc<BaselineBinner>> {
        if let Some((m, v, p)) = &self.last
            && *v == version
            && m == model
        {
            return p.clone();
        }
        let key = (model.to_string(), version);
        let p = match self.cache.get(&key) {
            Some(p) => p.clone(),
            None => {
                let p = (self.loader)(model, version).map(|p| Arc::new(BaselineBinner::new(p)));
                self.cache.insert(key, p.clone());
                p
            }
        };
        self.last = Some((model.to_string(), version, p.clone()));
        p
    }
}

/// Per-line buffers, reused so that a line allocates nothing.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) predictions: Vec<u8>,
    pub(crate) probabilities: Vec<f64>,
    /// One hit per baseline feature per record, in baseline order.
    pub(crate) hits: Vec<Hit>,
    /// Per record: the id column's value (only when capturing predictions).
    pub(crate) ids: Vec<Option<String>>,
    /// Per feature: the current record's value, as a place in the line.
    pub(crate) slots: Vec<Slot>,
}

impl Scratch {
    pub(crate) fn clear(&mut self) {
        self.predictions.clear();
        self.probabilities.clear();
        self.hits.clear();
        self.ids.clear();
    }
}

/// The fields of a line that ingestion uses; the per-record parts are in `Scratch`.
pub(crate) struct LineFields<'a> {
    pub(crate) timestamp_ms: i64,
    pub(crate) endpoint: Cow<'a, str>,
    pub(crate) model: Cow<'a, str>,
    /// 0 when the line names none.
    pub(crate) version: i64,
    pub(crate) status: u16,
    pub(crate) latency_us: u64,
    pub(crate) unseen: u64,
    pub(crate) error: bool,
    pub(crate) request_id: Option<Cow<'a, str>>,
    pub(crate) records: usize,
}

/// Parses one line: the fast path for what the writer writes, else serde (which also words the
/// error of a corrupt line). `capture` is `Some(id column)` when record ids are wanted.
pub(crate) fn parse_line<'a>(
    text: &'a [u8],
    baselines: &mut Baselines,
    capture: Option<Option<&str>>,
    scratch: &mut Scratch,
) -> std::result::Result<LineFields<'a>, String> {
    scratch.clear();
    if let Ok(s) = std::str::from_utf8(text)
        && let Some(l) = fast::line(s, baselines, capture, scratch)
    {
        return Ok(l);
    }
    scratch.clear();
    slow_line(text, baselines, capture, scratch)
}

/// The line fields ingestion needs; a line without one of the required ones is corrupt.
#[derive(Deserialize)]
pub(crate) struct Line<'a> {
    #[serde(default, borrow)]
    pub(crate) request_id: Option<Scalar<'a>>,
    pub(crate) timestamp_ms: i64,
    #[serde(borrow)]
    pub(crate) endpoint: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) model: Cow<'a, str>,
    pub(crate) version: Option<i64>,
    pub(crate) status: u16,
    pub(crate) latency_us: u64,
    #[serde(default, borrow)]
    pub(crate) inputs: Option<Vec<HashMap<Cow<'a, str>, Scalar<'a>>>>,
    #[serde(default)]
    pub(crate) predictions: Vec<u8>,
    #[serde(default)]
    pub(crate) probabilities: Vec<f64>,
    #[serde(default)]
    pub(crate) unseen_categories: u64,
    #[serde(default)]
    pub(crate) error: Option<serde_json::Value>,
}

pub(crate) fn slow_line<'a>(
    text: &'a [u8],
    baselines: &mut Baselines,
    capture: Option<Option<&str>>,
    scratch: &mut Scratch,
) -> std::result::Result<LineFields<'a>, String> {
    let line: Line<'a> = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let version = line.version.unwrap_or(0);
    let inputs = line.inputs.unwrap_or_default();
    if let Some(binner) = baselines.get(&line.model, version) {
        for rec in &inputs {
            let vals: Vec<Val<'_>> = binner
                .names
                .iter()
                .map(|n| {
                    std::str::from_utf8(n)
                        .ok()
                        .and_then(|n| rec.get(n))
                        .map(Scalar::val)
                        .unwrap_or(Val::Null)
                })
                .collect();
            binner.record_hits(|k| vals[k], &mut scratch.hits);
        }
    }
    if let Some(Some(id_column)) = capture {
        for rec in &inputs {
            scratch
                .ids
                .push(rec.get(id_column).and_then(|v| v.val().id()));
        }
    }
    scratch.predictions = line.predictions;
    scratch.probabilities = line.probabilities;
    let request_id = match line.request_id {
        Some(Scalar::Text(s)) => Some(s),
        _ => None,
    };
    Ok(LineFields {
        timestamp_ms: line.timestamp_ms,
        endpoint: line.endpoint,
        model: line.model,
        version,
        status: line.status,
        latency_us: line.latency_us,
        unseen: line.unseen_categories,
        error: line.error.is_some(),
        request_id,
        records: inputs.len(),
    })
}

/// An input value as the fast parser sees it (strings borrowed from the line).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Val<'a> {
    Num(f64),
    Str(&'a str),
    Bool(bool),
    Null,
    /// An array or object: not a feature value.
    Other,
}

impl Val<'_> {
    /// The value as a record id (`None` for null, arrays and objects).
    pub(crate) fn id(&self) -> Option<String> {
        match self {
            Val::Str(s) => Some(s.to_string()),
            Val::Num(n) => Some(n.to_string()),
            Val::Bool(b) => Some(b.to_string()),
            Val::Null | Val::Other => None,
        }
    }
}

/// An input value as ingestion needs it: parsed without building a `serde_json::Value`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Number(f64),
    Text(Cow<'a, str>),
    Bool(bool),
    Null,
    /// An array or object: not a feature value.
    Other,
}

impl Scalar<'_> {
    pub(crate) fn val(&self) -> Val<'_> {
        match self {
            Scalar::Number(n) => Val::Num(*n),
            Scalar::Text(s) => Val::Str(s),
            Scalar::Bool(b) => Val::Bool(*b),
            Scalar::Null => Val::Null,
            Scalar::Other => Val::Other,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, string, boolean or null")
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Number(v))
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_bool<E>(self, v: bool) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
            fn visit_unit<E>(self) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> std::result::Result<Scalar<'a>, E> {
                Ok(Scalar::Null)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Scalar<'a>, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Scalar<'a>, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Where a record value sits in the line: kept between lines without borrowing the line.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    Num(f64),
    Str(u32, u32),
    Bool(bool),
    Null,
    Other,
}

impl Slot {
    pub(crate) fn val(self, line: &str) -> Val<'_> {
        match self {
            Slot::Num(n) => Val::Num(n),
            Slot::Str(a, b) => Val::Str(&line[a as usize..b as usize]),
            Slot::Bool(b) => Val::Bool(b),
            Slot::Null => Val::Null,
            Slot::Other => Val::Other,
        }
    }
}

/// A single-pass parser for the lines `serve::log` writes: borrowed, field-skipping, no
/// per-record map; record keys are matched to baseline features by position (the writer keeps
/// the schema's order) with a scan as fallback. It gives up (`None`) on anything unusual — an
/// escape in a string it needs, a duplicate field, a value of the wrong type, bad JSON — and
/// `serde_json` then decides, so both paths accept and reject exactly the same lines.
pub(crate) mod fast {
    use super::{BaselineBinner, Baselines, LineFields, Scratch, Slot};
    use std::borrow::Cow;

    pub(crate) struct Cur<'a> {
        s: &'a str,
        b: &'a [u8],
        i: usize,
    }

    impl<'a> Cur<'a> {
        #[inline]
        fn peek(&mut self) -> Option<u8> {
            while let Some(c) = self.b.get(self.i) {
                if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                    self.i += 1;
                } else {
                    return Some(*c);
                }
            }
            None
        }

        #[inline]
        fn eat(&mut self, c: u8) -> Option<()> {
            if self.peek()? == c {
                self.i += 1;
                Some(())
            } else {
                None
            }
        }

        /// After a value in a list: `true` at the closing `close`, `false` after a comma.
        #[inline]
        fn next_or_end(&mut self, close: u8) -> Option<bool> {
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    Some(false)
                }
                c if c == close => {
                    self.i += 1;
                    Some(true)
                }
                _ => None,
            }
        }

        /// Opens a list or object; `true` when it is empty (and already closed).
        #[inline]
        fn open(&mut self, open: u8, close: u8) -> Option<bool> {
            self.eat(open)?;
            if self.peek()? == close {
                self.i += 1;
                return Some(true);
            }
            Some(false)
        }

        /// A string without escapes or control characters, as a byte range of the line.
        #[inline]
        fn str(&mut self) -> Option<(usize, usize)> {
            self.eat(b'"')?;
            let start = self.i;
            loop {
                let c = *self.b.get(self.i)?;
                if c == b'"' {
                    let end = self.i;
                    self.i += 1;
                    return Some((start, end));
                }
                if c == b'\\' || c < 0x20 {
                    return None;
                }
                self.i += 1;
            }
        }

        fn string(&mut self) -> Option<&'a str> {
            let (a, b) = self.str()?;
            Some(&self.s[a..b])
        }

        fn skip_str(&mut self) -> Option<()> {
            self.eat(b'"')?;
            loop {
                let c = *self.b.get(self.i)?;
                self.i += 1;
                match c {
                    b'"' => return Some(()),
                    b'\\' => {
                        let e = *self.b.get(self.i)?;
                        self.i += 1;
                        match e {
                            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                            b'u' => {
                                let hex = self.b.get(self.i..self.i + 4)?;
                                if !hex.iter().all(u8::is_ascii_hexdigit) {
                                    return None;
                                }
                                self.i += 4;
                            }
                            _ => return None,
                        }
                    }
                    c if c < 0x20 => return None,
                    _ => {}
                }
            }
        }

        /// A number's text, checked against JSON's grammar.
        fn number(&mut self) -> Option<&'a str> {
            self.peek()?;
            let (b, start) = (self.b, self.i);
            let mut i = start;
            let digits = |i: &mut usize| {
                let d = *i;
                while b.get(*i).is_some_and(u8::is_ascii_digit) {
                    *i += 1;
                }
                *i > d
            };
            if b.get(i) == Some(&b'-') {
                i += 1;
            }
            match b.get(i)? {
                b'0' => i += 1,
                b'1'..=b'9' => {
                    digits(&mut i);
                }
                _ => return None,
            }
            if b.get(i) == Some(&b'.') {
                i += 1;
                if !digits(&mut i) {
                    return None;
                }
            }
            if matches!(b.get(i), Some(b'e' | b'E')) {
                i += 1;
                if matches!(b.get(i), Some(b'+' | b'-')) {
                    i += 1;
                }
                if !digits(&mut i) {
                    return None;
                }
            }
            self.i = i;
            Some(&self.s[start..i])
        }

        fn int<T: std::str::FromStr>(&mut self) -> Option<T> {
            let t = self.number()?;
            if t.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) {
                return None;
            }
            t.parse().ok()
        }

        fn f64(&mut self) -> Option<f64> {
            let x: f64 = self.number()?.parse().ok()?;
            x.is_finite().then_some(x)
        }

        fn lit(&mut self, word: &[u8]) -> Option<()> {
            self.peek()?;
            if self.b[self.i..].starts_with(word) {
                self.i += word.len();
                Some(())
            } else {
                None
            }
        }

        /// Consumes a `null` if one is next.
        fn null(&mut self) -> bool {
            self.peek() == Some(b'n') && self.lit(b"null").is_some()
        }

        fn skip_value(&mut self, depth: u32) -> Option<()> {
            if depth > 100 {
                return None;
            }
            match self.peek()? {
                b'"' => self.skip_str(),
                b'{' => {
                    if self.open(b'{', b'}')? {
                        return Some(());
                    }
                    loop {
                        self.skip_str()?;
                        self.eat(b':')?;
                        self.skip_value(depth + 1)?;
                        if self.next_or_end(b'}')? {
                            return Some(());
                        }
                    }
                }
                b'[' => {
                    if self.open(b'[', b']')? {
                        return Some(());
                    }
                    loop {
                        self.skip_value(depth + 1)?;
                        if self.next_or_end(b']')? {
                            return Some(());
                        }
                    }
                }
                b't' => self.lit(b"true"),
                b'f' => self.lit(b"false"),
                b'n' => self.lit(b"null"),
                _ => self.number().map(|_| ()),
            }
        }

        /// A record value.
        fn slot(&mut self) -> Option<Slot> {
            Some(match self.peek()? {
                b'"' => {
                    let (a, b) = self.str()?;
                    Slot::Str(u32::try_from(a).ok()?, u32::try_from(b).ok()?)
                }
                b't' => {
                    self.lit(b"true")?;
                    Slot::Bool(true)
                }
                b'f' => {
                    self.lit(b"false")?;
                    Slot::Bool(false)
                }
                b'n' => {
                    self.lit(b"null")?;
                    Slot::Null
                }
                b'[' | b'{' => {
                    self.skip_value(0)?;
                    Slot::Other
                }
                _ => Slot::Num(self.f64()?),
            })
        }
    }

    pub(crate) const REQUEST_ID: u16 = 1;
    pub(crate) const TIMESTAMP: u16 = 1 << 1;
    pub(crate) const ENDPOINT: u16 = 1 << 2;
    pub(crate) const MODEL: u16 = 1 << 3;
    pub(crate) const VERSION: u16 = 1 << 4;
    pub(crate) const STATUS: u16 = 1 << 5;
    pub(crate) const LATENCY: u16 = 1 << 6;
    pub(crate) const INPUTS: u16 = 1 << 7;
    pub(crate) const PREDICTIONS: u16 = 1 << 8;
    pub(crate) const PROBABILITIES: u16 = 1 << 9;
    pub(crate) const UNSEEN: u16 = 1 << 10;
    pub(crate) const ERROR: u16 = 1 << 11;
    pub(crate) const REQUIRED: u16 = TIMESTAMP | ENDPOINT | MODEL | STATUS | LATENCY;

    pub(crate) fn line<'a>(
        s: &'a str,
        baselines: &mut Baselines,
        capture: Option<Option<&str>>,
        sc: &mut Scratch,
    ) -> Option<LineFields<'a>> {
        let id_column = capture.flatten();
        let mut c = Cur {
            s,
            b: s.as_bytes(),
            i: 0,
        };
        let mut seen = 0u16;
        let (mut timestamp_ms, mut status, mut latency_us, mut unseen) = (0i64, 0u16, 0u64, 0u64);
        let (mut endpoint, mut model, mut request_id) = ("", "", None);
        let (mut version, mut error, mut records) = (None::<i64>, false, 0usize);
        let mut deferred = None;
        if !c.open(b'{', b'}')? {
            loop {
                let key = c.str()?;
                c.eat(b':')?;
                let bit = match &c.b[key.0..key.1] {
                    b"request_id" => REQUEST_ID,
                    b"timestamp_ms" => TIMESTAMP,
                    b"endpoint" => ENDPOINT,
                    b"model" => MODEL,
                    b"version" => VERSION,
                    b"status" => STATUS,
                    b"latency_us" => LATENCY,
                    b"inputs" => INPUTS,
                    b"predictions" => PREDICTIONS,
                    b"probabilities" => PROBABILITIES,
                    b"unseen_categories" => UNSEEN,
                    b"error" => ERROR,
                    _ => 0,
                };
                if seen & bit != 0 {
                    return None; // a duplicate field: serde's error
                }
                seen |= bit;
                match bit {
                    REQUEST_ID if c.peek()? == b'"' => request_id = Some(c.string()?),
                    TIMESTAMP => timestamp_ms = c.int()?,
                    ENDPOINT => endpoint = c.string()?,
                    MODEL => model = c.string()?,
                    VERSION => version = if c.null() { None } else { Some(c.int()?) },
                    STATUS => status = c.int()?,
                    LATENCY => latency_us = c.int()?,
                    INPUTS if c.null() => {}
                    INPUTS if seen & (MODEL | VERSION) == MODEL | VERSION => {
                        let binner = baselines.get(model, version.unwrap_or(0));
                        records = inputs(&mut c, binner.as_deref(), id_column, sc)?;
                    }
                    INPUTS => {
                        // The model version is not known yet: parse once it is.
                        deferred = Some(c.i);
                        c.skip_value(0)?;
                    }
                    PREDICTIONS => {
                        if !c.open(b'[', b']')? {
                            loop {
                                sc.predictions.push(c.int()?);
                                if c.next_or_end(b']')? {
                                    break;
                                }
                            }
                        }
                    }
                    PROBABILITIES => {
                        if !c.open(b'[', b']')? {
                            loop {
                                sc.probabilities.push(c.f64()?);
                                if c.next_or_end(b']')? {
                                    break;
                                }
                            }
                        }
                    }
                    UNSEEN => unseen = c.int()?,
                    ERROR => {
                        error = !c.null();
                        if error {
                            c.skip_value(0)?;
                        }
                    }
                    _ => c.skip_value(0)?,
                }
                if c.next_or_end(b'}')? {
                    break;
                }
            }
        }
        if c.peek().is_some() || seen & REQUIRED != REQUIRED {
            return None;
        }
        let version = version.unwrap_or(0);
        if let Some(at) = deferred {
            let binner = baselines.get(model, version);
            let mut d = Cur {
                s,
                b: s.as_bytes(),
                i: at,
            };
            records = inputs(&mut d, binner.as_deref(), id_column, sc)?;
        }
        Some(LineFields {
            timestamp_ms,
            endpoint: Cow::Borrowed(endpoint),
            model: Cow::Borrowed(model),
            version,
            status,
            latency_us,
            unseen,
            error,
            request_id: request_id.map(Cow::Borrowed),
            records,
        })
    }

    /// The `inputs` list: one hit per feature per record into `sc.hits`, and the ids.
    pub(crate) fn inputs(
        c: &mut Cur<'_>,
        binner: Option<&BaselineBinner>,
        id_column: Option<&str>,
        sc: &mut Scratch,
    ) -> Option<usize> {
        if c.open(b'[', b']')? {
            return Some(0);
        }
        let nf = binner.map_or(0, |p| p.names.len());
        let mut n = 0;
        loop {
            sc.slots.clear();
            sc.slots.resize(nf, Slot::Null);
            let mut id = None;
            if !c.open(b'{', b'}')? {
                let mut hint = 0;
                loop {
                    let key = c.str()?;
                    c.eat(b':')?;
                    let k = &c.b[key.0..key.1];
                    let feature = binner.and_then(|p| {
                        if p.names.get(hint).is_some_and(|n| **n == *k) {
                            Some(hint)
                        } else {
                            p.names.iter().position(|n| **n == *k)
                        }
                    });
                    let is_id = id_column.is_some_and(|col| col.as_bytes() == k);
                    if feature.is_some() || is_id {
                        let v = c.slot()?;
                        if let Some(f) = feature {
                            sc.slots[f] = v;
                            hint = f + 1;
                        }
                        if is_id {
                            id = Some(v);
                        }
                    } else {
                        c.skip_value(0)?;
                    }
                    if c.next_or_end(b'}')? {
                        break;
                    }
                }
            }
            if let Some(p) = binner {
                let slots = &sc.slots;
                p.record_hits(|k| slots[k].val(c.s), &mut sc.hits);
            }
            if id_column.is_some() {
                sc.ids.push(id.and_then(|v| v.val(c.s).id()));
            }
            n += 1;
            if c.next_or_end(b']')? {
                return Some(n);
            }
        }
    }
}

/// Where one record put one feature's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Hit {
    Bin(usize, f64),
    Category(usize),
    Null,
    Unseen,
}
