//! The Tree-structured Parzen Estimator (Bergstra, Bardenet, Bengio and Kégl, "Algorithms for
//! Hyper-Parameter Optimization", NeurIPS 2011), as Optuna's `TPESampler` runs it with its
//! defaults (Optuna 5.0, `optuna/samplers/_tpe/`; Watanabe, "Tree-Structured Parzen Estimator:
//! Understanding Its Algorithm Components and Their Roles for Better Empirical Performance", 2023):
//!
//! - the first `n_startup_trials = 10` finished trials are drawn at random;
//! - then the finished trials split into the `gamma(n) = min(ceil(0.1 n), 25)` best ("below")
//!   and the rest ("above"), pruned trials ranked after complete ones by their last step and
//!   value, running trials counted as above (the constant liar, on by default);
//! - each group becomes a Parzen estimator: a mixture with one kernel per trial (a product over
//!   the parameters: multivariate, Optuna's default for one objective) plus a prior kernel, with
//!   weights `default_weights` (1 each, older trials ramped down past 25) and the prior's weight
//!   1, normalised; a numeric kernel is a normal truncated to the bounds (in `ln` for `log`,
//!   widened by half a step for integers, whose densities are the masses of the step around the
//!   value), centred on the observation with the bandwidth `max(distance to the left neighbour,
//!   distance to the right neighbour)` among the sorted observations and the bounds (the
//!   outermost using their inner neighbour), clipped to `[range / min(100, n + 2), range]`; the
//!   prior is centred on the middle with bandwidth `range`; a categorical kernel puts
//!   `prior_weight / (n + 1)` on every choice plus 1 on the observed one, normalised;
//! - `n_ei_candidates = 24` candidates are drawn from the below estimator and the one with the
//!   highest `log l(x) - log g(x)` is proposed.
//!
//! Written here rather than taken from a crate: no maintained Rust crate implements TPE (the
//! Rust ports on crates.io are unmaintained and follow older hyperopt rules), and it is about
//! 300 lines. The truncated normal's mass, log-CDF and inverse follow Optuna's
//! `_truncnorm.py` (itself from SciPy), with `erf`/`erfc` from the `libm` crate.

use rand::Rng;
use rand::rngs::StdRng;

use super::sampler::{TrialRecord, TrialState, random};
use super::space::{Distribution, Space};
use crate::config::Direction;

/// TPE's settings; the default is Optuna's `TPESampler()`.
#[derive(Debug, Clone, PartialEq)]
pub struct TpeSettings {
    pub n_startup_trials: usize,
    pub n_ei_candidates: usize,
    pub prior_weight: f64,
    pub consider_magic_clip: bool,
    pub consider_endpoints: bool,
}

impl Default for TpeSettings {
    fn default() -> Self {
        TpeSettings {
            n_startup_trials: 10,
            n_ei_candidates: 24,
            prior_weight: 1.0,
            consider_magic_clip: true,
            consider_endpoints: false,
        }
    }
}

/// Optuna's `default_gamma`: how many finished trials count as good.
pub fn gamma(n: usize) -> usize {
    (n as f64 * 0.1).ceil().min(25.0) as usize
}

