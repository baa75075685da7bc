//! Drift statistics: PSI, two-sample Kolmogorov–Smirnov, normalised Wasserstein, chi-square and
//! Jensen–Shannon, plus the per-column test choice and dataset-drift rule of Evidently's
//! `DataDriftPreset`.
//!
//! Two families of functions:
//! - **exact, on raw samples** ([`ks_2samp`], [`wasserstein_norm`], [`chi_square`],
//!   [`jensen_shannon`], [`psi`]): the definitions, tested against scipy.
//! - **binned, for windows** ([`NumericBaseline`], [`numeric_drift`], [`categorical_drift`]): a
//!   window is kept as counts on the baseline's percentile bins (what ingestion stores), so drift
//!   of a 1,000,000-row window costs one binary search per value and nothing else — no sort. PSI
//!   and the categorical statistics are exact on these counts; KS and Wasserstein are
//!   approximations whose error is bounded by the bin masses (see [`numeric_drift`]).
//!
//! **Conventions** (each checked against scipy/numpy in the tests):
//! - Quantiles are numpy's default (linear interpolation, `np.quantile(x, q)`).
//! - A value `x` falls in bin `i` = the number of edges `<= x` (`np.searchsorted(edges, x,
//!   side="right")`), so bins are `[e[i-1], e[i])`.
//! - PSI = Σ (q − p)·ln(q / p) over bins, with proportions of 0 replaced by [`PSI_EPSILON`]
//!   (1e-4, as Evidently's `get_binned_data(..., feel_zeroes=True)`). Numeric PSI uses the
//!   baseline's deciles (Evidently bins on Sturges' equal-width edges of both samples instead).
//! - KS p-value: as `scipy.stats.ks_2samp(method="auto")` (see [`super::ks`]): exact below
//!   10,001 values in both samples, else the finite-n `kstwo.sf(D, round(n·m/(n+m)))`. On binned
//!   windows it is the p-value of the binned statistic (a lower bound of the exact one, see
//!   [`numeric_drift`]). Evidently's default KS test calls the same scipy function.
//! - Wasserstein: `scipy.stats.wasserstein_distance(ref, cur) / np.std(ref)` (population std),
//!   as Evidently's `wasserstein_stat_test`.
//! - Chi-square: Evidently's goodness of fit, `scipy.stats.chisquare(f_obs=cur, f_exp=ref ·
//!   n_cur/n_ref)` over the categories present in either sample; a category absent from the
//!   baseline makes the statistic infinite and p = 0, as in scipy.
//! - Jensen–Shannon: `scipy.spatial.distance.jensenshannon(p_ref, p_cur)`, the default natural
//!   log (what Evidently calls; its ≥ 0.1 threshold is in natural-log units). The distance is the
//!   square root of the divergence.

/// The proportion substituted for an empty bin in PSI, as Evidently does.
pub const PSI_EPSILON: f64 = 1e-4;

/// Bins a numeric baseline is split into for windows: percentiles (edges at 1%, 2%, … 99%).
pub const FINE_BINS: usize = 100;

/// Bins numeric PSI uses: deciles, i.e. the fine bins merged ten at a time.
pub const PSI_BINS: usize = 10;

/// Padded edge-table length for the branchless search (a power of two minus one).
const PADDED_EDGES: usize = 127;

/// A KS statistic and its p-value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Ks {
    pub statistic: f64,
    pub p_value: f64,
}

/// Population stability index over two distributions given as counts (or proportions) on the
/// same bins. Bins empty in both are skipped; an empty side of a bin counts as [`PSI_EPSILON`].
pub fn psi(base: &[f64], cur: &[f64]) -> f64 {
    let (nb, nc) = (base.iter().sum::<f64>(), cur.iter().sum::<f64>());
    if nb <= 0.0 || nc <= 0.0 {
        return 0.0;
    }
    base.iter()
        .zip(cur)
        .filter(|(b, c)| **b > 0.0 || **c > 0.0)
        .map(|(b, c)| {
            let p = (b / nb).max(if *b > 0.0 { 0.0 } else { PSI_EPSILON });
            let q = (c / nc).max(if *c > 0.0 { 0.0 } else { PSI_EPSILON });
            (q - p) * (q / p).ln()
        })
        .sum()
}

