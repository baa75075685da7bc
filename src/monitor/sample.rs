//! A window's values of one numeric column, kept so that drift is computed on values, not bins.
//!
//! - **Exact** up to [`EXACT_CAP`] non-null values (scipy's limit for the exact KS p-value): the
//!   values themselves, so KS, Wasserstein and PSI equal scipy's on the same data.
//! - **Sketched** past the cap: a KLL sketch (Karnin, Lang & Liberty, "Optimal quantile
//!   approximation in streams", FOCS 2016; the Apache DataSketches implementation,
//!   `datasketches::kll`) with `k =` [`SKETCH_K`]. It is mergeable (windows of 5 minutes add up
//!   to an hour), and every rank it answers is within [`rank_error`] (≈ 0.15%) of the true
//!   normalised rank with 99% confidence (DataSketches' stated single-sided bound). What that
//!   bound means for each statistic is in [`super::values`].
//! - **Levels**: exact counts of up to [`LEVELS_CAP`] distinct values, at any window size, so a
//!   column with few distinct values (a 0/1 flag, a small count) is tested as categorical on
//!   exact counts.
//!
//! Only the switch between the three is written here; the sketch is the crate's.
//!
//! [`BaselineValues`] is the other side: a training column's every value, sorted.

use datasketches::common::SearchCriteria;
use datasketches::kll::{KllFloat, KllSketch};

use crate::error::{Error, Result};

/// Non-null values a window keeps exactly before it switches to the sketch.
pub const EXACT_CAP: usize = 10_000;

/// The KLL sketch's accuracy parameter (DataSketches' default is 200, ≈ 1.3% rank error).
pub const SKETCH_K: u16 = 1000;

/// Distinct values a window counts exactly; past this the column is not few-valued.
pub const LEVELS_CAP: usize = 64;

/// A numeric baseline with at most this many distinct values is tested as categorical
/// (Evidently's `n_unique <= 5`).
pub const FEW_VALUES: usize = 5;

/// Deciles: the bins of numeric PSI.
const PSI_DECILES: usize = 10;

type Sketch = KllSketch<KllFloat<f64>>;

/// The sketch's normalised single-sided rank error at 99% confidence for [`SKETCH_K`]
/// (DataSketches: `2.296 / k^0.9723`, ≈ 0.0027 for k = 1000).
pub fn rank_error() -> f64 {
    2.296 / f64::from(SKETCH_K).powf(0.9723)
}

/// One numeric column's values in a window: exact, or a KLL sketch past [`EXACT_CAP`], plus
/// exact counts of its first [`LEVELS_CAP`] distinct values.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericSample {
    n: u64,
    nulls: u64,
    min: f64,
    max: f64,
    /// The values while there is no sketch.
    values: Vec<f64>,
    sketch: Option<Sketch>,
    /// Distinct values (ascending) with their counts; `None` once there were more than
    /// [`LEVELS_CAP`].
    levels: Option<Vec<(f64, u64)>>,
}

impl Default for NumericSample {
    fn default() -> Self {
        NumericSample::new()
    }
}

impl NumericSample {
    pub fn new() -> NumericSample {
        NumericSample {
            n: 0,
            nulls: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            values: Vec::new(),
            sketch: None,
            levels: Some(Vec::new()),
        }
    }

    /// A sample of `values` (NaN counts as null).
    pub fn from_values(values: &[f64]) -> NumericSample {
        let mut s = NumericSample::new();
        s.extend(values);
        s
    }

    /// Adds one value; NaN counts as null.
    pub fn push(&mut self, x: f64) {
        if x.is_nan() {
            self.nulls += 1;
            return;
        }
        self.n += 1;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        self.add_level(x, 1);
        match &mut self.sketch {
            Some(s) => s.update(kll(x)),
            None => {
                self.values.push(x);
                if self.values.len() > EXACT_CAP {
                    self.spill();
                }
            }
        }
    }

    pub fn extend(&mut self, values: &[f64]) {
        for &x in values {
            self.push(x);
        }
    }

    fn add_level(&mut self, x: f64, count: u64) {
        let Some(levels) = &mut self.levels else {
            return;
        };
        match levels.binary_search_by(|(v, _)| v.total_cmp(&x)) {
            Ok(i) => levels[i].1 += count,
            Err(_) if levels.len() >= LEVELS_CAP => self.levels = None,
            Err(i) => levels.insert(i, (x, count)),
        }
    }

    /// Moves the exact values into a new sketch.
    fn spill(&mut self) {
        let mut s = Sketch::new(SKETCH_K).expect("SKETCH_K is within KLL's range");
        for x in self.values.drain(..) {
            s.update(kll(x));
        }
        self.values = Vec::new();
        self.sketch = Some(s);
    }

