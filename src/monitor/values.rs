//! Drift of a window's numeric values ([`NumericSample`]) against the exact training baseline
//! ([`BaselineValues`]): the statistics on values rather than bins, the test chosen for the data,
//! and each score's sampling spread.
//!
//! **Exact or bounded.** The baseline is exact (every training value). A window of at most
//! [`EXACT_CAP`](super::sample::EXACT_CAP) values is exact too, and then KS (statistic and
//! p-value), normalised Wasserstein and PSI equal scipy's/numpy's on the same data (tests quote
//! scipy to 1e-9). Past the cap the window is a KLL sketch whose every normalised rank is within
//! ε = [`rank_error`](super::sample::rank_error) (≈ 0.0027) of the truth with 99% confidence;
//! then:
//! - the KS statistic is within ±ε of the exact one (a sup of CDF gaps, each off by ≤ ε);
//! - Wasserstein is within ±ε · (window max − window min) / σ_baseline (∫ of a CDF error ≤ ε
//!   over the window's range, where both CDFs differ from 0 and 1);
//! - each PSI bin share is within ±2ε (a difference of two ranks).
//!
//! **The right test for the data.** A numeric column whose baseline has at most [`FEW_VALUES`]
//! distinct values (a 0/1 flag, a small count) is tested as categorical, as Evidently does
//! (`n_unique <= 5`): each baseline value is its own level however rare, and every value the
//! baseline never had gets a level of its own (empty in the baseline), so a flag that is 1 in
//! 0.5% of training rows and in every row of a window is flagged. Evidently counts distinct
//! values over both samples together; counting the baseline's alone keeps the choice of test
//! fixed for a model version (a window cannot turn a flag into a number).
//!
//! **Sampling spread.** For a distance test (Wasserstein, Jensen–Shannon, PSI; their thresholds
//! ignore the window's size) the no-drift band is the 5th–95th percentile of the score over
//! [`BAND_DRAWS`] windows of the same size drawn with replacement from the baseline (a seeded
//! bootstrap; the Wasserstein draws are compared with a [`BAND_BASELINE`]-value quantile
//! subsample of the baseline). Such a test flags drift only when its score reaches both its
//! threshold and the band's top, so a small window is not flagged for noise the test would
//! show 1 time in 20 without drift. Computed up to [`BAND_MAX_ROWS`] records; above that the
//! spread of these distances is far below their thresholds. P-value tests (KS, chi-square) get
//! no band: their p-value already accounts for both sample sizes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use super::sample::BaselineValues;
use super::sample::NumericSample;
use super::stats::{
    ColumnDrift, ColumnKind, StatTest, chi_square, default_test, jensen_shannon, ks_result_pub,
    ks_statistic_weighted, psi, quantile_sorted, verdict, wasserstein_weighted,
};

pub use super::sample::FEW_VALUES;

/// Bootstrap windows drawn for a no-drift band.
pub const BAND_DRAWS: usize = 200;

/// Largest window size a band is computed for.
pub const BAND_MAX_ROWS: u64 = 5_000;

/// Baseline values (quantile-spaced) the Wasserstein band's draws are compared with.
pub const BAND_BASELINE: usize = 20_000;

/// Counts of weighted values on PSI bins `[e[i-1], e[i])` (`np.searchsorted(edges, x, 'right')`).
fn bin_counts(edges: &[f64], values: &[(f64, u64)]) -> Vec<f64> {
    let mut c = vec![0.0; edges.len() + 1];
    for &(x, w) in values {
        c[edges.partition_point(|e| *e <= x)] += w as f64;
    }
    c
}

/// Counts on the baseline's levels, then one level per value the baseline never had.
fn level_counts(base: &BaselineValues, cur: &[(f64, u64)]) -> (Vec<f64>, Vec<f64>) {
    let mut b: Vec<f64> = base.weighted.iter().map(|p| p.1 as f64).collect();
    let mut c = vec![0.0; b.len()];
    for &(x, w) in cur {
        match base.weighted.binary_search_by(|p| p.0.total_cmp(&x)) {
            Ok(i) => c[i] += w as f64,
            Err(_) => {
                b.push(0.0);
                c.push(w as f64);
            }
        }
    }
    (b, c)
}