/// Goodness-of-fit chi-square of `cur` counts against `base` proportions scaled to `cur`'s total,
/// over the bins non-empty in either sample: `(statistic, p_value)`.
pub fn chi_square(base: &[f64], cur: &[f64]) -> (f64, f64) {
    let (nb, nc) = (base.iter().sum::<f64>(), cur.iter().sum::<f64>());
    if nb <= 0.0 || nc <= 0.0 {
        return (0.0, 1.0);
    }
    let k = nc / nb;
    let mut stat = 0.0;
    let mut cells = 0usize;
    for (b, c) in base.iter().zip(cur) {
        if *b <= 0.0 && *c <= 0.0 {
            continue;
        }
        cells += 1;
        let e = b * k;
        stat += if e > 0.0 {
            (c - e) * (c - e) / e
        } else {
            f64::INFINITY
        };
    }
    if cells < 2 {
        return (0.0, 1.0);
    }
    (stat, super::special::chi2_sf(stat, (cells - 1) as f64))
}

/// Jensen–Shannon distance (natural log) between two count or proportion vectors.
pub fn jensen_shannon(base: &[f64], cur: &[f64]) -> f64 {
    let (nb, nc) = (base.iter().sum::<f64>(), cur.iter().sum::<f64>());
    if nb <= 0.0 || nc <= 0.0 {
        return 0.0;
    }
    let rel = |x: f64, m: f64| if x > 0.0 { x * (x / m).ln() } else { 0.0 };
    let mut d = 0.0;
    for (b, c) in base.iter().zip(cur) {
        let (p, q) = (b / nb, c / nc);
        let m = 0.5 * (p + q);
        d += rel(p, m) + rel(q, m);
    }
    (0.5 * d).max(0.0).sqrt()
}

/// Two-sample KS on raw samples (copies and sorts them; NaNs are dropped).
pub fn ks_2samp(a: &[f64], b: &[f64]) -> Ks {
    let (a, b) = (sorted(a), sorted(b));
    ks_2samp_sorted(&a, &b)
}

/// Two-sample KS on ascending samples, by one merge pass.
pub fn ks_2samp_sorted(a: &[f64], b: &[f64]) -> Ks {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return Ks {
            statistic: 0.0,
            p_value: 1.0,
        };
    }
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < n && j < m {
        let x = a[i].min(b[j]);
        while i < n && a[i] <= x {
            i += 1;
        }
        while j < m && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n as f64 - j as f64 / m as f64).abs());
    }
    ks_result(d, n as f64, m as f64)
}

/// A KS statistic `d` of samples of `n` and `m` values with its p-value
/// (`scipy.stats.ks_2samp(method="auto")`).
pub(crate) fn ks_result_pub(d: f64, n: u64, m: u64) -> Ks {
    Ks {
        statistic: d,
        p_value: super::ks::ks_2samp_p_value(d, n, m),
    }
}

fn ks_result(d: f64, n: f64, m: f64) -> Ks {
    Ks {
        statistic: d,
        p_value: super::ks::ks_2samp_p_value(d, n as u64, m as u64),
    }
}

/// Wasserstein-1 distance divided by the baseline's population standard deviation, on raw
/// samples (copies and sorts them; NaNs are dropped). A constant baseline gives the raw distance.
pub fn wasserstein_norm(base: &[f64], cur: &[f64]) -> f64 {
    let (a, b) = (sorted(base), sorted(cur));
    let w = wasserstein_sorted(&a, &b);
    let sd = std_dev(&a);
    if sd > 0.0 { w / sd } else { w }
}

/// Wasserstein-1 distance between two ascending samples: ∫|F_a − F_b|, one merge pass.
pub fn wasserstein_sorted(a: &[f64], b: &[f64]) -> f64 {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return 0.0;
    }
    let (mut i, mut j) = (0usize, 0usize);
    let mut x = a[0].min(b[0]);
    let mut w = 0.0;
    while i < n || j < m {
        let next = match (a.get(i), b.get(j)) {
            (Some(p), Some(q)) => p.min(*q),
            (Some(p), None) => *p,
            (None, Some(q)) => *q,
            (None, None) => unreachable!(),
        };
        w += (next - x) * (i as f64 / n as f64 - j as f64 / m as f64).abs();
        x = next;
        while i < n && a[i] <= x {
            i += 1;
        }
        while j < m && b[j] <= x {
            j += 1;
        }
    }
    w
}

