//! The models an endpoint serves and how records are split between them.
//!
//! An endpoint serves its model's Production version (the champion) and, when a challenger share
//! p > 0 is configured and the model has a Staging version taking the same inputs, that version
//! (the challenger) for a share p of the records. Routing is sticky: a record's key (its id, or
//! the client's request id when the record has none) is hashed with a fixed function (FNV-1a,
//! then a 64-bit finaliser) to a number in [0, 1); keys below p go to the challenger. The same key
//! therefore always reaches the same arm, across requests and restarts, and raising p only moves
//! keys from the champion to the challenger, never back. Records without any key are split at
//! random.
//!
//! The whole set is one immutable [`Served`] value behind an `ArcSwap`: a request takes one
//! snapshot and uses it throughout, so swapping in new versions (hot reload) never mixes versions
//! inside a request nor fails one.

use std::sync::Arc;

use super::payload::InputSchema;
use crate::registry::Stage;
use crate::train::Model;

/// Which side of the traffic split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArmRole {
    Champion,
    Challenger,
}

impl ArmRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ArmRole::Champion => "champion",
            ArmRole::Challenger => "challenger",
        }
    }
}

/// One loaded model version.
#[derive(Debug)]
pub struct Arm {
    pub role: ArmRole,
    pub version: i64,
    pub stage: Stage,
    pub digest: String,
    pub model: Model,
    pub schema: InputSchema,
}

/// What an endpoint serves at one moment.
#[derive(Debug)]
pub struct Served {
    pub model_name: String,
    pub champion: Option<Arc<Arm>>,
    pub challenger: Option<Arc<Arm>>,
    /// Share of records sent to the challenger (0 when there is none).
    pub share: f64,
    /// Why a Staging version is not being served, if it is not.
    pub challenger_note: Option<String>,
}

impl Served {
    /// Nothing loaded yet.
    pub fn empty(model_name: &str) -> Served {
        Served {
            model_name: model_name.to_string(),
            champion: None,
            challenger: None,
            share: 0.0,
            challenger_note: None,
        }
    }

    /// The arm a record with this key goes to.
    pub fn route(&self, key: Option<&str>) -> ArmRole {
        if self.challenger.is_none() || self.share <= 0.0 {
            return ArmRole::Champion;
        }
        let x = match key {
            Some(k) => sticky_fraction(k),
            None => rand::random::<f64>(),
        };
        if x < self.share {
            ArmRole::Challenger
        } else {
            ArmRole::Champion
        }
    }

    pub fn arm(&self, role: ArmRole) -> Option<&Arc<Arm>> {
        match role {
            ArmRole::Champion => self.champion.as_ref(),
            ArmRole::Challenger => self.challenger.as_ref(),
        }
    }

    /// `(version of champion, version of challenger)`, to notice registry changes.
    pub fn versions(&self) -> (Option<i64>, Option<i64>) {
        (
            self.champion.as_ref().map(|a| a.version),
            self.challenger.as_ref().map(|a| a.version),
        )
    }
}

/// A stable hash of `key` mapped to [0, 1).
pub fn sticky_fraction(key: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // FNV alone clusters similar short keys ("1", "2", ...); the murmur3 finaliser spreads them.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sticky_fraction_is_stable_and_uniform() {
        assert_eq!(sticky_fraction("42"), sticky_fraction("42"));
        let n = 20_000;
        let below = (0..n)
            .filter(|i| sticky_fraction(&i.to_string()) < 0.2)
            .count();
        let share = below as f64 / n as f64;
        assert!((share - 0.2).abs() < 0.02, "{share}");
    }
}