    /// Adds another window's sample of the same column.
    pub fn merge(&mut self, other: &NumericSample) {
        self.n += other.n;
        self.nulls += other.nulls;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        match (&mut self.levels, &other.levels) {
            (Some(_), Some(theirs)) => {
                for &(v, c) in theirs {
                    self.add_level(v, c);
                }
            }
            _ => self.levels = None,
        }
        if self.sketch.is_none()
            && other.sketch.is_none()
            && self.values.len() + other.values.len() <= EXACT_CAP
        {
            self.values.extend_from_slice(&other.values);
            return;
        }
        if self.sketch.is_none() {
            self.spill();
        }
        let mine = self.sketch.as_mut().expect("spilled above");
        match &other.sketch {
            Some(theirs) => mine.merge(theirs).expect("sketches of one k always merge"),
            None => {
                for &x in &other.values {
                    mine.update(kll(x));
                }
            }
        }
    }

    /// Non-null values.
    pub fn rows(&self) -> u64 {
        self.n
    }

    pub fn nulls(&self) -> u64 {
        self.nulls
    }

    /// The smallest and largest value (exact even when sketched); `None` when empty.
    pub fn range(&self) -> Option<(f64, f64)> {
        (self.n > 0).then_some((self.min, self.max))
    }

    /// Whether the values are kept exactly (no sketch).
    pub fn is_exact(&self) -> bool {
        self.sketch.is_none()
    }

    /// The normalised rank error of [`NumericSample::weighted`]: 0 when exact, else
    /// [`rank_error`].
    pub fn rank_error(&self) -> f64 {
        if self.is_exact() { 0.0 } else { rank_error() }
    }

    /// Exact counts per distinct value (ascending), when there are at most [`LEVELS_CAP`].
    pub fn levels(&self) -> Option<&[(f64, u64)]> {
        self.levels.as_deref()
    }

    /// The distribution as ascending distinct values with weights summing to
    /// [`NumericSample::rows`]: the values themselves when exact, the sketch's retained items
    /// with their weights otherwise.
    pub fn weighted(&self) -> Vec<(f64, u64)> {
        match &self.sketch {
            None => {
                let mut v = self.values.clone();
                v.sort_unstable_by(f64::total_cmp);
                let mut out: Vec<(f64, u64)> = Vec::new();
                for x in v {
                    match out.last_mut() {
                        Some((y, c)) if *y == x => *c += 1,
                        _ => out.push((x, 1)),
                    }
                }
                out
            }
            Some(s) => sketch_items(s),
        }
    }

    /// A compact binary form for the store: `from_bytes(to_bytes(s)) == s`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.values.len() * 8);
        out.push(FORMAT);
        out.extend_from_slice(&self.n.to_le_bytes());
        out.extend_from_slice(&self.nulls.to_le_bytes());
        out.extend_from_slice(&self.min.to_le_bytes());
        out.extend_from_slice(&self.max.to_le_bytes());
        match &self.levels {
            None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
            Some(l) => {
                out.extend_from_slice(&(l.len() as u32).to_le_bytes());
                for (v, c) in l {
                    out.extend_from_slice(&v.to_le_bytes());
                    out.extend_from_slice(&c.to_le_bytes());
                }
            }
        }
        match &self.sketch {
            None => {
                out.push(0);
                out.extend_from_slice(&(self.values.len() as u32).to_le_bytes());
                for v in &self.values {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Some(s) => {
                out.push(1);
                let b = s.serialize();
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(&b);
            }
        }
        out
    }

    /// Reads [`NumericSample::to_bytes`]; a short or foreign buffer is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<NumericSample> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(1)?[0] != FORMAT {
            return Err(Error::invalid(
                "numeric window sample: unknown format version",
            ));
        }
        let n = r.u64()?;
        let nulls = r.u64()?;
        let min = r.f64()?;
        let max = r.f64()?;
        let levels = match r.u32()? {
            u32::MAX => None,
            k => Some(
                (0..k)
                    .map(|_| Ok((r.f64()?, r.u64()?)))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let (values, sketch) = match r.take(1)?[0] {
            0 => {
                let k = r.u32()?;
                let v = (0..k).map(|_| r.f64()).collect::<Result<Vec<_>>>()?;
                (v, None)
            }
            _ => {
                let len = r.u32()? as usize;
                let s = Sketch::deserialize(r.take(len)?).map_err(|e| {
                    Error::invalid(format!("numeric window sample: bad KLL sketch: {e}"))
                })?;
                (Vec::new(), Some(s))
            }
        };
        Ok(NumericSample {
            n,
            nulls,
            min,
            max,
            values,
            sketch,
            levels,
        })
    }
}

/// The exact baseline of one numeric column: its sorted values and what the tests need of them.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineValues {
    /// Ascending non-null values.
    pub sorted: Vec<f64>,
    pub nulls: u64,
    /// Population standard deviation (Evidently's Wasserstein normaliser, `np.std`).
    pub std: f64,
    /// Distinct values with their counts, ascending (the whole baseline as weights).
    pub weighted: Vec<(f64, u64)>,
    /// PSI edges: `np.quantile(values, [0.1, …, 0.9])`.
    pub psi_edges: Vec<f64>,
    /// No-drift bands already drawn for this baseline, by window size and test.
    pub bands: BandCache,
}

