//! Bounty curves, in fixed-point integer arithmetic so every validator computes the same wei.
//!
//! `bounty(job, now) = base × age_factor(blocks unproven) × supply_factor(active plugins)`.
//!
//! Factors are [`Factor`]s: parts per million (1.0 = 1,000,000), written as plain numbers in YAML
//! (`0.1`, `10`) and rounded to the nearest ppm once, when the scenario is read. Curves:
//!
//! | `curve` | factor at age `a` (blocks since the job was created) | monotone |
//! | --- | --- | --- |
//! | `constant` | 1 | yes |
//! | `linear` | `min(1 + per_block·a, cap)` | non-decreasing |
//! | `exponential` | `min((1 + rate_per_block)^a, cap)` | non-decreasing |
//! | `steps` | the factor of the last row with `after_blocks ≤ a` (1 before the first) | if the table is |
//! | `boundless_ramp` | 1 until `delay_blocks`, then linear to `max` over `ramp_blocks`, then `max` | non-decreasing |
//! | `taiko_adaptive` | `level·a/target_blocks`, clamped to [`min`, `max`]; `level` adapts per proof | in `a`, for a given level |
//!
//! `boundless_ramp` follows RISC Zero Boundless's request pricing: a reverse Dutch auction whose price
//! rises linearly from a minimum to a maximum over a ramp-up period after a bidding start.
//! `taiko_adaptive` follows Taiko's alpha-3 (2023) EIP-1559-style proving reward: a proof later than
//! the target time earns more than the target reward and an earlier one less, and the target reward
//! moves after every proof by `(a − target)/(target × adjustment_quotient)`, so the market discovers
//! the reward at which proofs arrive on time.
//!
//! The supply factor is `clamp(target_active / active, min, max)`: it rises as active plugins drop
//! below the target (non-increasing in `active`).
//!
//! ```
//! use zkcrowd_market::{AgeCurve, Factor, SupplyCurve};
//! let linear = AgeCurve::Linear { per_block: Factor::from_f64(0.1), cap: Factor::from_f64(3.0) };
//! assert_eq!(linear.factor(0, Factor::ONE), Factor::ONE);
//! assert_eq!(linear.factor(10, Factor::ONE), Factor::from_f64(2.0));
//! assert_eq!(linear.factor(1_000, Factor::ONE), Factor::from_f64(3.0)); // capped
//!
//! let exponential = AgeCurve::Exponential { rate_per_block: Factor::from_f64(1.0), cap: Factor::from_f64(100.0) };
//! assert_eq!(exponential.factor(3, Factor::ONE), Factor::from_f64(8.0));
//!
//! let ramp = AgeCurve::BoundlessRamp { delay_blocks: 2, ramp_blocks: 10, max: Factor::from_f64(6.0) };
//! assert_eq!(ramp.factor(2, Factor::ONE), Factor::ONE);
//! assert_eq!(ramp.factor(7, Factor::ONE), Factor::from_f64(3.5));
//! assert_eq!(ramp.factor(50, Factor::ONE), Factor::from_f64(6.0));
//!
//! let supply = SupplyCurve { target_active: 1_000, min: Factor::ONE, max: Factor::from_f64(10.0) };
//! assert_eq!(supply.factor(2_000), Factor::ONE);        // plenty of plugins: no premium
//! assert_eq!(supply.factor(250), Factor::from_f64(4.0)); // a quarter of the target: 4×
//! assert_eq!(supply.factor(0), Factor::from_f64(10.0));  // clamped
//! ```

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zkcrowd_primitives::Zkpow;
use zkcrowd_primitives::yaml::{FieldPath, Invalid, check_at_most, check_between, check_len};

/// Parts per million in [`Factor`].
pub const PPM: u64 = 1_000_000;

/// Largest factor accepted (one million): keeps `base × age × supply` far from `u128` overflow.
pub const FACTOR_MAX: Factor = Factor(1_000_000 * PPM);