/// Optuna's `default_weights`: 1 per trial, the oldest ramped from `1/n` up when there are 25
/// or more (the newest 25 keep 1).
pub fn default_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> = (0..ramp)
        .map(|i| {
            if ramp == 1 {
                1.0 / n as f64
            } else {
                1.0 / n as f64 + (1.0 - 1.0 / n as f64) * i as f64 / (ramp - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

/// One parameter's kernels in a [`ParzenEstimator`].
#[derive(Debug, Clone, PartialEq)]
pub enum Kernels {
    /// Per kernel, the probability of each choice.
    Categorical(Vec<Vec<f64>>),
    /// Truncated normals; `low`/`high` are the bounds the normals are truncated to, in the
    /// transformed space (`ln` for `log`, widened by `step / 2` for integers).
    Numerical {
        mus: Vec<f64>,
        sigmas: Vec<f64>,
        low: f64,
        high: f64,
        log: bool,
        /// 1 for integers (the kernel's density is the mass of `[x - 0.5, x + 0.5]`).
        step: Option<f64>,
        /// The distribution's own bounds, to clip and round samples to.
        bounds: (f64, f64),
    },
}

/// A mixture of product kernels over the whole space (Optuna's `_ParzenEstimator`), the last
/// kernel being the prior.
#[derive(Debug, Clone, PartialEq)]
pub struct ParzenEstimator {
    /// Normalised; one per kernel.
    pub weights: Vec<f64>,
    /// One per parameter of the space, in its order.
    pub kernels: Vec<Kernels>,
}

impl ParzenEstimator {
    /// The estimator of `observations` (one row of internal values per trial, oldest first).
    pub fn new(space: &Space, observations: &[Vec<f64>], settings: &TpeSettings) -> Self {
        let n = observations.len();
        let mut weights = if n == 0 {
            vec![1.0]
        } else {
            let mut w = default_weights(n);
            w.push(settings.prior_weight);
            w
        };
        let total: f64 = weights.iter().sum();
        for w in &mut weights {
            *w /= total;
        }
        let kernels = space
            .params
            .iter()
            .enumerate()
            .map(|(j, p)| {
                let column: Vec<f64> = observations.iter().map(|o| o[j]).collect();
                kernels(&p.distribution, &column, settings)
            })
            .collect();
        ParzenEstimator { weights, kernels }
    }

    /// `count` draws: a kernel by weight, then each parameter from that kernel.
    pub fn sample(&self, rng: &mut StdRng, count: usize) -> Vec<Vec<f64>> {
        (0..count)
            .map(|_| {
                let k = pick(&self.weights, rng.r#gen::<f64>());
                self.kernels.iter().map(|d| draw(d, k, rng)).collect()
            })
            .collect()
    }

    /// The log density (log mass for integers and choices) of `x`, over the whole mixture.
    pub fn log_pdf(&self, x: &[f64]) -> f64 {
        let mut per_kernel: Vec<f64> = self.weights.iter().map(|w| w.ln()).collect();
        for (d, &xi) in self.kernels.iter().zip(x) {
            match d {
                Kernels::Categorical(w) => {
                    for (acc, row) in per_kernel.iter_mut().zip(w) {
                        *acc += row[xi as usize].ln();
                    }
                }
                Kernels::Numerical {
                    mus,
                    sigmas,
                    low,
                    high,
                    log,
                    step,
                    ..
                } => {
                    let t = |v: f64| if *log { v.ln() } else { v };
                    for (acc, (mu, sigma)) in per_kernel.iter_mut().zip(mus.iter().zip(sigmas)) {
                        let a = (low - mu) / sigma;
                        let b = (high - mu) / sigma;
                        *acc += match step {
                            None => {
                                let z = (t(xi) - mu) / sigma;
                                if t(xi) < *low || t(xi) > *high {
                                    f64::NEG_INFINITY
                                } else {
                                    norm_logpdf(z) - log_gauss_mass(a, b) - sigma.ln()
                                }
                            }
                            Some(s) => {
                                let left = (t(xi - s / 2.0) - mu) / sigma;
                                let right = (t(xi + s / 2.0) - mu) / sigma;
                                log_gauss_mass(left, right) - log_gauss_mass(a, b)
                            }
                        };
                    }
                }
            }
        }
        log_sum_exp(&per_kernel)
    }
}

/// One parameter's kernels (Optuna's `_calculate_categorical_distributions` and
/// `_calculate_numerical_distributions`).
fn kernels(d: &Distribution, observed: &[f64], settings: &TpeSettings) -> Kernels {
    match d {
        Distribution::Choice(values) => {
            let k = values.len();
            if observed.is_empty() {
                return Kernels::Categorical(vec![vec![1.0 / k as f64; k]]);
            }
            let n_kernels = observed.len() + 1;
            let mut rows = vec![vec![settings.prior_weight / n_kernels as f64; k]; n_kernels];
            for (row, &x) in rows.iter_mut().zip(observed) {
                row[x as usize] += 1.0;
            }
            for row in &mut rows {
                let s: f64 = row.iter().sum();
                if s > 0.0 {
                    for v in row.iter_mut() {
                        *v /= s;
                    }
                }
            }
            Kernels::Categorical(rows)
        }
        Distribution::Int { low, high, log } => numerical(
            observed,
            (*low as f64, *high as f64),
            *log,
            Some(1.0),
            settings,
        ),
        Distribution::Float { low, high, log } => {
            numerical(observed, (*low, *high), *log, None, settings)
        }
    }
}

fn numerical(
    observed: &[f64],
    bounds: (f64, f64),
    log: bool,
    step: Option<f64>,
    settings: &TpeSettings,
) -> Kernels {
    let (mut low, mut high) = bounds;
    if let Some(s) = step {
        low -= s / 2.0;
        high += s / 2.0;
    }
    let mut mus: Vec<f64> = observed.to_vec();
    if log {
        low = low.ln();
        high = high.ln();
        for m in &mut mus {
            *m = m.ln();
        }
    }
    // Bandwidths: the larger gap to a sorted neighbour (the bounds at the ends).
    let mut order: Vec<usize> = (0..mus.len()).collect();
    order.sort_by(|&a, &b| mus[a].total_cmp(&mus[b]));
    let mut with_ends = Vec::with_capacity(mus.len() + 2);
    with_ends.push(low);
    with_ends.extend(order.iter().map(|&i| mus[i]));
    with_ends.push(high);
    let mut sorted_sigmas: Vec<f64> = (1..with_ends.len() - 1)
        .map(|i| (with_ends[i] - with_ends[i - 1]).max(with_ends[i + 1] - with_ends[i]))
        .collect();
    if !settings.consider_endpoints && with_ends.len() >= 4 {
        let last = sorted_sigmas.len() - 1;
        let m = with_ends.len();
        sorted_sigmas[0] = with_ends[2] - with_ends[1];
        sorted_sigmas[last] = with_ends[m - 2] - with_ends[m - 3];
    }
    let mut sigmas = vec![0.0; mus.len()];
    for (rank, &i) in order.iter().enumerate() {
        sigmas[i] = sorted_sigmas[rank];
    }
    let max_sigma = high - low;
    let min_sigma = if settings.consider_magic_clip {
        let n_kernels = (mus.len() + 1) as f64;
        (high - low) / 100f64.min(1.0 + n_kernels)
    } else {
        1e-12
    };
    for s in &mut sigmas {
        *s = s.clamp(min_sigma, max_sigma);
    }
    mus.push(0.5 * (low + high));
    sigmas.push(high - low);
    Kernels::Numerical {
        mus,
        sigmas,
        low,
        high,
        log,
        step,
        bounds,
    }
}

/// The index whose cumulative weight first reaches `u` in `[0, 1)`.
fn pick(weights: &[f64], u: f64) -> usize {
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if u < acc {
            return i;
        }
    }
    weights.len() - 1
}

fn draw(d: &Kernels, k: usize, rng: &mut StdRng) -> f64 {
    match d {
        Kernels::Categorical(rows) => pick(&rows[k], rng.r#gen::<f64>()) as f64,
        Kernels::Numerical {
            mus,
            sigmas,
            low,
            high,
            log,
            step,
            bounds,
        } => {
            let (mu, sigma) = (mus[k], sigmas[k]);
            let q: f64 = rng.r#gen::<f64>();
            let z = truncnorm_ppf(q, (low - mu) / sigma, (high - mu) / sigma);
            let mut x = z * sigma + mu;
            if *log {
                x = x.exp();
            }
            match step {
                Some(s) => (bounds.0 + ((x - bounds.0) / s).round() * s).clamp(bounds.0, bounds.1),
                None => x.clamp(bounds.0, bounds.1),
            }
        }
    }
}

/// Proposes the next trial's params: random for the first `n_startup_trials` finished trials,
/// then the candidate of `below` with the best `log l(x) - log g(x)` (see the module docs).
pub fn sample(
    settings: &TpeSettings,
    space: &Space,
    history: &[TrialRecord],
    direction: Direction,
    rng: &mut StdRng,
) -> Vec<f64> {
    let finished = history
        .iter()
        .filter(|t| matches!(t.state, TrialState::Complete | TrialState::Pruned))
        .count();
    if finished < settings.n_startup_trials || space.is_empty() {
        return random(space, rng);
    }
    let (below, above) = split(history, gamma(finished), direction);
    let rows =
        |ts: &[&TrialRecord]| -> Vec<Vec<f64>> { ts.iter().map(|t| t.params.clone()).collect() };
    let l = ParzenEstimator::new(space, &rows(&below), settings);
    let g = ParzenEstimator::new(space, &rows(&above), settings);
    let candidates = l.sample(rng, settings.n_ei_candidates.max(1));
    let mut best = 0;
    let mut best_score = f64::NEG_INFINITY;
    for (i, c) in candidates.iter().enumerate() {
        let score = l.log_pdf(c) - g.log_pdf(c);
        // NaN never wins; the first of equal scores does (numpy's argmax).
        if score > best_score || (i == 0 && score.is_nan()) {
            best = i;
            best_score = score;
        }
    }
    candidates
        .into_iter()
        .nth(best)
        .expect("at least one candidate")
}

/// Optuna's `_split_trials` for one objective: the `n_below` best complete trials, then pruned
/// trials by (furthest step, best last value) while room remains, are "below"; every other
/// finished trial and every running one is "above"; failed trials are left out. Both keep trial
/// order.
pub fn split(
    history: &[TrialRecord],
    n_below: usize,
    direction: Direction,
) -> (Vec<&TrialRecord>, Vec<&TrialRecord>) {
    let sign = match direction {
        Direction::Maximize => -1.0,
        Direction::Minimize => 1.0,
    };
    let mut complete: Vec<&TrialRecord> = history
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .collect();
    // Stable: equal values keep trial order, as Python's sorted.
    complete.sort_by(|a, b| {
        (sign * a.value.unwrap_or(f64::NAN)).total_cmp(&(sign * b.value.unwrap_or(f64::NAN)))
    });
    let mut pruned: Vec<&TrialRecord> = history
        .iter()
        .filter(|t| t.state == TrialState::Pruned)
        .collect();
    let score = |t: &TrialRecord| -> (f64, f64) {
        match t.intermediate.iter().next_back() {
            Some((step, v)) if v.is_nan() => (-(*step as f64), f64::INFINITY),
            Some((step, v)) => (-(*step as f64), sign * v),
            None => (1.0, 0.0),
        }
    };
    pruned.sort_by(|a, b| {
        let (sa, sb) = (score(a), score(b));
        sa.0.total_cmp(&sb.0).then(sa.1.total_cmp(&sb.1))
    });
    let n_complete = n_below.min(complete.len());
    let n_pruned = (n_below - n_complete).min(pruned.len());
    let mut below: Vec<&TrialRecord> = complete[..n_complete].to_vec();
    below.extend_from_slice(&pruned[..n_pruned]);
    let mut above: Vec<&TrialRecord> = complete[n_complete..].to_vec();
    above.extend_from_slice(&pruned[n_pruned..]);
    above.extend(history.iter().filter(|t| t.state == TrialState::Running));
    below.sort_by_key(|t| t.number);
    above.sort_by_key(|t| t.number);
    (below, above)
}

// ---------------------------------------------------------------------------------------------
// The truncated normal (Optuna's `_truncnorm.py`, from SciPy).

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

fn norm_logpdf(z: f64) -> f64 {
    -z * z / 2.0 - LN_SQRT_2PI
}

/// The standard normal CDF.
fn ndtr(a: f64) -> f64 {
    let x = a / std::f64::consts::SQRT_2;
    if x < -std::f64::consts::FRAC_1_SQRT_2 {
        0.5 * libm::erfc(-x)
    } else if x < std::f64::consts::FRAC_1_SQRT_2 {
        0.5 + 0.5 * libm::erf(x)
    } else {
        1.0 - 0.5 * libm::erfc(x)
    }
}

/// `ln(ndtr(a))`, with the asymptotic series far in the left tail.
fn log_ndtr(a: f64) -> f64 {
    if a > 6.0 {
        return -ndtr(-a);
    }
    if a > -20.0 {
        return ndtr(a).ln();
    }
    let log_lhs = -0.5 * a * a - (-a).ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
    let mut last = 0.0f64;
    let mut rhs = 1.0f64;
    let mut numerator = 1.0;
    let mut denom_factor = 1.0;
    let denom_cons = 1.0 / (a * a);
    let mut sign = 1.0;
    let mut i = 0.0;
    while (last - rhs).abs() > f64::EPSILON {
        i += 1.0;
        last = rhs;
        sign = -sign;
        denom_factor *= denom_cons;
        numerator *= 2.0 * i - 1.0;
        rhs += sign * numerator * denom_factor;
    }
    log_lhs + rhs.ln()
}

/// `ln(exp(p) - exp(q))` for `p >= q`.
fn log_diff(p: f64, q: f64) -> f64 {
    p + (-(q - p).exp()).ln_1p()
}

/// `ln(exp(p) + exp(q))`.
fn log_add(p: f64, q: f64) -> f64 {
    let m = p.max(q);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((p - m).exp() + (q - m).exp()).ln()
}

/// The log of the standard normal's mass in `[a, b]`, accurate in both tails.
pub fn log_gauss_mass(a: f64, b: f64) -> f64 {
    if b <= 0.0 {
        log_diff(log_ndtr(b), log_ndtr(a))
    } else if a > 0.0 {
        log_diff(log_ndtr(-a), log_ndtr(-b))
    } else {
        (-ndtr(a) - ndtr(-b)).ln_1p()
    }
}

/// `x` with `log_ndtr(x) = y` (Newton's method from a tail or logistic first guess).
fn ndtri_exp(y: f64) -> f64 {
    let flipped = y > -1e-2;
    let z = if flipped { (-y.exp_m1()).ln() } else { y };
    let mut x = if z < -5.0 {
        -(-2.0 * (z + LN_SQRT_2PI)).sqrt()
    } else {
        -(3f64.sqrt() / std::f64::consts::PI) * (-z).exp_m1().ln()
    };
    for _ in 0..100 {
        let log_ndtr_x = log_ndtr(x);
        let log_pdf_x = -0.5 * x * x - LN_SQRT_2PI;
        let dx = (log_ndtr_x - z) * (log_ndtr_x - log_pdf_x).exp();
        x -= dx;
        if dx.abs() < 1e-8 * x.abs() {
            break;
        }
    }
    if flipped { -x } else { x }
}

/// The `q` quantile of the standard normal truncated to `[a, b]`.
fn truncnorm_ppf(q: f64, a: f64, b: f64) -> f64 {
    if a == b {
        return f64::NAN;
    }
    if q <= 0.0 {
        return a;
    }
    if q >= 1.0 {
        return b;
    }
    let log_mass = log_gauss_mass(a, b);
    let x = if a < 0.0 {
        ndtri_exp(log_add(log_ndtr(a), q.ln() + log_mass))
    } else {
        -ndtri_exp(log_add(log_ndtr(-b), (-q).ln_1p() + log_mass))
    };
    x.clamp(a, b)
}

fn log_sum_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY || m.is_nan() {
        return m;
    }
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::space::Param;
    use rand::SeedableRng;
    use std::collections::BTreeMap;

    use crate::tune::sampler::SamplerKind;

    /// One proposal of either sampler (what `tune::sample` does, without importing it: the
    /// module tree stays acyclic).
    fn propose(
        kind: SamplerKind,
        space: &Space,
        history: &[TrialRecord],
        direction: Direction,
        rng: &mut StdRng,
    ) -> Vec<f64> {
        match kind {
            SamplerKind::Tpe => sample(&TpeSettings::default(), space, history, direction, rng),
            SamplerKind::Random => random(space, rng),
        }
    }

    fn space(specs: &[&str]) -> Space {
        Space::parse(specs).unwrap()
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn gamma_and_weights_are_optunas() {
        assert_eq!(
            [0, 1, 9, 10, 11, 100, 249, 250, 1000].map(gamma),
            [0, 1, 1, 1, 2, 10, 25, 25, 25]
        );
        assert_eq!(default_weights(3), vec![1.0; 3]);
        // numpy: np.linspace(1/27, 1.0, num=2) then 25 ones.
        let w = default_weights(27);
        assert_eq!(w.len(), 27);
        assert!(close(w[0], 1.0 / 27.0, 1e-15) && close(w[1], 1.0, 1e-15));
        let w = default_weights(30);
        assert!(close(w[2], 1.0 / 30.0 + (1.0 - 1.0 / 30.0) * 0.5, 1e-15));
    }

    #[test]
    fn the_truncated_normal_matches_scipy() {
        // Python: 0.5 * math.erfc(-a / sqrt(2)) and its log (erfc(21.2) is still a normal f64).
        assert!(close(ndtr(1.0), 0.841_344_746_068_542_9, 1e-15));
        assert!(close(log_ndtr(-30.0), -454.321_243_956_343_1, 1e-12));
        assert!(close(
            log_gauss_mass(-1.0, 2.0),
            0.818_594_614_120_363_7f64.ln(),
            1e-12
        ));
        assert!(close(log_gauss_mass(3.0, 4.0), 0.001_318_3f64.ln(), 1e-4));
        assert!(close(truncnorm_ppf(0.5, -1.0, 1.0), 0.0, 1e-9));
        // truncnorm.ppf(0.25, -0.5, 3.0) = -0.129_081_...
        let x = truncnorm_ppf(0.25, -0.5, 3.0);
        assert!(
            (ndtr(x) - ndtr(-0.5)) / (ndtr(3.0) - ndtr(-0.5)) - 0.25 < 1e-9,
            "{x}"
        );
    }

    /// A fixed history through Optuna 5.0's `_ParzenEstimator` (prior_weight 1, magic clip,
    /// no endpoints, default weights), its `_mixture_distribution` printed once:
    ///
    /// ```python
    /// from optuna.distributions import *
    /// from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
    /// from optuna.samplers._tpe.sampler import default_weights
    /// import numpy as np
    /// space = {"x": FloatDistribution(-5, 5), "lr": FloatDistribution(0.001, 1, log=True),
    ///          "d": IntDistribution(2, 10), "c": CategoricalDistribution(["a", "b", "c"])}
    /// obs = {"x": np.array([1.0, -2.0, 4.5, 0.5]), "lr": np.array([0.01, 0.1, 0.002, 0.5]),
    ///        "d": np.array([3, 7, 10, 3]), "c": np.array([0, 2, 2, 1])}
    /// p = _ParzenEstimatorParameters(1.0, True, False, default_weights, True)
    /// pe = _ParzenEstimator(obs, space, p)
    /// m = pe._mixture_distribution
    /// print(m.weights, [(d.mu, d.sigma) if hasattr(d, "mu") else d.weights for d in m.distributions])
    /// for pt in [(0.3, 0.05, 4, 2), (-4.9, 0.9, 10, 0), (4.0, 0.0011, 2, 1)]:
    ///     print(pe.log_pdf({k: np.array([v]) for k, v in zip(space, pt)}))
    /// ```
    #[test]
    fn the_parzen_estimator_equals_optunas_on_a_fixed_history() {
        let s = space(&[
            "x=float(-5,5)",
            "lr=float(0.001,1,log)",
            "d=int(2,10)",
            "c=choice(a,b,c)",
        ]);
        let obs = vec![
            vec![1.0, 0.01, 3.0, 0.0],
            vec![-2.0, 0.1, 7.0, 2.0],
            vec![4.5, 0.002, 10.0, 2.0],
            vec![0.5, 0.5, 3.0, 1.0],
        ];
        let pe = ParzenEstimator::new(&s, &obs, &TpeSettings::default());
        assert_eq!(pe.weights, vec![0.2; 5]);
        let Kernels::Numerical { mus, sigmas, .. } = &pe.kernels[0] else {
            panic!()
        };
        assert_eq!(mus, &vec![1.0, -2.0, 4.5, 0.5, 0.0]);
        let want = [3.5, 2.5, 3.5, 2.5, 10.0];
        for (a, b) in sigmas.iter().zip(want) {
            assert!(close(*a, b, 1e-12), "{sigmas:?}");
        }
        let Kernels::Numerical { mus, sigmas, .. } = &pe.kernels[1] else {
            panic!()
        };
        let want_mus = [
            -4.605170185988091,
            -2.3025850929940455,
            -6.214608098422191,
            -std::f64::consts::LN_2,
            -3.4538776394910684,
        ];
        let want_sigmas = [
            2.3025850929940455,
            2.3025850929940455,
            1.6094379124341005,
            1.6094379124341,
            6.907755278982137,
        ];
        for (a, b) in mus
            .iter()
            .zip(want_mus)
            .chain(sigmas.iter().zip(want_sigmas))
        {
            assert!(close(*a, b, 1e-14), "{mus:?} {sigmas:?}");
        }
        let Kernels::Numerical { mus, sigmas, .. } = &pe.kernels[2] else {
            panic!()
        };
        assert_eq!(mus, &vec![3.0, 7.0, 10.0, 3.0, 6.0]);
        assert_eq!(sigmas, &vec![1.5, 4.0, 3.0, 4.0, 9.0]);
        let Kernels::Categorical(rows) = &pe.kernels[3] else {
            panic!()
        };
        let want = [
            [0.75, 0.125, 0.125],
            [0.125, 0.125, 0.75],
            [0.125, 0.125, 0.75],
            [0.125, 0.75, 0.125],
            [1.0 / 3.0; 3],
        ];
        for (row, w) in rows.iter().zip(want) {
            for (a, b) in row.iter().zip(w) {
                assert!(close(*a, b, 1e-15), "{rows:?}");
            }
        }
        // pe.log_pdf at three points.
        for (x, want) in [
            ([0.3, 0.05, 4.0, 2.0], -7.205237798800253),
            ([-4.9, 0.9, 10.0, 0.0], -8.997378730086877),
            ([4.0, 0.0011, 2.0, 1.0], -8.60692059735726),
        ] {
            let got = pe.log_pdf(&x);
            assert!(close(got, want, 1e-12), "{x:?}: {got} vs {want}");
        }
    }

    #[test]
    fn split_ranks_complete_then_pruned_and_counts_running_as_above() {
        let t =
            |number: usize, state: TrialState, value: Option<f64>, last: Option<(usize, f64)>| {
                TrialRecord {
                    number,
                    params: vec![number as f64],
                    state,
                    value,
                    intermediate: last.into_iter().collect::<BTreeMap<_, _>>(),
                }
            };
        let history = vec![
            t(0, TrialState::Complete, Some(0.7), None),
            t(1, TrialState::Pruned, None, Some((10, 0.9))),
            t(2, TrialState::Complete, Some(0.8), None),
            t(3, TrialState::Running, None, None),
            t(4, TrialState::Pruned, None, Some((40, 0.6))),
            t(5, TrialState::Failed, None, None),
        ];
        let numbers = |v: &[&TrialRecord]| v.iter().map(|t| t.number).collect::<Vec<_>>();
        let (b, a) = split(&history, 1, Direction::Maximize);
        assert_eq!((numbers(&b), numbers(&a)), (vec![2], vec![0, 1, 3, 4]));
        // Room past the complete ones goes to the pruned trial that got furthest.
        let (b, a) = split(&history, 3, Direction::Maximize);
        assert_eq!((numbers(&b), numbers(&a)), (vec![0, 2, 4], vec![1, 3]));
        let (b, _) = split(&history, 1, Direction::Minimize);
        assert_eq!(numbers(&b), vec![0]);
    }

    #[test]
    fn tpe_concentrates_near_the_optimum_of_a_quadratic_more_than_random() {
        // Maximise -(x - 2)^2 on [-10, 10]: after 60 trials, TPE's last 40 proposals sit, on
        // average over 10 seeds, less than half as far from 2 as random's (5.2 expected), and
        // no further than Optuna's TPESampler's: Optuna 5.0 with seeds 0..10 gives a mean
        // distance of 2.03 to 2.53 per seed, 2.25 over the 10.
        let s = Space {
            params: vec![Param {
                name: "x".into(),
                distribution: Distribution::Float {
                    low: -10.0,
                    high: 10.0,
                    log: false,
                },
            }],
        };
        let (mut tpe, mut random) = (0.0, 0.0);
        for seed in 0..10u64 {
            let mean_distance = |kind: SamplerKind| {
                let mut history: Vec<TrialRecord> = Vec::new();
                for n in 0..60 {
                    let mut rng = StdRng::seed_from_u64(seed * 1000 + n);
                    let p = propose(kind, &s, &history, Direction::Maximize, &mut rng);
                    let x = p[0];
                    history.push(TrialRecord {
                        number: n as usize,
                        params: p,
                        state: TrialState::Complete,
                        value: Some(-(x - 2.0) * (x - 2.0)),
                        intermediate: BTreeMap::new(),
                    });
                }
                history[20..]
                    .iter()
                    .map(|t| (t.params[0] - 2.0).abs())
                    .sum::<f64>()
                    / 40.0
            };
            tpe += mean_distance(SamplerKind::Tpe) / 10.0;
            random += mean_distance(SamplerKind::Random) / 10.0;
        }
        assert!(
            tpe < random / 2.0 && tpe < 2.53,
            "tpe {tpe} random {random}"
        );
    }

    /// Equal budgets on a known objective of three parameters (a real, a log-scaled real and an
    /// integer, optimum 0 at x = 2, lr = 0.03, depth = 7): after 40 trials TPE's best is closer
    /// to the optimum than random search's, on average over 10 seeds and on most seeds.
    #[test]
    fn tpe_beats_random_search_at_equal_budget_on_a_known_objective() {
        let s = space(&[
            "x=float(-10,10)",
            "lr=float(0.0001,1,log)",
            "depth=int(1,16)",
        ]);
        let objective = |p: &[f64]| {
            -((p[0] - 2.0).powi(2) / 25.0
                + (p[1].ln() - 0.03f64.ln()).powi(2)
                + (p[2] - 7.0).powi(2) / 10.0)
        };
        let regret = |kind: SamplerKind, seed: u64| {
            let mut history: Vec<TrialRecord> = Vec::new();
            for n in 0..40usize {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(7919) + n as u64);
                let p = propose(kind, &s, &history, Direction::Maximize, &mut rng);
                let value = objective(&p);
                history.push(TrialRecord {
                    number: n,
                    params: p,
                    state: TrialState::Complete,
                    value: Some(value),
                    intermediate: BTreeMap::new(),
                });
            }
            -history
                .iter()
                .filter_map(|t| t.value)
                .fold(f64::NEG_INFINITY, f64::max)
        };
        let (mut tpe_sum, mut random_sum, mut wins) = (0.0, 0.0, 0);
        for seed in 0..10 {
            let (t, r) = (
                regret(SamplerKind::Tpe, seed),
                regret(SamplerKind::Random, seed),
            );
            tpe_sum += t;
            random_sum += r;
            wins += usize::from(t < r);
        }
        assert!(
            tpe_sum < 0.5 * random_sum && wins >= 7,
            "mean regret: tpe {} random {}; tpe better on {wins} of 10 seeds",
            tpe_sum / 10.0,
            random_sum / 10.0
        );
    }

    #[test]
    fn samples_stay_in_bounds_and_integers_stay_whole() {
        let s = space(&[
            "d=int(2,10)",
            "n=int(1,1000,log)",
            "lr=float(0.001,0.3,log)",
        ]);
        let obs: Vec<Vec<f64>> = (0..8)
            .map(|i| {
                vec![
                    2.0 + i as f64,
                    1.0 + 100.0 * i as f64,
                    0.001 * (1 + i) as f64,
                ]
            })
            .collect();
        let pe = ParzenEstimator::new(&s, &obs, &TpeSettings::default());
        let mut rng = StdRng::seed_from_u64(7);
        for x in pe.sample(&mut rng, 2000) {
            assert!((2.0..=10.0).contains(&x[0]) && x[0].fract() == 0.0, "{x:?}");
            assert!(
                (1.0..=1000.0).contains(&x[1]) && x[1].fract() == 0.0,
                "{x:?}"
            );
            assert!((0.001..=0.3).contains(&x[2]), "{x:?}");
            assert!(pe.log_pdf(&x).is_finite(), "{x:?}");
        }
    }
}