/// Drift of a window's values against the exact baseline. `test` overrides the default choice
/// (Evidently's, with the few-values rule above), `threshold` its default threshold.
///
/// Numeric: KS (statistic and p-value as `scipy.stats.ks_2samp`), Wasserstein over the baseline's
/// population std, PSI on the baseline's deciles; few-valued: chi-square and Jensen–Shannon on
/// the levels (and PSI on the levels), KS and Wasserstein still reported.
pub fn values_drift(
    base: &BaselineValues,
    cur: &NumericSample,
    test: Option<StatTest>,
    threshold: Option<f64>,
) -> ColumnDrift {
    let cur_w = cur.weighted();
    let scores = Scores::of(base, &cur_w, cur.rows());
    let kind = if base.few_valued() {
        ColumnKind::Categorical
    } else {
        ColumnKind::Numeric
    };
    let test = test.unwrap_or_else(|| default_test(kind, base.distinct(), base.rows()));
    let threshold = threshold.unwrap_or(test.default_threshold());
    let score = scores.score(test);
    let band = (!test.is_p_value() && cur.rows() > 0 && cur.rows() <= BAND_MAX_ROWS)
        .then(|| no_drift_band(base, cur.rows(), test))
        .flatten();
    let drifted =
        cur.rows() > 0 && verdict(test, threshold, score) && band.is_none_or(|[_, hi]| score > hi);
    let few = base.few_valued();
    ColumnDrift {
        kind,
        test,
        threshold,
        score,
        drifted,
        psi: scores.psi,
        ks: Some(ks_result_pub(scores.ks, base.rows(), cur.rows())),
        wasserstein: Some(scores.wasserstein),
        chi_square_p: few.then_some(scores.chi_square_p),
        jensen_shannon: few.then_some(scores.jensen_shannon),
        rows: cur.rows(),
        nulls: cur.nulls(),
        rank_error: Some(cur.rank_error()),
        band,
    }
}

/// Every statistic of one window against the baseline.
struct Scores {
    ks: f64,
    wasserstein: f64,
    psi: f64,
    /// On the levels of a few-valued column, else on the PSI deciles (for an override).
    chi_square_p: f64,
    jensen_shannon: f64,
    base_rows: u64,
    cur_rows: u64,
}

impl Scores {
    fn of(base: &BaselineValues, cur: &[(f64, u64)], rows: u64) -> Scores {
        let ks = ks_statistic_weighted(&base.weighted, cur);
        let w = wasserstein_weighted(&base.weighted, cur);
        let wasserstein = if base.std > 0.0 { w / base.std } else { w };
        let (b, c) = if base.few_valued() {
            level_counts(base, cur)
        } else {
            (
                bin_counts(&base.psi_edges, &base.weighted),
                bin_counts(&base.psi_edges, cur),
            )
        };
        let (psi_v, chi_p, js) = (psi(&b, &c), chi_square(&b, &c).1, jensen_shannon(&b, &c));
        Scores {
            ks,
            wasserstein,
            psi: psi_v,
            chi_square_p: chi_p,
            jensen_shannon: js,
            base_rows: base.rows(),
            cur_rows: rows,
        }
    }

    /// The test's score (computing what `of` left out for the column's kind).
    fn score(&self, test: StatTest) -> f64 {
        match test {
            StatTest::Ks => ks_result_pub(self.ks, self.base_rows, self.cur_rows).p_value,
            StatTest::Wasserstein => self.wasserstein,
            StatTest::Psi => self.psi,
            // On a column with many values these two test its PSI deciles as categories.
            StatTest::ChiSquare => self.chi_square_p,
            StatTest::JensenShannon => self.jensen_shannon,
        }
    }
}