/// A non-negative multiplier in parts per million.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Factor(u64);

impl Factor {
    /// 0.
    pub const ZERO: Self = Self(0);
    /// 1.
    pub const ONE: Self = Self(PPM);

    /// From parts per million.
    pub const fn from_ppm(ppm: u64) -> Self {
        Self(ppm)
    }

    /// From a float, rounded to the nearest ppm (only when reading parameters; never in state).
    ///
    /// # Panics
    /// If `value` is negative, not finite or above [`FACTOR_MAX`].
    pub fn from_f64(value: f64) -> Self {
        Self::try_from_f64(value).expect("factor out of range")
    }

    /// From a float, or why not.
    pub fn try_from_f64(value: f64) -> Result<Self, String> {
        if !value.is_finite() || value < 0.0 {
            return Err(format!("{value} is not a non-negative number"));
        }
        let ppm = (value * PPM as f64).round();
        if ppm > FACTOR_MAX.0 as f64 {
            return Err(format!("{value} is above the largest factor, {}", FACTOR_MAX.0 / PPM));
        }
        Ok(Self(ppm as u64))
    }

    /// Parts per million.
    pub const fn ppm(self) -> u64 {
        self.0
    }

    /// As a float, for reports.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / PPM as f64
    }

    /// `self × other`, truncated to a ppm, saturating at [`FACTOR_MAX`].
    #[allow(
        clippy::should_implement_trait,
        reason = "saturating fixed-point product (caps at FACTOR_MAX): not the `*` of `Mul`"
    )]
    pub fn mul(self, other: Self) -> Self {
        let product = u128::from(self.0) * u128::from(other.0) / u128::from(PPM);
        Self(product.min(u128::from(FACTOR_MAX.0)) as u64)
    }

    /// `amount × self`, truncated to a wei, saturating at `u128::MAX`.
    pub fn apply(self, amount: Zkpow) -> Zkpow {
        let wei = amount.wei();
        let whole = (wei / u128::from(PPM)).saturating_mul(u128::from(self.0));
        let rest = (wei % u128::from(PPM)) * u128::from(self.0) / u128::from(PPM);
        Zkpow::from_wei(whole.saturating_add(rest))
    }

    fn clamp_to(self, min: Self, max: Self) -> Self {
        Self(self.0.clamp(min.0, max.0.max(min.0)))
    }
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_f64())
    }
}

impl Serialize for Factor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Factor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        Self::try_from_f64(value).map_err(|e| serde::de::Error::custom(format!("invalid factor: {e}")))
    }
}

impl JsonSchema for Factor {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Factor".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "number",
            "minimum": 0,
            "maximum": (FACTOR_MAX.0 / PPM) as f64,
            "description": "A non-negative multiplier (1 = unchanged), kept to a millionth."
        })
    }
}

/// One row of a step table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// From this age on (blocks since the job was created)…
    #[schemars(range(max = CURVE_BLOCKS_MAX))]
    pub after_blocks: u64,
    /// …the factor is this.
    pub factor: Factor,
}