/// No-drift bands by (window size, test name).
pub type BandMap = std::collections::HashMap<(u64, &'static str), Option<[f64; 2]>>;

/// Memo of `values::no_drift_band` results for one baseline, keyed by window size and test
/// name (a band is a pure function of both). Cloning starts an empty memo.
#[derive(Default)]
pub struct BandCache(pub std::sync::Mutex<BandMap>);

impl Clone for BandCache {
    fn clone(&self) -> Self {
        BandCache::default()
    }
}

impl PartialEq for BandCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for BandCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BandCache")
    }
}

impl BaselineValues {
    /// The baseline of raw values (NaN counts as null).
    pub fn from_values(values: &[f64]) -> BaselineValues {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_unstable_by(f64::total_cmp);
        let nulls = (values.len() - sorted.len()) as u64;
        let mut weighted: Vec<(f64, u64)> = Vec::new();
        for &x in &sorted {
            match weighted.last_mut() {
                Some((y, c)) if *y == x => *c += 1,
                _ => weighted.push((x, 1)),
            }
        }
        let n = sorted.len() as f64;
        let std = if sorted.is_empty() {
            0.0
        } else {
            let mean = sorted.iter().sum::<f64>() / n;
            (sorted.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
        };
        let psi_edges = (1..PSI_DECILES)
            .map(|k| quantile_sorted(&sorted, k as f64 / PSI_DECILES as f64))
            .collect();
        BaselineValues {
            sorted,
            nulls,
            std,
            weighted,
            psi_edges,
            bands: BandCache::default(),
        }
    }

    pub fn rows(&self) -> u64 {
        self.sorted.len() as u64
    }

    /// Distinct non-null values.
    pub fn distinct(&self) -> usize {
        self.weighted.len()
    }

    /// Whether the column is tested as categorical (at most [`FEW_VALUES`] distinct values).
    pub fn few_valued(&self) -> bool {
        self.distinct() <= FEW_VALUES
    }

    /// The baseline of a weighted sample (a window's [`NumericSample::weighted`], for the
    /// previous-window baseline).
    pub fn from_weighted(weighted: &[(f64, u64)], nulls: u64) -> BaselineValues {
        let mut values = Vec::with_capacity(weighted.iter().map(|p| p.1 as usize).sum());
        for &(x, w) in weighted {
            values.extend(std::iter::repeat_n(x, w as usize));
        }
        let mut b = BaselineValues::from_values(&values);
        b.nulls = nulls;
        b
    }
}

/// numpy's default quantile (linear interpolation) of an ascending, NaN-free sample.
pub fn quantile_sorted(x: &[f64], q: f64) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    let h = (x.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(x.len() - 1);
    x[lo] + (h - lo as f64) * (x[hi] - x[lo])
}

impl serde::Serialize for NumericSample {
    /// As base64 of [`NumericSample::to_bytes`] (window aggregates are JSON).
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(self.to_bytes()))
    }
}

impl<'de> serde::Deserialize<'de> for NumericSample {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use base64::Engine;
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        NumericSample::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

const FORMAT: u8 = 1;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(len).filter(|e| *e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::invalid(format!(
                "numeric window sample: truncated at byte {} of {}",
                self.at,
                self.bytes.len()
            )));
        };
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
}

fn kll(x: f64) -> KllFloat<f64> {
    KllFloat::<f64>::new(x).expect("NaN is filtered before")
}