/// Two-sample KS statistic between weighted samples given as ascending distinct values with
/// their counts (a window's values or a sketch's retained items, see `sample`): the largest gap
/// between the two right-continuous CDFs, `scipy.stats.ks_2samp`'s statistic on the expanded
/// samples.
pub fn ks_statistic_weighted(a: &[(f64, u64)], b: &[(f64, u64)]) -> f64 {
    let (na, nb) = (total(a), total(b));
    if na == 0 || nb == 0 {
        return 0.0;
    }
    let (mut i, mut j, mut ca, mut cb, mut d) = (0usize, 0usize, 0u64, 0u64, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].0.min(b[j].0);
        if a[i].0 <= x {
            ca += a[i].1;
            i += 1;
        }
        if b[j].0 <= x {
            cb += b[j].1;
            j += 1;
        }
        d = d.max((ca as f64 / na as f64 - cb as f64 / nb as f64).abs());
    }
    d
}

/// Wasserstein-1 distance between weighted samples (ascending distinct values with counts):
/// ∫|F_a − F_b|, `scipy.stats.wasserstein_distance` on the expanded samples.
pub fn wasserstein_weighted(a: &[(f64, u64)], b: &[(f64, u64)]) -> f64 {
    let (na, nb) = (total(a), total(b));
    if na == 0 || nb == 0 {
        return 0.0;
    }
    let (mut i, mut j, mut ca, mut cb) = (0usize, 0usize, 0u64, 0u64);
    let mut x = a[0].0.min(b[0].0);
    let mut w = 0.0;
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(p), Some(q)) => p.0.min(q.0),
            (Some(p), None) => p.0,
            (None, Some(q)) => q.0,
            (None, None) => unreachable!(),
        };
        w += (next - x) * (ca as f64 / na as f64 - cb as f64 / nb as f64).abs();
        x = next;
        if i < a.len() && a[i].0 <= x {
            ca += a[i].1;
            i += 1;
        }
        if j < b.len() && b[j].0 <= x {
            cb += b[j].1;
            j += 1;
        }
    }
    w
}

fn total(v: &[(f64, u64)]) -> u64 {
    v.iter().map(|p| p.1).sum()
}

fn sorted(x: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
    v.sort_unstable_by(f64::total_cmp);
    v
}

fn std_dev(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    (x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
}

pub use super::sample::quantile_sorted;

/// Column kind, as Evidently's data definition has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Numeric,
    Categorical,
}

/// The test that decides whether a column drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatTest {
    /// Two-sample KS; drift when p < threshold (default 0.05).
    Ks,
    /// Chi-square goodness of fit; drift when p < threshold (default 0.05).
    ChiSquare,
    /// Normalised Wasserstein; drift when distance ≥ threshold (default 0.1).
    Wasserstein,
    /// Jensen–Shannon distance; drift when distance ≥ threshold (default 0.1).
    JensenShannon,
    /// PSI; drift when PSI ≥ threshold (default 0.1).
    Psi,
}

impl StatTest {
    /// Evidently's default threshold for the test.
    pub fn default_threshold(self) -> f64 {
        match self {
            StatTest::Ks | StatTest::ChiSquare => 0.05,
            StatTest::Wasserstein | StatTest::JensenShannon | StatTest::Psi => 0.1,
        }
    }

    /// Whether the test's score is a p-value (drift below the threshold) rather than a distance
    /// (drift at or above it).
    pub fn is_p_value(self) -> bool {
        matches!(self, StatTest::Ks | StatTest::ChiSquare)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatTest::Ks => "ks",
            StatTest::ChiSquare => "chi_square",
            StatTest::Wasserstein => "wasserstein",
            StatTest::JensenShannon => "jensen_shannon",
            StatTest::Psi => "psi",
        }
    }
}

/// The default test, as Evidently's `get_default_stattest`:
///
/// | baseline rows | numeric with > 5 distinct values | anything else                |
/// |---------------|----------------------------------|------------------------------|
/// | ≤ 1000        | KS (p < 0.05)                    | chi-square (p < 0.05)        |
/// | > 1000        | Wasserstein (≥ 0.1)              | Jensen–Shannon (≥ 0.1)       |
///
/// Differences from Evidently: it counts distinct values over baseline and current together
/// (we pass the baseline's count plus unseen categories), and it uses a two-proportion z-test for
/// small columns with ≤ 2 distinct values, where we use chi-square (the same hypothesis).
pub fn default_test(kind: ColumnKind, distinct: usize, baseline_rows: u64) -> StatTest {
    let numeric = kind == ColumnKind::Numeric && distinct > 5;
    match (baseline_rows <= 1000, numeric) {
        (true, true) => StatTest::Ks,
        (true, false) => StatTest::ChiSquare,
        (false, true) => StatTest::Wasserstein,
        (false, false) => StatTest::JensenShannon,
    }
}