/// How a job's bounty grows with its age (see the module documentation for each curve).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "curve", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgeCurve {
    /// Always 1.
    Constant,
    /// `min(1 + per_block·age, cap)`.
    Linear {
        /// Growth per block.
        #[serde(default = "default_linear_per_block")]
        per_block: Factor,
        /// Upper bound.
        #[serde(default = "default_cap")]
        cap: Factor,
    },
    /// `min((1 + rate_per_block)^age, cap)`.
    Exponential {
        /// Growth rate per block.
        #[serde(default = "default_exponential_rate")]
        rate_per_block: Factor,
        /// Upper bound.
        #[serde(default = "default_cap")]
        cap: Factor,
    },
    /// A step table, sorted by `after_blocks`.
    Steps {
        /// The rows (at most 64).
        #[schemars(length(max = STEPS_MAX))]
        table: Vec<Step>,
    },
    /// Boundless-style reverse Dutch auction: flat, then a linear ramp to `max`.
    BoundlessRamp {
        /// Blocks at factor 1 before the ramp starts (Boundless's bidding start).
        #[serde(default = "default_ramp_delay")]
        #[schemars(range(max = CURVE_BLOCKS_MAX))]
        delay_blocks: u64,
        /// Blocks to climb from 1 to `max` (Boundless's ramp-up period).
        #[serde(default = "default_ramp_blocks")]
        #[schemars(range(max = CURVE_BLOCKS_MAX))]
        ramp_blocks: u64,
        /// The final factor (Boundless's max price over min price).
        #[serde(default = "default_cap")]
        max: Factor,
    },
    /// Taiko alpha-3 style adaptive reward around a target proof time.
    TaikoAdaptive {
        /// The target age at proof, in blocks.
        #[serde(default = "default_taiko_target")]
        #[schemars(range(min = 1, max = CURVE_BLOCKS_MAX))]
        target_blocks: u64,
        /// Damping of the level update (EIP-1559 uses 8).
        #[serde(default = "default_taiko_quotient")]
        #[schemars(range(min = 1, max = ADJUSTMENT_QUOTIENT_MAX))]
        adjustment_quotient: u64,
        /// Lower clamp of the factor and of the level.
        #[serde(default = "default_taiko_min")]
        min: Factor,
        /// Upper clamp of the factor and of the level.
        #[serde(default = "default_cap")]
        max: Factor,
    },
}

fn default_linear_per_block() -> Factor {
    Factor::from_ppm(100_000)
}
fn default_exponential_rate() -> Factor {
    Factor::from_ppm(50_000)
}
fn default_cap() -> Factor {
    Factor::from_ppm(10 * PPM)
}
fn default_ramp_delay() -> u64 {
    5
}
fn default_ramp_blocks() -> u64 {
    50
}
fn default_taiko_target() -> u64 {
    10
}
fn default_taiko_quotient() -> u64 {
    8
}
fn default_taiko_min() -> Factor {
    Factor::from_ppm(PPM / 4)
}

impl Default for AgeCurve {
    fn default() -> Self {
        Self::Linear { per_block: default_linear_per_block(), cap: default_cap() }
    }
}

/// Largest block count in a curve (`after_blocks`, `delay_blocks`, `ramp_blocks`, `target_blocks`):
/// 1,000,000 blocks, 23 days of 2-second blocks, longer than any run. It keeps `delay + ramp` and
/// `age × level` far from overflow.
pub const CURVE_BLOCKS_MAX: u64 = 1_000_000;

/// Most rows in a `steps` table: the table is scanned for every bounty computed.
pub const STEPS_MAX: usize = 64;

/// Largest `taiko_adaptive` adjustment quotient (EIP-1559 uses 8; beyond 1,000 the level never
/// moves within a run).
pub const ADJUSTMENT_QUOTIENT_MAX: u64 = 1_000;

/// Largest `supply.target_active`: a billion plugins, far beyond any crowd, far from overflow in
/// `target × 10^6`.
pub const TARGET_ACTIVE_MAX: u64 = 1_000_000_000;

impl AgeCurve {
    /// Checks the curve's parameters, naming the broken rule (a string, for [`Market::new`]).
    ///
    /// [`Market::new`]: crate::Market::new
    pub fn validate(&self) -> Result<(), String> {
        self.check().map_err(|invalid| invalid.to_string())
    }

