//! The validator set: addresses with stakes in a fixed order, quorum thresholds and the proposer
//! schedule.

use std::collections::BTreeMap;

use alloy::primitives::Address;

use crate::{Height, Round, ValidatorIndex};

/// The most validators a set can hold: every index must fit in a [`ValidatorIndex`].
pub const VALIDATORS_MAX: usize = 1 << 16;

/// Validators `(address, stake)` in a fixed order; a validator's position is its
/// [`ValidatorIndex`], which messages and certificates use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<(Address, u64)>,
    indices: BTreeMap<Address, ValidatorIndex>,
    total_stake: u64,
}

impl ValidatorSet {
    /// A set of validators in the given order. Errors: empty, more than [`VALIDATORS_MAX`], a zero
    /// stake, a duplicate address, or a total stake that overflows `u64`.
    pub fn new(validators: Vec<(Address, u64)>) -> Result<Self, String> {
        if validators.is_empty() {
            return Err("the validator set is empty".to_string());
        }
        if validators.len() > VALIDATORS_MAX {
            return Err(format!("{} validators, at most {VALIDATORS_MAX}", validators.len()));
        }
        let mut indices = BTreeMap::new();
        let mut total_stake: u64 = 0;
        for (position, (address, stake)) in validators.iter().enumerate() {
            if *stake == 0 {
                return Err(format!("validator {address} (index {position}) has zero stake"));
            }
            let index = ValidatorIndex::try_from(position).expect("position < VALIDATORS_MAX, checked above");
            if indices.insert(*address, index).is_some() {
                return Err(format!("validator {address} appears twice (again at index {position})"));
            }
            total_stake = total_stake
                .checked_add(*stake)
                .ok_or_else(|| format!("total stake overflows u64 at validator {address} (index {position})"))?;
        }
        assert_eq!(indices.len(), validators.len());
        assert!(total_stake >= validators.len() as u64);
        Ok(Self { validators, indices, total_stake })
    }

    /// Number of validators (at least one).
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Always false: a set has at least one validator (here for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Sum of all stakes.
    pub fn total_stake(&self) -> u64 {
        self.total_stake
    }

    /// Address of the validator at `index`. Panics if `index` is out of range (a caller bug).
    pub fn address(&self, index: ValidatorIndex) -> Address {
        self.entry(index).0
    }

    /// Index of the validator with `address`, if it is in the set.
    pub fn index_of(&self, address: &Address) -> Option<ValidatorIndex> {
        self.indices.get(address).copied()
    }

    /// Stake of the validator at `index`. Panics if `index` is out of range (a caller bug).
    pub fn stake(&self, index: ValidatorIndex) -> u64 {
        self.entry(index).1
    }

    /// Whether `index` names a validator of this set.
    pub fn contains(&self, index: ValidatorIndex) -> bool {
        usize::from(index) < self.validators.len()
    }

    /// Proposer of `(height, round)`: round-robin, validator `(height + round) mod n`.
    ///
    /// Every validator proposes equally often whatever its stake. Stake-weighted selection (such as
    /// CometBFT's proposer priorities) is future work; it would change only this function, because
    /// the state machine asks it for every round.
    pub fn proposer(&self, height: Height, round: Round) -> ValidatorIndex {
        let n = self.validators.len() as u64;
        let index = (height % n + u64::from(round) % n) % n;
        ValidatorIndex::try_from(index).expect("index < n <= VALIDATORS_MAX")
    }

    /// Whether `stake` is a quorum ("2f+1"): strictly more than two thirds of the total stake.
    pub fn is_quorum(&self, stake: u64) -> bool {
        assert!(stake <= self.total_stake, "stake {stake} above the total {}", self.total_stake);
        3 * u128::from(stake) > 2 * u128::from(self.total_stake)
    }

    /// Whether `stake` is more than a third ("f+1"): at least one honest validator is among them
    /// when faulty validators hold at most a third.
    pub fn is_one_third(&self, stake: u64) -> bool {
        assert!(stake <= self.total_stake, "stake {stake} above the total {}", self.total_stake);
        3 * u128::from(stake) > u128::from(self.total_stake)
    }

    fn entry(&self, index: ValidatorIndex) -> (Address, u64) {
        assert!(self.contains(index), "validator index {index} out of range (set of {})", self.len());
        self.validators[usize::from(index)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(byte: u8) -> Address {
        Address::repeat_byte(byte)
    }

    /// Construction rejects every malformed set and keeps the given order and stakes.
    #[test]
    fn new_validates_and_keeps_order() {
        assert!(ValidatorSet::new(vec![]).is_err());
        assert!(ValidatorSet::new(vec![(address(1), 0)]).is_err());
        assert!(ValidatorSet::new(vec![(address(1), 5), (address(1), 6)]).is_err());
        assert!(ValidatorSet::new(vec![(address(1), u64::MAX), (address(2), 1)]).is_err());

        let set = ValidatorSet::new(vec![(address(3), 10), (address(1), 20)]).expect("valid set");
        assert_eq!(set.len(), 2);
        assert_eq!(set.total_stake(), 30);
        assert_eq!(set.address(0), address(3));
        assert_eq!(set.stake(1), 20);
        assert_eq!(set.index_of(&address(1)), Some(1));
        assert_eq!(set.index_of(&address(9)), None);
    }

    /// Thresholds are strict at the exact boundaries, checked on totals divisible and not by 3.
    #[test]
    fn thresholds_are_strict() {
        let set = ValidatorSet::new(vec![(address(1), 1), (address(2), 1), (address(3), 1)]).expect("valid set");
        assert!(!set.is_quorum(2));
        assert!(set.is_quorum(3));
        assert!(!set.is_one_third(1));
        assert!(set.is_one_third(2));

        let set = ValidatorSet::new(vec![(address(1), 50), (address(2), 50)]).expect("valid set");
        assert!(!set.is_quorum(66));
        assert!(set.is_quorum(67));
        assert!(!set.is_one_third(33));
        assert!(set.is_one_third(34));

        let set = ValidatorSet::new(vec![(address(1), u64::MAX)]).expect("valid set");
        assert!(set.is_quorum(u64::MAX));
        assert!(!set.is_quorum(u64::MAX / 3 * 2));
    }

    /// The proposer rotates through every validator as the round (or height) increases.
    #[test]
    fn proposer_rotates() {
        let set = ValidatorSet::new((1..=4).map(|byte| (address(byte), u64::from(byte))).collect()).expect("valid set");
        let proposers: Vec<_> = (0..8).map(|round| set.proposer(1, round)).collect();
        assert_eq!(proposers, vec![1, 2, 3, 0, 1, 2, 3, 0]);
        assert_eq!(set.proposer(u64::MAX, u32::MAX), ((u64::MAX % 4 + u64::from(u32::MAX) % 4) % 4) as u16);
        assert_eq!(set.proposer(6, 0), set.proposer(5, 1));
    }
}
