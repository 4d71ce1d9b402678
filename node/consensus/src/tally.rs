//! Messages of one height, per round: the proposal, prevotes and precommits with their stake sums,
//! and who sent anything (for the round-skip rule). Ordered maps only, so nothing depends on
//! hashing order.

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::B256;

use crate::{Round, ValidatorIndex};

/// The outcome of recording a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// First message of its kind from this sender in this round: counted.
    New,
    /// A message already recorded: ignored.
    Duplicate,
    /// A different message of the same kind from the same sender in this round. `kept`: stored
    /// anyway, for per-value counts only (see [`VoteTally`]).
    Equivocation { kept: bool },
}

/// A proposal as received, with the host's verdict on its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProposalRecord {
    pub(crate) value: B256,
    pub(crate) valid_round: Option<Round>,
    pub(crate) valid: bool,
}

/// Votes of one type in one round, with the stake behind each value (nil included).
///
/// A validator's first vote is its vote: it alone counts toward "2f+1 of any kind" and decides
/// whether this node already voted. A different later vote is an equivocation; the caller may keep
/// it, and then it counts toward that value's total only. So no total ever counts a validator's
/// stake twice, and a node still sees a quorum for `v` that other nodes saw, when a faulty validator
/// told it something else first. (The paper's rules count messages from distinct senders per
/// value; its safety argument never assumes a faulty validator votes once.)
#[derive(Clone, Debug, Default)]
pub(crate) struct VoteTally {
    /// Each voter's distinct votes in arrival order; the first is its vote.
    votes: BTreeMap<ValidatorIndex, Vec<Option<B256>>>,
    stake_by_value: BTreeMap<Option<B256>, u64>,
    /// Stake of distinct voters.
    stake_total: u64,
}

impl VoteTally {
    /// Records `from`'s vote for `value`. A conflicting vote is stored only if `keep_conflicting`
    /// and `from` has fewer than `votes_per_validator_max` votes here.
    pub(crate) fn record(
        &mut self,
        from: ValidatorIndex,
        value: Option<B256>,
        stake: u64,
        keep_conflicting: bool,
        votes_per_validator_max: usize,
    ) -> Recorded {
        let recorded = match self.votes.get_mut(&from) {
            None => {
                self.votes.insert(from, vec![value]);
                *self.stake_by_value.entry(value).or_default() += stake;
                self.stake_total += stake;
                Recorded::New
            }
            Some(values) if values.contains(&value) => Recorded::Duplicate,
            Some(values) => {
                let kept = keep_conflicting && values.len() < votes_per_validator_max;
                if kept {
                    values.push(value);
                    *self.stake_by_value.entry(value).or_default() += stake;
                }
                Recorded::Equivocation { kept }
            }
        };
        assert!(self.stake_for(value) <= self.stake_total, "a value's stake counts each validator once");
        recorded
    }

    /// `from`'s vote (its first), if it voted.
    pub(crate) fn first_vote(&self, from: ValidatorIndex) -> Option<Option<B256>> {
        self.votes.get(&from).and_then(|values| values.first().copied())
    }

    /// Whether a vote for `value` from `from` would be an equivocation: it voted, never for `value`.
    pub(crate) fn conflicts(&self, from: ValidatorIndex, value: Option<B256>) -> bool {
        self.votes.get(&from).is_some_and(|values| !values.contains(&value))
    }

    /// Stake that voted for `value` (`None`: nil).
    pub(crate) fn stake_for(&self, value: Option<B256>) -> u64 {
        self.stake_by_value.get(&value).copied().unwrap_or(0)
    }

    /// Stake that voted at all ("2f+1 ⟨…, ∗⟩"), each validator once.
    pub(crate) fn stake_total(&self) -> u64 {
        self.stake_total
    }

    /// The (first) vote of `validator`, if any (`Some(None)`: a nil vote).
    pub(crate) fn vote_of(&self, validator: ValidatorIndex) -> Option<Option<B256>> {
        self.votes.get(&validator).map(|values| values[0])
    }

    /// Validators that voted for `value`, ascending.
    pub(crate) fn voters_for(&self, value: Option<B256>) -> Vec<ValidatorIndex> {
        self.votes.iter().filter(|(_, values)| values.contains(&value)).map(|(validator, _)| *validator).collect()
    }
}

/// Everything received in one round of the current height.
#[derive(Clone, Debug, Default)]
pub(crate) struct RoundState {
    /// The proposer's proposals in arrival order, distinct, at most `PROPOSALS_PER_ROUND_MAX`: more
    /// than one only if the proposer equivocates.
    pub(crate) proposals: Vec<ProposalRecord>,
    pub(crate) prevotes: VoteTally,
    pub(crate) precommits: VoteTally,
    /// Validators with any counted message in this round, and their stake: the paper's
    /// "f+1 ⟨∗, h_p, round, ∗, ∗⟩".
    senders: BTreeSet<ValidatorIndex>,
    senders_stake: u64,
}

impl RoundState {
    pub(crate) fn note_sender(&mut self, from: ValidatorIndex, stake: u64) {
        if self.senders.insert(from) {
            self.senders_stake += stake;
        }
    }

    pub(crate) fn has_sender(&self, validator: ValidatorIndex) -> bool {
        self.senders.contains(&validator)
    }

    pub(crate) fn senders_stake(&self) -> u64 {
        self.senders_stake
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tally counts each validator once per value and once in the total, flags a changed vote as
    /// equivocation and keeps it only when asked; checked by recording votes by hand.
    #[test]
    fn tally_counts_each_validator_once() {
        let value = B256::repeat_byte(7);
        let other = B256::repeat_byte(8);
        let mut tally = VoteTally::default();
        assert_eq!(tally.record(0, Some(value), 10, true, 3), Recorded::New);
        assert_eq!(tally.record(0, Some(value), 10, true, 3), Recorded::Duplicate);
        assert_eq!(tally.record(0, None, 10, false, 3), Recorded::Equivocation { kept: false });
        assert_eq!(tally.record(1, None, 5, true, 3), Recorded::New);
        assert_eq!(tally.stake_for(Some(value)), 10);
        assert_eq!(tally.stake_for(None), 5);
        assert_eq!(tally.stake_total(), 15);

        assert_eq!(tally.record(0, Some(other), 10, true, 3), Recorded::Equivocation { kept: true });
        assert_eq!(tally.record(0, Some(other), 10, true, 3), Recorded::Duplicate);
        assert_eq!(tally.record(0, None, 10, true, 3), Recorded::Equivocation { kept: true });
        assert_eq!(tally.record(0, Some(B256::ZERO), 10, true, 3), Recorded::Equivocation { kept: false });
        assert_eq!(tally.stake_for(Some(other)), 10);
        assert_eq!(tally.stake_for(None), 15);
        assert_eq!(tally.stake_total(), 15, "the equivocator counts once in the total");
        assert_eq!(tally.voters_for(Some(value)), vec![0]);
        assert_eq!(tally.voters_for(None), vec![0, 1]);
        assert_eq!(tally.vote_of(0), Some(Some(value)), "the first vote is the vote");
        assert_eq!(tally.vote_of(1), Some(None));
        assert_eq!(tally.vote_of(2), None);
    }
}