    /// Checks the curve's parameters; paths are relative to the curve's mapping (`cap`,
    /// `table[2].after_blocks`).
    pub fn check(&self) -> Result<(), Invalid> {
        let here = FieldPath::root();
        let blocks = |key: &str, value: u64| check_at_most(&here.key(key), value, CURVE_BLOCKS_MAX);
        match self {
            Self::Constant => Ok(()),
            Self::Linear { cap, .. } | Self::Exponential { cap, .. } => check_cap(&here.key("cap"), *cap),
            Self::Steps { table } => {
                check_len(&here.key("table"), table.len(), STEPS_MAX)?;
                for (i, step) in table.iter().enumerate() {
                    let path = here.key("table").index(i).key("after_blocks");
                    check_at_most(&path, step.after_blocks, CURVE_BLOCKS_MAX)?;
                    if i > 0 && table[i - 1].after_blocks >= step.after_blocks {
                        return Err(Invalid::rule(
                            path,
                            format!(
                                "after_blocks {} does not follow {} of the row before",
                                step.after_blocks,
                                table[i - 1].after_blocks
                            ),
                            "`after_blocks` to strictly increase down the table",
                        ));
                    }
                }
                Ok(())
            }
            Self::BoundlessRamp { delay_blocks, ramp_blocks, max } => {
                blocks("delay_blocks", *delay_blocks)?;
                blocks("ramp_blocks", *ramp_blocks)?;
                check_cap(&here.key("max"), *max)
            }
            Self::TaikoAdaptive { target_blocks, adjustment_quotient, min, max } => {
                check_between(&here.key("target_blocks"), *target_blocks, 1, CURVE_BLOCKS_MAX)?;
                check_between(&here.key("adjustment_quotient"), *adjustment_quotient, 1, ADJUSTMENT_QUOTIENT_MAX)?;
                if *min == Factor::ZERO {
                    return Err(Invalid::rule(here.key("min"), "min is 0", "0 < min ≤ max"));
                }
                if min > max {
                    return Err(Invalid::rule(
                        here.key("min"),
                        format!("min {min} is above max {max}"),
                        "0 < min ≤ max",
                    )
                    .related(here.key("max")));
                }
                Ok(())
            }
        }
    }

    /// The factor at `age_blocks`. `level` is the adaptive level (only `taiko_adaptive` reads it).
    pub fn factor(&self, age_blocks: u64, level: Factor) -> Factor {
        match self {
            Self::Constant => Factor::ONE,
            Self::Linear { per_block, cap } => {
                let grown = u128::from(per_block.ppm()) * u128::from(age_blocks) + u128::from(PPM);
                Factor(grown.min(u128::from(cap.ppm())) as u64)
            }
            Self::Exponential { rate_per_block, cap } => {
                power_capped(Factor(PPM + rate_per_block.ppm()), age_blocks, *cap)
            }
            Self::Steps { table } => table
                .iter()
                .take_while(|step| step.after_blocks <= age_blocks)
                .last()
                .map_or(Factor::ONE, |step| step.factor),
            Self::BoundlessRamp { delay_blocks, ramp_blocks, max } => {
                if age_blocks <= *delay_blocks {
                    Factor::ONE
                } else if age_blocks >= delay_blocks + ramp_blocks {
                    *max
                } else {
                    let rise =
                        u128::from(max.ppm() - PPM) * u128::from(age_blocks - delay_blocks) / u128::from(*ramp_blocks);
                    Factor(PPM + rise as u64)
                }
            }
            Self::TaikoAdaptive { target_blocks, min, max, .. } => {
                let scaled = u128::from(level.ppm()) * u128::from(age_blocks) / u128::from(*target_blocks);
                Factor(scaled.min(u128::from(FACTOR_MAX.ppm())) as u64).clamp_to(*min, *max)
            }
        }
    }

    /// The adaptive level after a proof of age `age_blocks` (unchanged for non-adaptive curves):
    /// `level × (1 + (age − target) / (target × adjustment_quotient))`, clamped to [min, max].
    pub fn next_level(&self, level: Factor, age_blocks: u64) -> Factor {
        let Self::TaikoAdaptive { target_blocks, adjustment_quotient, min, max } = self else {
            return level;
        };
        let denominator = i128::from(*target_blocks) * i128::from(*adjustment_quotient);
        let delta_ppm = (i128::from(age_blocks) - i128::from(*target_blocks)) * i128::from(PPM) / denominator;
        let multiplier = (i128::from(PPM) + delta_ppm).max(0);
        let next = i128::from(level.ppm()) * multiplier / i128::from(PPM);
        Factor(next.clamp(0, i128::from(FACTOR_MAX.ppm())) as u64).clamp_to(*min, *max)
    }
}