/// The sketch's retained items with their weights, ascending and merged by value. The crate's
/// sorted view does not expose its entries, so they are walked by weight: the item at
/// cumulative weight `w` (inclusive quantile at rank `(w − ½)/n`, which the view rounds up to
/// `w`), then its cumulative weight (inclusive rank), then on from the next weight.
fn sketch_items(s: &Sketch) -> Vec<(f64, u64)> {
    let view = s.sorted_view();
    let total = view.total_weight();
    let mut out = Vec::new();
    let mut w = 1u64;
    let mut before = 0u64;
    while w <= total {
        let r = (w as f64 - 0.5) / total as f64;
        let Ok(Some(item)) = view.quantile(r, SearchCriteria::Inclusive) else {
            break;
        };
        let rank = view.rank(&item, SearchCriteria::Inclusive).unwrap_or(1.0);
        let cum = ((rank * total as f64).round() as u64).clamp(w, total);
        out.push((*item, cum - before));
        before = cum;
        w = cum + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python: `[(i*7919 % 10007 + 0.5)/10007 for i in range(n)]`, a scrambled uniform grid.
    fn grid(n: u64) -> Vec<f64> {
        (0..n)
            .map(|i| ((i * 7919 % 10_007) as f64 + 0.5) / 10_007.0)
            .collect()
    }

    #[test]
    fn exact_below_the_cap_sketched_above_and_merges_agree() {
        let v = grid(EXACT_CAP as u64);
        let s = NumericSample::from_values(&v);
        assert!(s.is_exact());
        assert_eq!(s.rows(), EXACT_CAP as u64);
        assert_eq!(s.rank_error(), 0.0);
        assert!(s.levels().is_none());
        let w = s.weighted();
        assert_eq!(w.iter().map(|p| p.1).sum::<u64>(), EXACT_CAP as u64);
        assert!(w.windows(2).all(|p| p[0].0 < p[1].0));

        // One more value spills into the sketch; weights still add up to n.
        let mut big = s.clone();
        big.push(2.0);
        big.push(f64::NAN);
        assert!(!big.is_exact());
        assert_eq!((big.rows(), big.nulls()), (EXACT_CAP as u64 + 1, 1));
        let w = big.weighted();
        assert_eq!(w.iter().map(|p| p.1).sum::<u64>(), EXACT_CAP as u64 + 1);
        assert!(w.windows(2).all(|p| p[0].0 < p[1].0));
        assert_eq!(
            big.range(),
            Some((v.iter().cloned().fold(1.0, f64::min), 2.0))
        );

        // Two exact halves merge to the exact whole; past the cap they merge into a sketch.
        let (a, b) = v.split_at(4000);
        let mut m = NumericSample::from_values(a);
        m.merge(&NumericSample::from_values(b));
        assert!(m.is_exact());
        assert_eq!(m.weighted(), s.weighted());
        m.merge(&big);
        assert!(!m.is_exact());
        assert_eq!(m.rows(), 2 * EXACT_CAP as u64 + 1);
        assert_eq!(m.weighted().iter().map(|p| p.1).sum::<u64>(), m.rows());
    }

    #[test]
    fn levels_count_few_distinct_values_exactly_at_any_size() {
        let mut s = NumericSample::new();
        for i in 0..30_000u64 {
            s.push(if i % 200 == 0 { 1.0 } else { 0.0 });
        }
        assert!(!s.is_exact());
        assert_eq!(s.levels(), Some(&[(0.0, 29_850), (1.0, 150)][..]));
        let mut many = NumericSample::from_values(&grid(100));
        assert!(many.levels().is_none());
        many.merge(&s);
        assert!(many.levels().is_none());
    }

    #[test]
    fn bytes_round_trip_and_bad_bytes_are_errors() {
        for s in [
            NumericSample::new(),
            NumericSample::from_values(&[1.0, f64::NAN, 2.0, 2.0]),
            NumericSample::from_values(&grid(25_000)),
        ] {
            let b = s.to_bytes();
            let back = NumericSample::from_bytes(&b).unwrap();
            assert_eq!(back.rows(), s.rows());
            assert_eq!(back.weighted(), s.weighted());
            assert_eq!(back.levels(), s.levels());
            let err = NumericSample::from_bytes(&b[..b.len() - 3]).unwrap_err();
            assert!(err.to_string().contains("truncated"), "{err}");
        }
        assert!(NumericSample::from_bytes(&[9]).is_err());
    }

    #[test]
    fn the_stated_rank_error_holds_on_a_sketched_window() {
        // 200,000 values of a scrambled grid: the exact normalised rank of any value is known.
        let v = grid(200_000);
        let s = NumericSample::from_values(&v);
        let mut sorted = v.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        let eps = rank_error();
        assert!(eps < 0.003, "{eps}");
        let mut cum = 0u64;
        let mut worst = 0.0f64;
        for (x, w) in s.weighted() {
            cum += w;
            let exact = sorted.partition_point(|y| *y <= x) as f64 / sorted.len() as f64;
            worst = worst.max((cum as f64 / s.rows() as f64 - exact).abs());
        }
        assert!(worst <= eps, "worst rank error {worst} > {eps}");
    }
}