/// The 5th and 95th percentiles of `test`'s score on [`BAND_DRAWS`] windows of `rows` values
/// drawn with replacement from the baseline (seeded by the size, so the band of a window is
/// stable). `None` for an empty baseline.
pub fn no_drift_band(base: &BaselineValues, rows: u64, test: StatTest) -> Option<[f64; 2]> {
    let key = (rows, test.as_str());
    if let Some(b) = base.bands.0.lock().ok().and_then(|m| m.get(&key).copied()) {
        return b;
    }
    let band = draw_band(base, rows, test);
    if let Ok(mut m) = base.bands.0.lock() {
        m.insert(key, band);
    }
    band
}

fn draw_band(base: &BaselineValues, rows: u64, test: StatTest) -> Option<[f64; 2]> {
    let n = base.sorted.len();
    if n == 0 || rows == 0 || test.is_p_value() {
        return None;
    }
    // The Wasserstein draws are compared with a quantile subsample (cost O(draw + subsample)).
    let sub_weighted: Vec<(f64, u64)> = if n > BAND_BASELINE {
        let sub: Vec<f64> = (0..BAND_BASELINE)
            .map(|i| base.sorted[((i as f64 + 0.5) * n as f64 / BAND_BASELINE as f64) as usize])
            .collect();
        BaselineValues::from_values(&sub).weighted
    } else {
        base.weighted.clone()
    };
    let few = base.few_valued();
    let edges: &[f64] = &base.psi_edges;
    let base_bins = if few {
        Vec::new()
    } else {
        bin_counts(edges, &base.weighted)
    };
    let mut rng = StdRng::seed_from_u64(0x5eed_0000 ^ rows);
    let mut scores = Vec::with_capacity(BAND_DRAWS);
    let mut draw = Vec::with_capacity(rows as usize);
    for _ in 0..BAND_DRAWS {
        draw.clear();
        draw.extend((0..rows).map(|_| base.sorted[rng.gen_range(0..n)]));
        draw.sort_unstable_by(f64::total_cmp);
        let mut w: Vec<(f64, u64)> = Vec::new();
        for &x in &draw {
            match w.last_mut() {
                Some((y, c)) if *y == x => *c += 1,
                _ => w.push((x, 1)),
            }
        }
        let s = if test == StatTest::Wasserstein {
            let d = wasserstein_weighted(&sub_weighted, &w);
            if base.std > 0.0 { d / base.std } else { d }
        } else {
            let (b, c) = if few {
                level_counts(base, &w)
            } else {
                (base_bins.clone(), bin_counts(edges, &w))
            };
            match test {
                StatTest::Psi => psi(&b, &c),
                _ => jensen_shannon(&b, &c),
            }
        };
        scores.push(s);
    }
    scores.sort_unstable_by(f64::total_cmp);
    Some([
        quantile_sorted(&scores, 0.05),
        quantile_sorted(&scores, 0.95),
    ])
}

