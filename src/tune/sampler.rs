//! What a sampler sees (the trials so far, [`TrialRecord`]), the samplers' names, and the
//! `random` sampler (Optuna's `RandomSampler`); `tpe` is [`super::tpe`] (Optuna's `TPESampler`
//! defaults), and [`super::sample`] picks one.
//!
//! Values are in the internal representation of [`super::space::Distribution`]: integers and
//! reals as themselves, a choice as its index.

use std::collections::BTreeMap;
use std::str::FromStr;

use rand::Rng;
use rand::rngs::StdRng;

use super::space::{Distribution, Space};
use crate::error::{Error, Result};

/// Where a trial is, as the sampler and the pruner see it (Optuna's `TrialState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialState {
    Running,
    Complete,
    Pruned,
    Failed,
}

impl TrialState {
    /// `RUNNING`, `COMPLETE`, `PRUNED` or `FAIL`, as Optuna names them.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Running => "RUNNING",
            TrialState::Complete => "COMPLETE",
            TrialState::Pruned => "PRUNED",
            TrialState::Failed => "FAIL",
        }
    }
}

/// One trial: its params (internal representation, in the order of the space), its state, its
/// objective value once complete and the intermediate values it reported (step -> value).
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRecord {
    pub number: usize,
    pub params: Vec<f64>,
    pub state: TrialState,
    pub value: Option<f64>,
    pub intermediate: BTreeMap<usize, f64>,
}

/// Which sampler proposes the trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplerKind {
    Random,
    Tpe,
}

impl SamplerKind {
    pub const NAMES: [&'static str; 2] = ["random", "tpe"];

    pub fn as_str(self) -> &'static str {
        match self {
            SamplerKind::Random => "random",
            SamplerKind::Tpe => "tpe",
        }
    }
}

impl FromStr for SamplerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "random" => Ok(SamplerKind::Random),
            "tpe" => Ok(SamplerKind::Tpe),
            other => Err(Error::invalid(format!(
                "unknown sampler `{other}` (one of {})",
                SamplerKind::NAMES.join(", ")
            ))),
        }
    }
}

impl std::fmt::Display for SamplerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One independent uniform draw per parameter, as Optuna's `RandomSampler`: reals uniform in
/// `[low, high]` (in `ln` with `log`), integers uniform in `[low - 0.5, high + 0.5]` (in `ln`
/// with `log`) then rounded, a choice uniform over its values.
pub fn random(space: &Space, rng: &mut StdRng) -> Vec<f64> {
    space
        .params
        .iter()
        .map(|p| random_value(&p.distribution, rng))
        .collect()
}

fn random_value(d: &Distribution, rng: &mut StdRng) -> f64 {
    let uniform = |rng: &mut StdRng, a: f64, b: f64| {
        if b > a { rng.gen_range(a..b) } else { a }
    };
    match d {
        Distribution::Float { low, high, log } => {
            if *log {
                uniform(rng, low.ln(), high.ln()).exp().clamp(*low, *high)
            } else {
                uniform(rng, *low, *high)
            }
        }
        Distribution::Int { low, high, log } => {
            let (a, b) = (*low as f64 - 0.5, *high as f64 + 0.5);
            let x = if *log {
                uniform(rng, a.ln(), b.ln()).exp()
            } else {
                uniform(rng, a, b)
            };
            x.round().clamp(*low as f64, *high as f64)
        }
        Distribution::Choice(values) => rng.gen_range(0..values.len()) as f64,
    }
}
