//! Price-driven participation: whether a plugin takes part (heartbeats and takes jobs) is
//! decided at its own cadence by comparing what the market pays, as the plugin can observe it,
//! with its own cost of proving.
//!
//! What a plugin observes, every decision interval: a [`MarketQuote`] from its validator (the
//! bounty of a fresh tx job, the mean bounty of the oldest open jobs with their age factor, open
//! jobs, active plugins, jobs created so far) and its own market balance (income net of
//! penalties). Its cost is `cost_zkpow_per_s` per reference proving-second; a job costs it
//! `cost_zkpow_per_s × job_reference_s`.
//!
//! The rules ([`DecisionRule`]):
//! - **Threshold** (myopic): take part while the bounty a job would pay now (the open jobs' mean
//!   when any is open, else a fresh job's) is at least `(1 + margin) ×` the job's cost.
//! - **Smoothed**: an exponentially smoothed estimate of income per job (`alpha` weight on the
//!   newest signal: the plugin's own realized income per proof, penalties included, over the last
//!   interval when it proved something; the quoted bounty otherwise) and a switching cost: join
//!   when the estimated surplus over the next interval (per-job surplus × the jobs it would get:
//!   the interval's new jobs plus the open ones, shared among the active plugins, at most what
//!   its device can prove in an interval) exceeds `switching_cost_zkpow`; leave when the estimated
//!   loss does.
//! - **Static**: decides once, at the first quote, from the posted base bounty alone (takes part
//!   if it covers the job's cost) and never again — the inelastic baseline to compare elastic
//!   supply with: the same plugins and costs, blind to market conditions.
//!
//! Leaving: the plugin stops taking part when it holds no job (at a decision or a tick), or at the
//! next decision if it still holds some (it then abandons them with `GoInactive`, charged like any
//! miss). The `GoInactive` is sent once, best effort: if it is lost, the plugin simply stops
//! heartbeating and the market takes it off at the end of its heartbeat window. Everything here is a pure function of the messages received and the plugin's
//! parameters, so a simulated plugin decides the same way on every run.

use zkcrowd_market::MarketQuote;
use zkcrowd_primitives::WEI_PER_ZKPOW;

/// Shortest decision interval: 1 s (a decision costs the validator one quote).
pub const DECISION_INTERVAL_MS_MIN: u64 = 1_000;

/// How a plugin decides whether to take part (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DecisionRule {
    /// Take part while the quoted bounty per job is at least `(1 + margin) ×` its cost.
    Threshold {
        /// Required margin over cost (0: break even).
        margin: f64,
    },
    /// Smoothed income estimate with a switching cost.
    Smoothed {
        /// Weight of the newest signal, in (0, 1].
        alpha: f64,
        /// What joining or leaving costs the plugin, ZKPoW.
        switching_cost_zkpow: f64,
    },
    /// Decide once, from the posted base bounty, never again (inelastic).
    Static,
}

/// A plugin's economics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Economics {
    /// Its cost, ZKPoW per reference proving-second.
    pub cost_zkpow_per_s: f64,
    /// Reference proving-seconds of a typical job on its device.
    pub job_reference_s: f64,
    /// How it decides.
    pub rule: DecisionRule,
    /// How often, ms (at least [`DECISION_INTERVAL_MS_MIN`]).
    pub decision_interval_ms: u64,
}

impl Economics {
    /// What one job costs the plugin, ZKPoW.
    pub fn job_cost_zkpow(&self) -> f64 {
        self.cost_zkpow_per_s * self.job_reference_s
    }
}

/// Whether the plugin takes part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stance {
    /// Not taking part (no heartbeats, no jobs).
    Out,
    /// Taking part.
    In,
    /// Decided to leave; leaves when it holds no job, or at the next decision.
    Leaving,
}

/// What the host must do after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Start taking part (go online).
    Join,
    /// Stop (send `GoInactive`, go offline).
    Leave,
}

/// Decisions taken, for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParticipationCounters {
    /// Quotes decided on.
    pub decisions: u64,
    /// Joins.
    pub joins: u64,
    /// Leaves.
    pub leaves: u64,
}

/// A plugin's participation state machine (see the module documentation).
#[derive(Debug, Clone)]
pub struct Participation {
    economics: Economics,
    stance: Stance,
    decided_once: bool,
    /// Smoothed income per job, ZKPoW.
    estimate_zkpow: Option<f64>,
    previous: Option<MarketQuote>,
    /// Market balance (wei) at the last decision, and the latest seen.
    balance_at_decision_wei: Option<i128>,
    balance_wei: Option<i128>,
    proofs_since_decision: u64,
    counters: ParticipationCounters,
}

fn zkpow(wei: u128) -> f64 {
    wei as f64 / WEI_PER_ZKPOW as f64
}