/// Category counts' no-drift bands, by (baseline counts, window rows, test); cleared when full.
type CategoricalBands =
    std::sync::Mutex<std::collections::HashMap<(Vec<u64>, u64, &'static str), Option<[f64; 2]>>>;

static CATEGORICAL_BANDS: std::sync::LazyLock<CategoricalBands> =
    std::sync::LazyLock::new(Default::default);

/// The 5th and 95th percentiles of a distance test's score (Jensen–Shannon, PSI) between the
/// category counts `base` and [`BAND_DRAWS`] windows of `rows` records drawn from the
/// baseline's shares (multinomial draws, seeded by the size): the score's spread without
/// drift, as [`no_drift_band`] for numeric values. `None` for a p-value test (chi-square
/// accounts for both sizes), an empty window or baseline, or more than [`BAND_MAX_ROWS`] rows.
/// Used for categorical features and for prediction drift (the probability histogram).
pub fn categorical_band(base: &[u64], rows: u64, test: StatTest) -> Option<[f64; 2]> {
    let total: u64 = base.iter().sum();
    if test.is_p_value() || rows == 0 || rows > BAND_MAX_ROWS || total == 0 {
        return None;
    }
    let key = (base.to_vec(), rows, test.as_str());
    if let Some(b) = CATEGORICAL_BANDS
        .lock()
        .ok()
        .and_then(|m| m.get(&key).copied())
    {
        return b;
    }
    let cum: Vec<u64> = base
        .iter()
        .scan(0u64, |s, c| {
            *s += c;
            Some(*s)
        })
        .collect();
    let b: Vec<f64> = base.iter().map(|c| *c as f64).collect();
    let mut rng = StdRng::seed_from_u64(0xca7e_0000 ^ rows);
    let mut scores = Vec::with_capacity(BAND_DRAWS);
    let mut c = vec![0.0; base.len()];
    for _ in 0..BAND_DRAWS {
        c.iter_mut().for_each(|x| *x = 0.0);
        for _ in 0..rows {
            let u = rng.gen_range(0..total);
            c[cum.partition_point(|s| *s <= u)] += 1.0;
        }
        scores.push(match test {
            StatTest::Psi => psi(&b, &c),
            _ => jensen_shannon(&b, &c),
        });
    }
    scores.sort_unstable_by(f64::total_cmp);
    let band = Some([
        quantile_sorted(&scores, 0.05),
        quantile_sorted(&scores, 0.95),
    ]);
    if let Ok(mut m) = CATEGORICAL_BANDS.lock() {
        if m.len() > 4096 {
            m.clear();
        }
        m.insert(key, band);
    }
    band
}

/// Gives a categorical verdict (of [`super::stats::categorical_drift`] on the counts `base`)
/// its no-drift band: a distance test then flags only above both its threshold and the band.
pub fn with_categorical_band(mut d: ColumnDrift, base: &[u64]) -> ColumnDrift {
    d.band = categorical_band(base, d.rows, d.test);
    if let Some([_, hi]) = d.band {
        d.drifted = d.drifted && d.score > hi;
    }
    d
}

/// Labels of the bins `(-∞, e₁), [e₁, e₂), …, [e_k, ∞)` a value can fall in: a bin between two
/// equal edges can hold nothing (a value equal to an edge goes past every equal edge, as
/// `np.searchsorted(edges, x, side="right")`), so it gets `None` and is left out of histograms;
/// the others read `< e₁`, `a..b` and `>= e_k` with distinct edges.
pub fn bin_labels(edges: &[f64]) -> Vec<Option<String>> {
    let k = edges.len();
    (0..=k)
        .map(|i| match i {
            0 => Some(format!("< {}", edge_label(edges.first().copied()?))),
            i if i == k => Some(format!(">= {}", edge_label(edges[k - 1]))),
            i if edges[i - 1] == edges[i] => None,
            i => Some(format!(
                "{}..{}",
                edge_label(edges[i - 1]),
                edge_label(edges[i])
            )),
        })
        .collect()
}

/// A bin edge for a label: integers plainly, small and huge values in scientific notation, two
/// decimals otherwise.
pub fn edge_label(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if a != 0.0 && !(0.01..1e6).contains(&a) {
        format!("{x:.2e}")
    } else if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::assert_close as close;

    /// Python: `[(((i*k) % 1000 + 0.5) / 1000) ** -1.5 for i in range(n)]`, a Pareto-like heavy
    /// tail (tail index 2/3: the inverse CDF on a scrambled grid).
    fn heavy(n: u64, k: u64) -> Vec<f64> {
        (0..n)
            .map(|i| (((i * k) % 1000) as f64 + 0.5) / 1000.0)
            .map(|u| u.powf(-1.5))
            .collect()
    }

    fn drift(base: &[f64], cur: &[f64]) -> ColumnDrift {
        values_drift(
            &BaselineValues::from_values(base),
            &NumericSample::from_values(cur),
            None,
            None,
        )
    }

    #[test]
    fn exact_path_equals_scipy_on_heavy_tailed_shifted_and_discrete_data() {
        // scipy 1.17.1, numpy 2.4.6 (inputs as the Rust helpers build them):
        // r = stats.ks_2samp(base, cur); w = stats.wasserstein_distance(base, cur) / np.std(base);
        // psi: e = np.quantile(base, np.arange(1, 10)/10), shares by np.searchsorted(e, x,
        // 'right'), zeros as 1e-4, np.sum((c - b) * np.log(c / b)).
        let cases: [Case; 7] = [
            // heavy = heavy(3000, 7919) against heavy(700, 104729): no drift.
            (
                "heavy, no drift",
                heavy(3000, 7919),
                heavy(700, 104_729),
                [
                    0.0025714285714285713,
                    1.0,
                    0.01433052346981748,
                    8.163820698301708e-05,
                ],
            ),
            // ... scaled x1.5.
            (
                "heavy x1.5",
                heavy(3000, 7919),
                heavy(700, 104_729).iter().map(|x| 1.5 * x).collect(),
                [
                    0.23714285714285716,
                    1.6311501929510391e-28,
                    0.046547940623573494,
                    1.4421363278161057,
                ],
            ),
            // year(n, k) = [1950 + ((i*k) % 1000)/10]: no drift, then shifted by 3 years.
            (
                "year, no drift",
                year(3000, 7919),
                year(700, 104_729),
                [
                    0.0025714285714285713,
                    1.0,
                    0.00237340566473183,
                    8.163820698301708e-05,
                ],
            ),
            (
                "year + 3",
                year(3000, 7919),
                year(700, 104_729).iter().map(|x| x + 3.0).collect(),
                [
                    0.03257142857142857,
                    0.5712913580510078,
                    0.10491284422917867,
                    0.018652814459169716,
                ],
            ),
            // counts = np.floor(heavy): 123 distinct values with many ties.
            (
                "counts, no drift",
                floor(heavy(3000, 7919)),
                floor(heavy(700, 104_729)),
                [0.002, 1.0, 0.014330196927103644, 8.436840106829941e-05],
            ),
            (
                "counts + 1",
                floor(heavy(3000, 7919)),
                floor(heavy(700, 104_729)).iter().map(|x| x + 1.0).collect(),
                [
                    0.37,
                    7.343498927310916e-70,
                    0.01466000537823638,
                    3.3016839672228704,
                ],
            ),
            // A baseline past 10,000 values: scipy's asymptotic p-value (kstwo).
            (
                "heavy, big baseline, x1.2",
                heavy(12_000, 7919),
                heavy(700, 104_729).iter().map(|x| 1.2 * x).collect(),
                [
                    0.11514285714285713,
                    4.322238377356125e-08,
                    0.027138027223855474,
                    0.7023307387999307,
                ],
            ),
        ];
        for (name, base, cur, [d, p, w, psi]) in cases {
            let r = drift(&base, &cur);
            let ks = r.ks.unwrap();
            println!("{name}: {r:?}");
            close(ks.statistic, d, 1e-9);
            close(ks.p_value, p, 1e-9);
            close(r.wasserstein.unwrap(), w, 1e-9);
            close(r.psi, psi, 1e-9);
            assert_eq!(r.rank_error, Some(0.0));
            assert_eq!(r.kind, ColumnKind::Numeric, "{name}");
        }
    }

    /// A name, baseline values, window values, and scipy's KS statistic and p-value, normalised
    /// Wasserstein and PSI.
    type Case = (&'static str, Vec<f64>, Vec<f64>, [f64; 4]);

    fn year(n: u64, k: u64) -> Vec<f64> {
        (0..n)
            .map(|i| 1950.0 + ((i * k) % 1000) as f64 / 10.0)
            .collect()
    }

    fn floor(v: Vec<f64>) -> Vec<f64> {
        v.into_iter().map(f64::floor).collect()
    }

    #[test]
    fn sketch_path_is_within_the_stated_bound_of_scipy() {
        // base = heavy(12000, 7919), cur = 1.2 * heavy(11000, 104729) (past the exact cap):
        // ks_2samp statistic 0.115, pvalue 1.4146175442013422e-66;
        // wasserstein_distance / np.std(base) = 0.01029003645754187.
        let base = BaselineValues::from_values(&heavy(12_000, 7919));
        let cur: Vec<f64> = heavy(11_000, 104_729).iter().map(|x| 1.2 * x).collect();
        let s = NumericSample::from_values(&cur);
        assert!(!s.is_exact());
        let r = values_drift(&base, &s, Some(StatTest::Ks), None);
        let eps = r.rank_error.unwrap();
        assert!(eps > 0.0 && eps < 0.003, "{eps}");
        let d = r.ks.unwrap().statistic;
        assert!((d - 0.115).abs() <= eps, "KS {d} vs 0.115 ± {eps}");
        let (lo, hi) = s.range().unwrap();
        let w_bound = eps * (hi - lo) / base.std;
        let w = r.wasserstein.unwrap();
        assert!(
            (w - 0.01029003645754187).abs() <= w_bound,
            "W {w} vs 0.01029 ± {w_bound}"
        );
        assert!(r.drifted && r.score < 1e-50);
    }

    #[test]
    fn a_rare_flag_that_becomes_always_on_is_flagged() {
        // 3,000 training rows with 15 ones (0.5%); a window of 500 ones.
        // scipy: jensenshannon([2985, 15]/3000, [0, 500]/500) = 0.8230401858562424;
        // chisquare([0, 500], [2985, 15] * 500/3000): statistic 99500, pvalue 0.0.
        let flag: Vec<f64> = (0..3000).map(|i| f64::from(i % 200 == 0)).collect();
        let base = BaselineValues::from_values(&flag);
        assert!(base.few_valued());
        let r = values_drift(&base, &NumericSample::from_values(&[1.0; 500]), None, None);
        assert_eq!(r.kind, ColumnKind::Categorical);
        assert_eq!(r.test, StatTest::JensenShannon);
        close(r.jensen_shannon.unwrap(), 0.8230401858562424, 1e-9);
        assert_eq!(r.chi_square_p, Some(0.0));
        assert!(r.drifted, "{r:?}");
        // The same share of ones (3 in 500, JS 0.004783761361689178) is not flagged.
        let mut same = vec![0.0; 497];
        same.extend([1.0; 3]);
        let r = values_drift(&base, &NumericSample::from_values(&same), None, None);
        close(r.jensen_shannon.unwrap(), 0.004783761361689178, 1e-9);
        assert!(!r.drifted, "{r:?}");
        // A value the baseline never had gets its own level (chi-square: p = 0).
        let r = values_drift(
            &base,
            &NumericSample::from_values(&[0.0, 2.0, 0.0]),
            Some(StatTest::ChiSquare),
            None,
        );
        assert_eq!(r.score, 0.0);
        assert!(r.drifted);
    }

    #[test]
    fn small_windows_of_baseline_values_are_not_flagged_by_distance_noise() {
        // 12 records drawn from a heavy-tailed baseline: a fixed 0.1 Wasserstein threshold is
        // often crossed by noise alone; the band holds the verdict back.
        let base = BaselineValues::from_values(&heavy(3000, 7919));
        let mut flagged_fixed = 0;
        let mut flagged = 0;
        for start in 0..50u64 {
            let cur: Vec<f64> = heavy(3000, 7919)
                .into_iter()
                .skip((start * 37) as usize)
                .step_by(211)
                .take(12)
                .collect();
            let r = values_drift(&base, &NumericSample::from_values(&cur), None, None);
            assert_eq!(r.test, StatTest::Wasserstein);
            let [lo, hi] = r.band.unwrap();
            assert!(lo < hi && hi > 0.0);
            flagged_fixed += usize::from(r.score >= r.threshold);
            flagged += usize::from(r.drifted);
        }
        assert!(flagged <= 5, "{flagged} of 50 flagged");
        assert!(flagged < flagged_fixed, "{flagged} vs {flagged_fixed}");
        // A real shift still is.
        let cur: Vec<f64> = heavy(12, 104_729).iter().map(|x| 3.0 * x).collect();
        let r = values_drift(&base, &NumericSample::from_values(&cur), None, None);
        assert!(r.drifted, "{r:?}");
        // Bands narrow as windows grow; none past BAND_MAX_ROWS.
        let b50 = no_drift_band(&base, 50, StatTest::Wasserstein).unwrap();
        let b2000 = no_drift_band(&base, 2000, StatTest::Wasserstein).unwrap();
        assert!(b2000[1] < b50[1], "{b2000:?} vs {b50:?}");
        let big = NumericSample::from_values(&heavy(6000, 104_729));
        assert_eq!(values_drift(&base, &big, None, None).band, None);
        // P-value tests carry no band.
        let r = values_drift(&base, &big, Some(StatTest::Ks), None);
        assert_eq!(r.band, None);
    }

    #[test]
    fn small_categorical_windows_are_held_back_by_their_band() {
        use crate::monitor::stats::categorical_drift;
        // 12 categories over 12,600 training rows (JS is the default test); 40 windows of 60
        // records drawn from the training shares: JS noise at this size is about 0.15, above
        // the fixed 0.1 threshold, and the band holds such windows back.
        let base: Vec<u64> = (0..12).map(|i| 500 + 100 * i).collect();
        let total: u64 = base.iter().sum();
        let mut rng = StdRng::seed_from_u64(3);
        let mut fixed = 0;
        let mut flagged = 0;
        for _ in 0..40 {
            let mut cur = vec![0u64; 12];
            for _ in 0..60 {
                let mut u = rng.gen_range(0..total);
                let k = base.iter().position(|b| {
                    let hit = u < *b;
                    u = u.saturating_sub(*b);
                    hit
                });
                cur[k.unwrap()] += 1;
            }
            let d = categorical_drift(&base, &cur, 0, None, None);
            assert_eq!(d.test, StatTest::JensenShannon);
            fixed += usize::from(d.drifted);
            let d = with_categorical_band(d, &base);
            let [lo, hi] = d.band.unwrap();
            assert!(lo < hi && hi > d.threshold, "{d:?}");
            flagged += usize::from(d.drifted);
        }
        assert!(
            flagged <= 4,
            "{flagged} of 40 flagged ({fixed} by the fixed threshold)"
        );
        assert!(fixed > 30, "the fixed threshold alone flags {fixed} of 40");
        // All 60 in the rarest category is drift at any size.
        let mut cur = vec![0; 12];
        cur[0] = 60;
        let d = with_categorical_band(categorical_drift(&base, &cur, 0, None, None), &base);
        assert!(d.drifted, "{d:?}");
        // No band for chi-square (a p-value) or past BAND_MAX_ROWS.
        assert_eq!(categorical_band(&base, 60, StatTest::ChiSquare), None);
        assert_eq!(
            categorical_band(&base, BAND_MAX_ROWS + 1, StatTest::JensenShannon),
            None
        );
    }

    #[test]
    fn bins_between_equal_edges_are_left_out_of_labels() {
        // A count feature's deciles: 0 0 1 1 1 2 3 5 9.
        let edges = [0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 3.0, 5.0, 9.0];
        let labels: Vec<String> = bin_labels(&edges).into_iter().flatten().collect();
        assert_eq!(
            labels,
            ["< 0", "0..1", "1..2", "2..3", "3..5", "5..9", ">= 9"]
        );
        assert_eq!(bin_labels(&edges).len(), 10);
        assert_eq!(
            bin_labels(&[0.5, 1234567.0])[2].as_deref(),
            Some(">= 1.23e6")
        );
        assert_eq!(bin_labels(&[]), [None]);
    }
}
