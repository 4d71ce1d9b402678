//! The write-ahead log, as data: what a validator must keep on disk so that a crash and restart
//! never make it contradict what it already told the network. The machine emits
//! [`Output::Persist`](crate::Output::Persist) entries ahead of the messages they cover; the host
//! appends them durably; after a crash [`Consensus::recover`](crate::Consensus::recover) rebuilds the
//! machine from the log. This is Tendermint's WAL and last-sign-state discipline reduced to what the
//! algorithm's safety rests on, a node's own messages and its lock, plus what its liveness needs
//! from the messages it received: the polka behind its lock and valid value. Without that polka, a
//! node whose polka included faulty validators' prevotes sent to it alone could never show it to
//! the others again, and its re-proposals would never be accepted while its lock refuses
//! everything else.

use alloy::primitives::B256;

use crate::message::{Message, MessageKind};
use crate::{Height, Round, ValidatorIndex};

/// One record of a validator's write-ahead log. Entries of one height appear in the order the
/// machine emitted them; every prefix of such a log is a valid log (a crash can cut it anywhere).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum WalEntry {
    /// The node started this height, in round 0. Entries of lower heights are obsolete from here
    /// on: the host may prune them.
    StartHeight(Height),
    /// The node entered `round` (above 0) of `height`, by the precommit timeout or a round skip.
    StartRound {
        /// Consensus height.
        height: Height,
        /// The round entered.
        round: Round,
    },
    /// The node locked `value` in `round` (lockedRound/lockedValue), which also makes it the valid
    /// value (validRound/validValue): written before the precommit for `value` that follows it.
    Lock {
        /// Consensus height.
        height: Height,
        /// The round of the polka, which is also the node's round.
        round: Round,
        /// Hash of the locked block.
        value: B256,
        /// The validators whose prevotes for `value` in `round` formed the polka, ascending.
        polka: Vec<ValidatorIndex>,
    },
    /// The node saw a polka for the proposal `value` of `round` after it precommitted there
    /// (validRound/validValue without the lock): what it re-proposes as proposer.
    Valid {
        /// Consensus height.
        height: Height,
        /// The round of the polka, which is also the node's round.
        round: Round,
        /// Hash of the block.
        value: B256,
        /// The validators whose prevotes for `value` in `round` formed the polka, ascending.
        polka: Vec<ValidatorIndex>,
    },
    /// The node sent this message, its own proposal, prevote or precommit: written before the
    /// [`Output::Broadcast`](crate::Output::Broadcast) of it.
    Sent(Message),
}

impl WalEntry {
    /// The height the entry belongs to.
    pub fn height(&self) -> Height {
        match self {
            Self::StartHeight(height)
            | Self::StartRound { height, .. }
            | Self::Lock { height, .. }
            | Self::Valid { height, .. } => *height,
            Self::Sent(message) => message.height(),
        }
    }
}

/// Why a write-ahead log cannot be recovered: it is not a prefix of any log the machine emits (a
/// corrupted or foreign file, or a host that reordered entries). `index` is the position of the
/// offending entry in the slice given to [`Consensus::recover`](crate::Consensus::recover).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WalError {
    /// Entries without a [`WalEntry::StartHeight`] before them.
    #[error("the log has {entries} entries but no StartHeight")]
    NoStartHeight {
        /// Number of entries in the log.
        entries: usize,
    },
    /// A [`WalEntry::StartHeight`] of height 0 (heights start at 1).
    #[error("entry {index} starts height 0; heights start at 1")]
    HeightZero {
        /// Position of the entry.
        index: usize,
    },
    /// An entry of another height than the last [`WalEntry::StartHeight`] (after it: any other
    /// height; before it: a height not below it).
    #[error("entry {index} is for height {entry_height}, out of order with the last StartHeight({height})")]
    WrongHeight {
        /// Position of the entry.
        index: usize,
        /// The entry's height.
        entry_height: Height,
        /// The height of the last `StartHeight`.
        height: Height,
    },
    /// A [`WalEntry::StartRound`] not above the current round, or above [`crate::ROUND_MAX`].
    #[error("entry {index} starts round {round} in round {current}: rounds only increase, up to ROUND_MAX")]
    RoundOrder {
        /// Position of the entry.
        index: usize,
        /// The round the entry starts.
        round: Round,
        /// The round the log was in.
        current: Round,
    },
    /// An entry for a round other than the one the log was in: a node only locks and sends in its
    /// current round.
    #[error("entry {index} is for round {round}, but the node was in round {current}")]
    WrongRound {
        /// Position of the entry.
        index: usize,
        /// The entry's round.
        round: Round,
        /// The round the log was in.
        current: Round,
    },
    /// A second, different own message of one type in one round: the log records an equivocation.
    #[error("entry {index} is a {kind:?} of round {round} that differs from this node's earlier one")]
    Conflicting {
        /// Position of the entry.
        index: usize,
        /// The message's type.
        kind: MessageKind,
        /// The message's round.
        round: Round,
    },
    /// A proposal in a round this node is not the proposer of.
    #[error("entry {index} is a proposal of round {round}, whose proposer is validator {proposer}")]
    NotProposer {
        /// Position of the entry.
        index: usize,
        /// The proposal's round.
        round: Round,
        /// The round's proposer.
        proposer: ValidatorIndex,
    },
    /// A polka naming a validator outside the set, not in ascending order, or short of a quorum.
    #[error("entry {index} has a polka that is not a quorum of distinct validators, ascending: {polka:?}")]
    BadPolka {
        /// Position of the entry.
        index: usize,
        /// The polka's validators as logged.
        polka: Vec<ValidatorIndex>,
    },
    /// An entry the machine never emits at that point, e.g. a precommit before the prevote of its
    /// round, a precommit for a value not locked in its round, or a lock before the prevote.
    #[error("entry {index} is out of step: {rule}")]
    OutOfStep {
        /// Position of the entry.
        index: usize,
        /// The rule of the machine the entry breaks.
        rule: &'static str,
    },
}