impl Participation {
    /// A plugin that starts out of the market and decides at its first quote.
    pub fn new(economics: Economics) -> Self {
        Self {
            economics,
            stance: Stance::Out,
            decided_once: false,
            estimate_zkpow: None,
            previous: None,
            balance_at_decision_wei: None,
            balance_wei: None,
            proofs_since_decision: 0,
            counters: ParticipationCounters::default(),
        }
    }

    /// Its economics.
    pub fn economics(&self) -> &Economics {
        &self.economics
    }

    /// Whether it takes part now.
    pub fn stance(&self) -> Stance {
        self.stance
    }

    /// Decisions taken.
    pub fn counters(&self) -> ParticipationCounters {
        self.counters
    }

    /// Its market balance as a validator reported it.
    pub fn observe_balance(&mut self, wei: i128) {
        self.balance_wei = Some(wei);
    }

    /// It submitted a proof.
    pub fn proof_submitted(&mut self) {
        self.proofs_since_decision += 1;
    }

    /// The session ended (the person closed the plugin): out, keeping what it learned.
    pub fn session_ended(&mut self) {
        self.stance = Stance::Out;
    }

    /// Leaving, and now holding no job: out.
    pub fn left_idle(&mut self, held_jobs: usize) -> bool {
        if self.stance == Stance::Leaving && held_jobs == 0 {
            self.stance = Stance::Out;
            self.counters.leaves += 1;
            return true;
        }
        false
    }

    /// Decides on `quote`, holding `held_jobs`: the change for the host to make, if any.
    pub fn on_quote(&mut self, quote: &MarketQuote, held_jobs: usize) -> Option<Change> {
        self.counters.decisions += 1;
        let economics = self.economics;
        let cost = economics.job_cost_zkpow();
        let quoted =
            zkpow(quote.bounty_open_mean_wei.filter(|_| quote.open_jobs > 0).unwrap_or(quote.bounty_fresh_wei));
        let taking_part = self.stance != Stance::Out;
        let want = match economics.rule {
            DecisionRule::Threshold { margin } => quoted >= (1.0 + margin) * cost,
            DecisionRule::Static => {
                if self.decided_once {
                    taking_part
                } else {
                    zkpow(quote.bounty_base_wei) >= cost
                }
            }
            DecisionRule::Smoothed { alpha, switching_cost_zkpow } => {
                let realized = match (self.balance_at_decision_wei, self.balance_wei) {
                    (Some(before), Some(now)) if taking_part && self.proofs_since_decision > 0 => {
                        Some((now - before) as f64 / WEI_PER_ZKPOW as f64 / self.proofs_since_decision as f64)
                    }
                    _ => None,
                };
                let signal = realized.unwrap_or(quoted);
                let estimate = self.estimate_zkpow.map_or(signal, |old| alpha * signal + (1.0 - alpha) * old);
                self.estimate_zkpow = Some(estimate);
                let surplus = (estimate - cost) * self.jobs_per_interval(quote, taking_part);
                if taking_part { surplus > -switching_cost_zkpow } else { surplus > switching_cost_zkpow }
            }
        };
        self.decided_once = true;
        self.previous = Some(*quote);
        self.balance_at_decision_wei = self.balance_wei;
        self.proofs_since_decision = 0;
        match (self.stance, want) {
            (Stance::Out, true) => {
                self.stance = Stance::In;
                self.counters.joins += 1;
                Some(Change::Join)
            }
            (Stance::Leaving, true) => {
                self.stance = Stance::In;
                None
            }
            (Stance::In, false) if held_jobs == 0 => {
                self.stance = Stance::Out;
                self.counters.leaves += 1;
                Some(Change::Leave)
            }
            (Stance::In, false) => {
                self.stance = Stance::Leaving;
                None
            }
            (Stance::Leaving, false) => {
                self.stance = Stance::Out;
                self.counters.leaves += 1;
                Some(Change::Leave)
            }
            (Stance::In, true) | (Stance::Out, false) => None,
        }
    }