/// Dataset drift: the share of drifted columns reaches `threshold` (Evidently's `drift_share`,
/// default 0.5). No columns is no drift.
pub fn dataset_drift(drifted: usize, columns: usize, threshold: f64) -> bool {
    columns > 0 && drifted as f64 / columns as f64 >= threshold
}

/// Evidently's default share of drifted features that makes the dataset drifted.
pub const DEFAULT_DRIFT_SHARE: f64 = 0.5;

/// A per-feature override of the test and its threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestOverride {
    pub test: StatTest,
    pub threshold: Option<f64>,
}

/// The baseline of a numeric column: its percentile edges and counts, extremes and spread.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NumericBaseline {
    /// `FINE_BINS − 1` ascending edges at the 1st … 99th percentiles.
    pub edges: Vec<f64>,
    /// Baseline rows per fine bin (`FINE_BINS` entries).
    pub counts: Vec<u64>,
    pub rows: u64,
    pub nulls: u64,
    pub min: f64,
    pub max: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Distinct non-null values, capped at 1000 (only "> 5" matters to the test choice).
    pub distinct: usize,
    /// Every value, sorted: what drift on a window's values (`values::values_drift`) compares
    /// with. Built with the baseline, never stored.
    #[serde(skip)]
    pub exact: Option<std::sync::Arc<super::sample::BaselineValues>>,
}

/// Counts of one numeric column in a window, on a baseline's fine bins.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NumericCounts {
    pub counts: Vec<u64>,
    pub nulls: u64,
    pub min: f64,
    pub max: f64,
}