/// A cap or final factor must be at least 1: a bounty must not shrink with age.
fn check_cap(path: &FieldPath, cap: Factor) -> Result<(), Invalid> {
    if cap < Factor::ONE {
        return Err(Invalid::rule(
            path.clone(),
            format!("{cap} is below 1"),
            "at least 1: a bounty must not shrink with age",
        ));
    }
    Ok(())
}

/// `base^exponent` in fixed point, capped at `cap` (binary exponentiation; saturates early).
fn power_capped(base: Factor, mut exponent: u64, cap: Factor) -> Factor {
    let mut result = Factor::ONE;
    let mut square = base;
    while exponent > 0 {
        if exponent & 1 == 1 {
            result = result.mul(square);
            if result >= cap {
                return cap;
            }
        }
        exponent >>= 1;
        if exponent > 0 {
            square = square.mul(square).min(cap);
        }
    }
    result.min(cap)
}

/// The supply factor: `clamp(target_active / active, min, max)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplyCurve {
    /// The number of active plugins at which the factor is 1.
    #[serde(default = "default_target_active")]
    #[schemars(range(max = TARGET_ACTIVE_MAX))]
    pub target_active: u64,
    /// Lower clamp.
    #[serde(default = "default_supply_min")]
    pub min: Factor,
    /// Upper clamp.
    #[serde(default = "default_cap")]
    pub max: Factor,
}

fn default_target_active() -> u64 {
    1_000
}
fn default_supply_min() -> Factor {
    Factor::ONE
}

impl Default for SupplyCurve {
    fn default() -> Self {
        Self { target_active: default_target_active(), min: default_supply_min(), max: default_cap() }
    }
}

impl SupplyCurve {
    /// The factor with `active` plugins (non-increasing in `active`).
    pub fn factor(&self, active: u64) -> Factor {
        let ratio = u128::from(self.target_active) * u128::from(PPM) / u128::from(active.max(1));
        Factor(ratio.min(u128::from(FACTOR_MAX.ppm())) as u64).clamp_to(self.min, self.max)
    }

    /// Checks the clamps (a string, for [`Market::new`]).
    ///
    /// [`Market::new`]: crate::Market::new
    pub fn validate(&self) -> Result<(), String> {
        self.check().map_err(|invalid| invalid.to_string())
    }