    /// Jobs the plugin would get over the next interval: the interval's new jobs (from the last
    /// two quotes) plus the open ones, shared among the active plugins (itself included), at most
    /// what its device proves in an interval.
    fn jobs_per_interval(&self, quote: &MarketQuote, taking_part: bool) -> f64 {
        let new_jobs = self.previous.map_or(0, |previous| quote.jobs_created.saturating_sub(previous.jobs_created));
        let sharers = quote.active_plugins + u64::from(!taking_part);
        let share = (new_jobs + quote.open_jobs) as f64 / sharers.max(1) as f64;
        let capacity = self.economics.decision_interval_ms as f64 / 1_000.0 / self.economics.job_reference_s.max(1e-3);
        share.min(capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(open_jobs: u64, fresh_zkpow: u128, open_mean_zkpow: u128, jobs_created: u64) -> MarketQuote {
        MarketQuote {
            block: 10,
            active_plugins: 4,
            open_jobs,
            jobs_created,
            bounty_base_wei: WEI_PER_ZKPOW,
            bounty_fresh_wei: fresh_zkpow * WEI_PER_ZKPOW,
            bounty_open_mean_wei: (open_jobs > 0).then_some(open_mean_zkpow * WEI_PER_ZKPOW),
        }
    }

    fn economics(rule: DecisionRule) -> Economics {
        // A job costs 2 ZKPoW (1 ZKPoW per second, 2 s).
        Economics { cost_zkpow_per_s: 1.0, job_reference_s: 2.0, rule, decision_interval_ms: 60_000 }
    }

    /// Goal: the threshold rule joins when the quoted bounty (the aged open jobs' mean when any is
    /// open) covers cost and margin, and leaves — at once when idle, after draining otherwise —
    /// when it no longer does.
    #[test]
    fn threshold_joins_and_leaves_with_the_price() {
        let mut p = Participation::new(economics(DecisionRule::Threshold { margin: 0.5 }));
        assert_eq!(p.on_quote(&quote(0, 1, 0, 0), 0), None, "1 < 3: stays out");
        assert_eq!(p.on_quote(&quote(5, 1, 3, 10), 0), Some(Change::Join), "aged open jobs pay 3");
        assert_eq!(p.stance(), Stance::In);
        assert_eq!(p.on_quote(&quote(0, 1, 0, 20), 2), None, "holds jobs: drains first");
        assert_eq!(p.stance(), Stance::Leaving);
        assert!(!p.left_idle(1));
        assert!(p.left_idle(0));
        assert_eq!(p.stance(), Stance::Out);
        assert_eq!(p.on_quote(&quote(5, 1, 4, 30), 0), Some(Change::Join));
        assert_eq!(p.on_quote(&quote(0, 1, 0, 40), 0), Some(Change::Leave), "idle: leaves at once");
        assert_eq!(p.counters(), ParticipationCounters { decisions: 5, joins: 2, leaves: 2 });
    }

    /// Goal: the static rule decides at its first quote from the posted base bounty (1 ZKPoW in
    /// these quotes) alone, and ignores every later price.
    #[test]
    fn static_never_changes_its_mind() {
        let mut out = Participation::new(economics(DecisionRule::Static));
        assert_eq!(out.on_quote(&quote(0, 20, 0, 0), 0), None, "a job costs 2, the base pays 1");
        assert_eq!(out.on_quote(&quote(50, 1, 100, 10), 0), None, "a high price does not bring it");
        let cheap = Economics { cost_zkpow_per_s: 0.25, ..economics(DecisionRule::Static) };
        let mut inside = Participation::new(cheap);
        assert_eq!(inside.on_quote(&quote(0, 1, 0, 0), 0), Some(Change::Join));
        assert_eq!(inside.on_quote(&quote(0, 0, 0, 10), 0), None, "a low price does not send it away");
        assert_eq!(inside.stance(), Stance::In);
    }

    /// Goal: the smoothed rule needs a surplus above its switching cost to join, moves gradually
    /// (one high quote after low ones does not bring it in with a small alpha), and counts its own
    /// realized income (penalties included) once it proves.
    #[test]
    fn smoothed_has_inertia_and_learns_from_its_income() {
        let rule = DecisionRule::Smoothed { alpha: 0.25, switching_cost_zkpow: 5.0 };
        let mut p = Participation::new(economics(rule));
        // Estimate 1 < cost 2: out.
        assert_eq!(p.on_quote(&quote(0, 1, 0, 0), 0), None);
        // One quote of 6 with alpha 0.25: estimate 2.25, surplus 0.25 × jobs (10 new + 10 open) / 5 = 1 < 5.
        assert_eq!(p.on_quote(&quote(10, 1, 6, 10), 0), None);
        // Prices stay high: the estimate climbs past the switching cost.
        let mut joined = false;
        for step in 0..10 {
            if p.on_quote(&quote(10, 1, 6, 20 + 10 * step), 0) == Some(Change::Join) {
                joined = true;
                break;
            }
        }
        assert!(joined, "a lasting high price brings it in");
        // In: its own income says each proof lost 3 ZKPoW (penalties): the estimate falls and it leaves.
        p.observe_balance(0);
        let mut left = false;
        for step in 0..20u64 {
            p.proof_submitted();
            p.observe_balance(-3 * WEI_PER_ZKPOW as i128 * (step as i128 + 1));
            if p.on_quote(&quote(10, 1, 6, 200 + 10 * step), 0) == Some(Change::Leave) {
                left = true;
                break;
            }
        }
        assert!(left, "realized losses send it away although the quoted price stays high");
    }
}