impl NumericCounts {
    pub fn empty() -> NumericCounts {
        NumericCounts {
            counts: vec![0; FINE_BINS],
            nulls: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    pub fn rows(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds another window's counts (same baseline).
    pub fn merge(&mut self, other: &NumericCounts) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.nulls += other.nulls;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

/// A fast binner over a baseline's edges: a branchless search over a table padded with +∞.
#[derive(Debug, Clone)]
pub struct Binner {
    padded: [f64; PADDED_EDGES],
}

impl Binner {
    pub fn new(edges: &[f64]) -> Binner {
        assert!(edges.len() <= PADDED_EDGES, "at most {PADDED_EDGES} edges");
        let mut padded = [f64::INFINITY; PADDED_EDGES];
        padded[..edges.len()].copy_from_slice(edges);
        Binner { padded }
    }

    /// The bin of `x` (not NaN): the number of edges `<= x`.
    #[inline]
    pub fn bin(&self, x: f64) -> usize {
        let mut i = 0usize;
        let mut step = 64;
        while step > 0 {
            i += usize::from(self.padded[i + step - 1] <= x) * step;
            step >>= 1;
        }
        i
    }

    /// Adds `values` to `counts` (NaN counts as null).
    pub fn add(&self, values: &[f64], into: &mut NumericCounts) {
        let counts = &mut into.counts;
        let (mut lo, mut hi, mut nulls) = (into.min, into.max, 0u64);
        for &x in values {
            if x.is_nan() {
                nulls += 1;
                continue;
            }
            counts[self.bin(x)] += 1;
            lo = lo.min(x);
            hi = hi.max(x);
        }
        into.nulls += nulls;
        into.min = lo;
        into.max = hi;
    }
}

impl NumericBaseline {
    /// Builds the baseline from raw values (NaN counts as null).
    pub fn from_values(values: &[f64]) -> NumericBaseline {
        let s = sorted(values);
        let nulls = (values.len() - s.len()) as u64;
        let edges: Vec<f64> = (1..FINE_BINS)
            .map(|k| quantile_sorted(&s, k as f64 / FINE_BINS as f64))
            .collect();
        let mut distinct = 0usize;
        for (i, v) in s.iter().enumerate() {
            if i == 0 || *v != s[i - 1] {
                distinct += 1;
                if distinct >= 1000 {
                    break;
                }
            }
        }
        let mut counts = NumericCounts::empty();
        if !s.is_empty() {
            Binner::new(&edges).add(&s, &mut counts);
        }
        NumericBaseline {
            edges,
            counts: counts.counts,
            rows: s.len() as u64,
            nulls,
            min: s.first().copied().unwrap_or(f64::NAN),
            max: s.last().copied().unwrap_or(f64::NAN),
            std: std_dev(&s),
            distinct,
            exact: Some(std::sync::Arc::new(
                super::sample::BaselineValues::from_values(values),
            )),
        }
    }

    pub fn binner(&self) -> Binner {
        Binner::new(&self.edges)
    }
}

/// Every drift statistic of one column, and the verdict of its test.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ColumnDrift {
    pub kind: ColumnKind,
    pub test: StatTest,
    pub threshold: f64,
    /// The test's score: a p-value or a distance.
    pub score: f64,
    pub drifted: bool,
    pub psi: f64,
    /// Numeric only.
    pub ks: Option<Ks>,
    /// Numeric only.
    pub wasserstein: Option<f64>,
    /// Categorical (and numeric treated as categorical) only.
    pub chi_square_p: Option<f64>,
    pub jensen_shannon: Option<f64>,
    pub rows: u64,
    pub nulls: u64,
    /// How the window's values were held: `Some(0.0)` exact values (the statistics equal
    /// scipy's), `Some(ε)` a KLL sketch whose ranks are within ε of the truth (99% confidence;
    /// see `values` for what ε means for each statistic), `None` percentile-bin counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank_error: Option<f64>,
    /// The 5th and 95th percentiles of the test's score on windows of this size drawn from the
    /// baseline itself (no drift): the score's sampling spread (NannyML's idea of sampling
    /// error). Distance tests only; a p-value already accounts for the window's size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<[f64; 2]>,
}

impl ColumnDrift {
    /// How the window's values were held, for a table: `exact`, `sketch ±0.27%` (the rank
    /// error) or `bins`.
    pub fn values_text(&self) -> String {
        match self.rank_error {
            Some(0.0) => "exact".into(),
            Some(e) => format!("sketch ±{:.2}%", e * 100.0),
            None => "bins".into(),
        }
    }

    /// The no-drift band as `lo..hi` (4 decimals), or `-` without one.
    pub fn band_text(&self) -> String {
        match self.band {
            Some([lo, hi]) => format!("{lo:.4}..{hi:.4}"),
            None => "-".into(),
        }
    }
}

pub(crate) fn verdict(test: StatTest, threshold: f64, score: f64) -> bool {
    if test.is_p_value() {
        score < threshold
    } else {
        score >= threshold
    }
}

/// Drift of a numeric window against its baseline, from the fine-bin counts.
///
/// - PSI on deciles (fine bins merged ten at a time): exact.
/// - KS: the largest CDF gap at the bin edges, a lower bound of the exact statistic, short of it
///   by at most the larger mass of one fine bin in either sample (about 1% of the baseline).
/// - Wasserstein: ∫|F_b − F_c| with both CDFs linear inside each bin (mass spread uniformly),
///   the outer bins closed at the smaller minimum and larger maximum of the two samples, divided
///   by the baseline's standard deviation. Exact when both samples are uniform within bins; the
///   error is bounded by Σ width_i · max(p_i, q_i).
///
/// With ≤ 5 distinct baseline values the column is treated as categorical over the non-empty
/// bins (each distinct value then has its own bin), as Evidently does.
/// `test` overrides the default choice (with its default threshold unless `threshold` is given).
pub fn numeric_drift(
    base: &NumericBaseline,
    cur: &NumericCounts,
    test: Option<StatTest>,
    threshold: Option<f64>,
) -> ColumnDrift {
    let b: Vec<f64> = base.counts.iter().map(|c| *c as f64).collect();
    let c: Vec<f64> = cur.counts.iter().map(|c| *c as f64).collect();
    let (nb, nc) = (b.iter().sum::<f64>(), c.iter().sum::<f64>());
    let coarse = |v: &[f64]| -> Vec<f64> {
        v.chunks(FINE_BINS / PSI_BINS)
            .map(|g| g.iter().sum())
            .collect()
    };
    let psi_v = psi(&coarse(&b), &coarse(&c));

    // CDFs at the edges, and both KS and Wasserstein in one pass.
    let lo = base.min.min(cur.min);
    let hi = base.max.max(cur.max);
    let (mut fb, mut fc, mut d, mut w) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    if nb > 0.0 && nc > 0.0 {
        for i in 0..FINE_BINS {
            let left = if i == 0 { lo } else { base.edges[i - 1] };
            let right = if i == FINE_BINS - 1 {
                hi
            } else {
                base.edges[i]
            };
            let d0 = fb - fc;
            fb += b[i] / nb;
            fc += c[i] / nc;
            let d1 = fb - fc;
            d = d.max(d1.abs());
            let width = (right - left).max(0.0);
            w += width
                * if d0 * d1 >= 0.0 {
                    0.5 * (d0.abs() + d1.abs())
                } else {
                    0.5 * (d0 * d0 + d1 * d1) / (d0.abs() + d1.abs())
                };
        }
    }
    let ks = ks_result(d, nb, nc);
    let wn = if base.std > 0.0 { w / base.std } else { w };

    let as_categorical = base.distinct <= 5;
    let (chi_p, js) = if as_categorical {
        (Some(chi_square(&b, &c).1), Some(jensen_shannon(&b, &c)))
    } else {
        (None, None)
    };
    let test = test.unwrap_or_else(|| default_test(ColumnKind::Numeric, base.distinct, base.rows));
    let threshold = threshold.unwrap_or(test.default_threshold());
    let score = match test {
        StatTest::Ks => ks.p_value,
        StatTest::Wasserstein => wn,
        StatTest::Psi => psi_v,
        StatTest::ChiSquare => chi_p.unwrap_or_else(|| chi_square(&b, &c).1),
        StatTest::JensenShannon => js.unwrap_or_else(|| jensen_shannon(&b, &c)),
    };
    ColumnDrift {
        kind: ColumnKind::Numeric,
        test,
        threshold,
        score,
        drifted: nc > 0.0 && verdict(test, threshold, score),
        psi: psi_v,
        ks: Some(ks),
        wasserstein: Some(wn),
        chi_square_p: chi_p,
        jensen_shannon: js,
        rows: nc as u64,
        nulls: cur.nulls,
        rank_error: None,
        band: None,
    }
}

/// Drift of a categorical window: `base` and `cur` are counts per category on the same
/// categories (`cur` may carry extra trailing entries for categories unseen in the baseline,
/// which count as 0 in the baseline). `nulls` is reported, not tested.
pub fn categorical_drift(
    base: &[u64],
    cur: &[u64],
    nulls: u64,
    test: Option<StatTest>,
    threshold: Option<f64>,
) -> ColumnDrift {
    let len = base.len().max(cur.len());
    let get = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0) as f64;
    let b: Vec<f64> = (0..len).map(|i| get(base, i)).collect();
    let c: Vec<f64> = (0..len).map(|i| get(cur, i)).collect();
    let rows: u64 = base.iter().sum();
    let distinct = (0..len).filter(|i| b[*i] > 0.0 || c[*i] > 0.0).count();
    let psi_v = psi(&b, &c);
    let (_, chi_p) = chi_square(&b, &c);
    let js = jensen_shannon(&b, &c);
    let test = test.unwrap_or_else(|| default_test(ColumnKind::Categorical, distinct, rows));
    let threshold = threshold.unwrap_or(test.default_threshold());
    let score = match test {
        StatTest::ChiSquare => chi_p,
        StatTest::JensenShannon => js,
        StatTest::Psi => psi_v,
        // Tests for numbers make no sense on categories; fall back to the default pair.
        StatTest::Ks => chi_p,
        StatTest::Wasserstein => js,
    };
    let total: u64 = cur.iter().sum();
    ColumnDrift {
        kind: ColumnKind::Categorical,
        test,
        threshold,
        score,
        drifted: total > 0 && verdict(test, threshold, score),
        psi: psi_v,
        ks: None,
        wasserstein: None,
        chi_square_p: Some(chi_p),
        jensen_shannon: Some(js),
        rows: total,
        nulls,
        rank_error: None,
        band: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::monitor::assert_close as close;

    // Inputs shared with the scipy script quoted in each test.
    const A: [f64; 10] = [0.1, 0.5, 1.2, 2.3, 2.9, 3.3, 4.1, 5.0, 5.5, 6.7];
    const B: [f64; 11] = [1.0, 1.9, 2.5, 3.1, 3.8, 4.4, 5.2, 6.1, 7.3, 8.0, 9.2];

    /// Python: `A = [(i*7919 % 1000)/100 for i in range(500)]`.
    fn big_a() -> Vec<f64> {
        (0..500u64)
            .map(|i| (i * 7919 % 1000) as f64 / 100.0)
            .collect()
    }

    /// Python: `B = [((i*104729 % 1000)/100)**1.1 for i in range(700)]`.
    fn big_b() -> Vec<f64> {
        (0..700u64)
            .map(|i| ((i * 104_729 % 1000) as f64 / 100.0).powf(1.1))
            .collect()
    }

    #[test]
    fn ks_matches_scipy() {
        // scipy 1.17.1: r = stats.ks_2samp(A, B) (method='auto': exact, 10 and 11 values):
        // statistic 0.2727272727272727, pvalue 0.6915847310584153.
        let r = ks_2samp(&A, &B);
        close(r.statistic, 0.2727272727272727, 1e-12);
        close(r.p_value, 0.6915847310584153, 1e-9);
        // Big (500 and 700 values, still exact): statistic 0.19114285714285714,
        // pvalue 8.654517414739747e-10.
        let r = ks_2samp(&big_a(), &big_b());
        close(r.statistic, 0.19114285714285714, 1e-12);
        close(r.p_value, 8.654517414739747e-10, 1e-8);
        // Past 10,000 values scipy switches to kstwo.sf at the effective size:
        // E = [(i*7919 % 10007)/1000 for i in range(12000)],
        // F = [(i*7919 % 10007)/1000*1.02 + 0.05 for i in range(900)]:
        // statistic 0.025277777777777843, pvalue 0.6491117122576933.
        let e: Vec<f64> = (0..12_000u64)
            .map(|i| (i * 7919 % 10_007) as f64 / 1000.0)
            .collect();
        let f: Vec<f64> = (0..900u64)
            .map(|i| (i * 7919 % 10_007) as f64 / 1000.0 * 1.02 + 0.05)
            .collect();
        let r = ks_2samp(&e, &f);
        close(r.statistic, 0.025277777777777843, 1e-12);
        close(r.p_value, 0.6491117122576933, 1e-9);
    }

    #[test]
    fn wasserstein_matches_scipy() {
        // stats.wasserstein_distance(A, B) = 1.6127272727272728; / np.std(A) = 0.7742766005431225
        let (a, b) = (sorted(&A), sorted(&B));
        close(wasserstein_sorted(&a, &b), 1.6127272727272728, 1e-12);
        close(wasserstein_norm(&A, &B), 0.7742766005431225, 1e-12);
        // stats.wasserstein_distance(bigA, bigB) / np.std(bigA) = 0.34235925947200657
        close(
            wasserstein_norm(&big_a(), &big_b()),
            0.34235925947200657,
            1e-12,
        );
    }

    #[test]
    fn categorical_statistics_match_scipy() {
        // ref = [50,30,15,5], cur = [40,35,15,10]
        // stats.chisquare(cur, ref*cur.sum()/ref.sum()): statistic 7.833333333333334,
        // pvalue 0.04958475966922681
        let (base, cur) = ([50.0, 30.0, 15.0, 5.0], [40.0, 35.0, 15.0, 10.0]);
        let (stat, p) = chi_square(&base, &cur);
        close(stat, 7.833333333333334, 1e-12);
        close(p, 0.04958475966922681, 1e-10);
        // jensenshannon(ref/ref.sum(), cur/cur.sum()) = 0.08940630111427104 (natural log; base=2
        // would give 0.10738791175505989)
        close(jensen_shannon(&base, &cur), 0.08940630111427104, 1e-12);
        // np.sum((q-p)*np.log(q/p)) = 0.06467924815078115
        close(psi(&base, &cur), 0.06467924815078115, 1e-12);
        // An empty baseline category: ref2 = [60,40,0], cur2 = [50,40,10]; PSI with 1e-4 for the
        // zero = 0.7083169080497109; jensenshannon(p, q) = 0.19218019454096963; chi-square p = 0.
        let (base, cur) = ([60.0, 40.0, 0.0], [50.0, 40.0, 10.0]);
        close(psi(&base, &cur), 0.7083169080497109, 1e-12);
        close(jensen_shannon(&base, &cur), 0.19218019454096963, 1e-12);
        assert_eq!(chi_square(&base, &cur).1, 0.0);
    }

    #[test]
    fn binned_numeric_drift_is_close_to_the_exact_statistics() {
        // Edges: np.quantile(bigA, np.arange(1,10)/10) = [0.987, 1.988, 3.017, 4.028, 5.025,
        // 6.018, 7.033, 7.976, 8.991]; counts by np.searchsorted(edges, x, side='right');
        // PSI with 1e-4 for zeros = 0.19668995243426574.
        let (a, b) = (big_a(), big_b());
        let base = NumericBaseline::from_values(&a);
        close(base.edges[9], 0.9870000000000002, 1e-12);
        close(base.edges[89], 8.991, 1e-12);
        let mut cur = NumericCounts::empty();
        base.binner().add(&b, &mut cur);
        assert_eq!(cur.rows(), 700);
        let d = numeric_drift(&base, &cur, None, None);
        close(d.psi, 0.19668995243426574, 1e-10);
        // KS on bins is a lower bound within one fine bin's mass of the exact 0.19114.
        let ks = d.ks.unwrap();
        assert!(ks.statistic <= 0.19114285714285717 + 1e-12);
        assert!(
            ks.statistic >= 0.19114285714285717 - 0.02,
            "{}",
            ks.statistic
        );
        // Wasserstein on bins within 2% of the exact 0.342359.
        close(d.wasserstein.unwrap(), 0.34235925947200657, 0.02);
        // 500 baseline rows, many distinct values: KS decides.
        assert_eq!(d.test, StatTest::Ks);
        assert!(d.drifted);
    }

    #[test]
    fn a_window_like_its_baseline_does_not_drift() {
        let a = big_a();
        let base = NumericBaseline::from_values(&a);
        let mut cur = NumericCounts::empty();
        base.binner().add(&a, &mut cur);
        let d = numeric_drift(&base, &cur, None, None);
        assert!(d.psi.abs() < 1e-12 && d.ks.unwrap().statistic < 1e-12);
        assert!(d.wasserstein.unwrap() < 1e-12);
        assert!(!d.drifted);
        let c = categorical_drift(&[5, 3, 2], &[50, 30, 20], 0, None, None);
        assert_eq!(c.test, StatTest::ChiSquare);
        assert!(!c.drifted && c.score > 0.99);
    }

    #[test]
    fn binner_counts_edges_at_or_below_the_value() {
        let edges = [1.0, 2.0, 2.0, 3.0];
        let b = Binner::new(&edges);
        for (x, want) in [
            (0.5, 0),
            (1.0, 1),
            (1.5, 1),
            (2.0, 3),
            (2.5, 3),
            (3.0, 4),
            (1e300, 4),
        ] {
            assert_eq!(b.bin(x), want, "x = {x}");
            assert_eq!(edges.partition_point(|e| *e <= x), want);
        }
    }

    #[test]
    fn default_tests_follow_evidently() {
        use ColumnKind::*;
        assert_eq!(default_test(Numeric, 100, 1000), StatTest::Ks);
        assert_eq!(default_test(Numeric, 5, 1000), StatTest::ChiSquare);
        assert_eq!(default_test(Categorical, 3, 10), StatTest::ChiSquare);
        assert_eq!(default_test(Numeric, 6, 1001), StatTest::Wasserstein);
        assert_eq!(default_test(Numeric, 4, 50_000), StatTest::JensenShannon);
        assert_eq!(
            default_test(Categorical, 40, 50_000),
            StatTest::JensenShannon
        );
        assert!(dataset_drift(5, 10, 0.5));
        assert!(!dataset_drift(4, 10, 0.5));
        assert!(!dataset_drift(0, 0, 0.5));
    }

    #[test]
    fn large_baselines_use_distances() {
        // A 1% shift in a 4-category column over 100,000 rows: JS well under 0.1, chi-square
        // would flag it (p ≪ 0.05) — the reason Evidently switches to distances for big data.
        let base = [50_000u64, 30_000, 15_000, 5_000];
        let cur = [49_000u64, 31_000, 15_000, 5_000];
        let d = categorical_drift(&base, &cur, 0, None, None);
        assert_eq!(d.test, StatTest::JensenShannon);
        assert!(!d.drifted);
        assert!(d.chi_square_p.unwrap() < 0.05);
    }
}