    /// Checks the target and the clamps; paths are relative to the supply mapping.
    pub fn check(&self) -> Result<(), Invalid> {
        let here = FieldPath::root();
        check_at_most(&here.key("target_active"), self.target_active, TARGET_ACTIVE_MAX)?;
        if self.min > self.max {
            return Err(Invalid::rule(
                here.key("min"),
                format!("min {} is above max {}", self.min, self.max),
                "min ≤ max",
            )
            .related(here.key("max")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn curves() -> Vec<AgeCurve> {
        vec![
            AgeCurve::Constant,
            AgeCurve::default(),
            AgeCurve::Exponential { rate_per_block: Factor::from_f64(0.013), cap: Factor::from_f64(50.0) },
            AgeCurve::Exponential { rate_per_block: Factor::from_f64(0.5), cap: Factor::from_f64(1000.0) },
            AgeCurve::BoundlessRamp { delay_blocks: 3, ramp_blocks: 17, max: Factor::from_f64(7.5) },
            AgeCurve::Steps {
                table: vec![
                    Step { after_blocks: 0, factor: Factor::ONE },
                    Step { after_blocks: 10, factor: Factor::from_f64(2.0) },
                    Step { after_blocks: 25, factor: Factor::from_f64(5.0) },
                ],
            },
        ]
    }

    proptest! {
        /// The documented monotone curves never decrease with age (fixed-point rounding included),
        /// and never exceed their cap.
        #[test]
        fn age_curves_are_monotone(age in 0u64..5_000) {
            for curve in curves() {
                let now = curve.factor(age, Factor::ONE);
                let next = curve.factor(age + 1, Factor::ONE);
                prop_assert!(next >= now, "{curve:?} at {age}: {now} then {next}");
                prop_assert!(now >= Factor::ONE);
            }
        }

        /// The supply factor never increases as active plugins increase, and stays in its clamps.
        #[test]
        fn supply_is_non_increasing(active in 0u64..100_000, target in 1u64..20_000) {
            let curve = SupplyCurve { target_active: target, min: Factor::from_f64(0.5), max: Factor::from_f64(20.0) };
            prop_assert!(curve.factor(active + 1) <= curve.factor(active));
            prop_assert!(curve.factor(active) >= curve.min && curve.factor(active) <= curve.max);
        }

        /// Taiko-style: at a fixed level the factor is non-decreasing in age; the level rises after a
        /// late proof, falls after an early one, and stays in its clamps.
        #[test]
        fn taiko_adaptive_moves_the_right_way(age in 1u64..200, level in 300_000u64..9_000_000) {
            let curve = AgeCurve::TaikoAdaptive {
                target_blocks: 10, adjustment_quotient: 8, min: Factor::from_f64(0.25), max: Factor::from_f64(10.0),
            };
            let level = Factor::from_ppm(level);
            prop_assert!(curve.factor(age + 1, level) >= curve.factor(age, level));
            let next = curve.next_level(level, age);
            if age > 10 { prop_assert!(next >= level); }
            if age < 10 { prop_assert!(next <= level); }
            prop_assert!(next >= Factor::from_f64(0.25) && next <= Factor::from_f64(10.0));
        }
    }

    /// Applying a factor to an amount is exact for whole ppm and never overflows.
    #[test]
    fn apply_to_amounts() {
        assert_eq!(Factor::from_f64(2.5).apply(Zkpow::from_zkpow(2)), Zkpow::from_zkpow(5));
        assert_eq!(Factor::ONE.apply(Zkpow::from_wei(7)), Zkpow::from_wei(7));
        assert_eq!(FACTOR_MAX.apply(Zkpow::from_wei(u128::MAX)), Zkpow::from_wei(u128::MAX));
    }

    /// The YAML forms parse, defaults fill presets, and bad tables are refused with a reason.
    #[test]
    fn parse_curves() {
        let ramp: AgeCurve = serde_saphyr::from_str("curve: boundless_ramp\n").unwrap();
        assert_eq!(ramp, AgeCurve::BoundlessRamp { delay_blocks: 5, ramp_blocks: 50, max: Factor::from_f64(10.0) });
        let linear: AgeCurve = serde_saphyr::from_str("{ curve: linear, per_block: 0.2, cap: 4 }").unwrap();
        assert_eq!(linear, AgeCurve::Linear { per_block: Factor::from_f64(0.2), cap: Factor::from_f64(4.0) });
        assert!(serde_saphyr::from_str::<AgeCurve>("{ curve: linear, slope: 1 }").is_err());
        let steps: AgeCurve = serde_saphyr::from_str(
            "curve: steps\ntable: [ { after_blocks: 5, factor: 2 }, { after_blocks: 5, factor: 3 } ]\n",
        )
        .unwrap();
        assert!(steps.validate().unwrap_err().contains("strictly increase"));
        assert_eq!(steps.check().unwrap_err().path.to_string(), "table[1].after_blocks");
        let ramp = AgeCurve::BoundlessRamp { delay_blocks: u64::MAX, ramp_blocks: u64::MAX, max: Factor::ONE };
        assert_eq!(ramp.check().unwrap_err().path.to_string(), "delay_blocks");
        assert!(serde_saphyr::from_str::<AgeCurve>("{ curve: linear, cap: -1 }").is_err());
    }
}
