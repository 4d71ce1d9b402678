//! What crosses the boundary between the state machine and its host: consensus messages, timeouts,
//! [`Input`]s and [`Output`]s.

use alloy::primitives::B256;

use crate::wal::WalEntry;
use crate::{Height, Round, ValidatorIndex};

/// A consensus message. Values are block hashes; the block itself travels beside the proposal
/// (the host's business), and its validity reaches the machine as [`Input::Message::proposal_valid`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Message {
    /// ⟨PROPOSAL, h, r, v, vr⟩: the proposer of `(height, round)` proposes `value`. `valid_round`
    /// is the paper's `vr`: `None` for -1 (a fresh value), `Some(vr)` with `vr < round` when the
    /// proposer re-proposes a value that had a polka (2f+1 prevotes) in round `vr`.
    Proposal {
        /// Consensus height.
        height: Height,
        /// Round within the height.
        round: Round,
        /// Hash of the proposed block.
        value: B256,
        /// Round of the polka that justifies a re-proposal, or `None` for a fresh value.
        valid_round: Option<Round>,
    },
    /// ⟨PREVOTE, h, r, id(v)⟩: first vote of a round; `None` is nil.
    Prevote {
        /// Consensus height.
        height: Height,
        /// Round within the height.
        round: Round,
        /// The block hash voted for, or `None` for nil.
        value: Option<B256>,
    },
    /// ⟨PRECOMMIT, h, r, id(v)⟩: second vote of a round; 2f+1 for one value decide it.
    Precommit {
        /// Consensus height.
        height: Height,
        /// Round within the height.
        round: Round,
        /// The block hash voted for, or `None` for nil.
        value: Option<B256>,
    },
}

impl Message {
    /// The message's height.
    pub fn height(&self) -> Height {
        match self {
            Self::Proposal { height, .. } | Self::Prevote { height, .. } | Self::Precommit { height, .. } => *height,
        }
    }

    /// The message's round.
    pub fn round(&self) -> Round {
        match self {
            Self::Proposal { round, .. } | Self::Prevote { round, .. } | Self::Precommit { round, .. } => *round,
        }
    }

    /// The message's type, which with height, round and sender names its equivocation slot.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Proposal { .. } => MessageKind::Proposal,
            Self::Prevote { .. } => MessageKind::Prevote,
            Self::Precommit { .. } => MessageKind::Precommit,
        }
    }
}

/// The type of a [`Message`], without its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum MessageKind {
    /// [`Message::Proposal`].
    Proposal,
    /// [`Message::Prevote`].
    Prevote,
    /// [`Message::Precommit`].
    Precommit,
}

/// Step of a round. Ordered: `Propose < Prevote < Precommit` (the paper's `step_p ≥ prevote`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Waiting for the round's proposal.
    Propose,
    /// Prevoted; waiting for 2f+1 prevotes.
    Prevote,
    /// Precommitted; waiting for a decision or the next round.
    Precommit,
}

/// A timeout the host schedules on the machine's request and feeds back when it fires. Stale
/// timeouts (for an earlier height, round or step) are ignored, so the host need not cancel any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeout {
    /// Height the timeout was scheduled at.
    pub height: Height,
    /// Round the timeout was scheduled at.
    pub round: Round,
    /// Which of the three timeouts: `Propose` (no proposal in time), `Prevote` (2f+1 prevotes but
    /// no polka), `Precommit` (2f+1 precommits but no decision).
    pub step: Step,
}

/// Timeout durations: `timeout(step, round) = base(step) + round × delta_ms`, growing with the
/// round so that after the network stabilises some round lasts long enough to decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeoutParams {
    /// Base of the propose timeout.
    pub propose_ms: u64,
    /// Base of the prevote timeout.
    pub prevote_ms: u64,
    /// Base of the precommit timeout.
    pub precommit_ms: u64,
    /// Added per round to every timeout.
    pub delta_ms: u64,
}

impl TimeoutParams {
    /// Duration of the `step` timeout in `round`, saturating at `u64::MAX`.
    pub fn duration_ms(&self, step: Step, round: Round) -> u64 {
        let base_ms = match step {
            Step::Propose => self.propose_ms,
            Step::Prevote => self.prevote_ms,
            Step::Precommit => self.precommit_ms,
        };
        base_ms.saturating_add(u64::from(round).saturating_mul(self.delta_ms))
    }
}

impl Default for TimeoutParams {
    /// Propose 3000 ms, prevote 1000 ms, precommit 1000 ms, plus 500 ms per round.
    fn default() -> Self {
        Self { propose_ms: 3000, prevote_ms: 1000, precommit_ms: 1000, delta_ms: 500 }
    }
}

/// What the host feeds the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Start consensus at this height: after the previous height was decided and committed, at
    /// boot, or after catching up by block sync. Must be above the current height.
    StartHeight(Height),
    /// A message from validator `from` (the host has authenticated the sender and mapped it with
    /// [`ValidatorSet::index_of`](crate::ValidatorSet::index_of)). For a proposal, the host has
    /// already validated the proposed block and says whether it is valid (`None` for a proposal
    /// means "not validated" and the proposal is dropped); for votes `proposal_valid` is ignored.
    /// Messages from this node itself are ignored: it counts its own messages when it sends them.
    Message {
        /// Sender, an index into the validator set.
        from: ValidatorIndex,
        /// The message.
        message: Message,
        /// For a proposal, the host's verdict on the proposed block.
        proposal_valid: Option<bool>,
    },
    /// The host built the block this node must propose at `(height, round)`: the answer to
    /// [`Output::BuildProposal`]. Late answers (the round has moved on) are ignored.
    ProposalBuilt {
        /// Height of the request.
        height: Height,
        /// Round of the request.
        round: Round,
        /// Hash of the built block.
        value: B256,
    },
    /// A scheduled timeout fired.
    Timeout(Timeout),
}

/// What the machine asks the host to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Validator `evidence.validator` sent two different messages of one type in one round: proof
    /// of misbehaviour, once per `(height, round, type, validator)`. For the host's record (and,
    /// with signed messages, for slashing); the machine already handled both messages.
    Evidence(Equivocation),
    /// Append `entry` to this validator's write-ahead log, durably, before executing any
    /// [`Output::Broadcast`] that follows (in this answer or a later one). Entries come in the order
    /// they must be appended; observers emit none. After a crash, the log rebuilds the machine with
    /// [`Consensus::recover`](crate::Consensus::recover). See the crate docs, host contract point 5.
    Persist(WalEntry),
    /// Send to every other validator (and observers). The machine has already counted the message
    /// itself: the host must NOT deliver it back to this node (if it does, it is ignored).
    ///
    /// A `Proposal` with `valid_round: Some(vr)` re-proposes an earlier valid value (the paper's
    /// validValue, which had a polka in round `vr`) instead of a newly built block: the host sends
    /// the block with that hash, which it already holds from the earlier round.
    ///
    /// Every [`Output::Persist`] emitted before it must be durable before it is sent.
    Broadcast(Message),
    /// Build a new block for `(height, round)` and answer with [`Input::ProposalBuilt`].
    BuildProposal {
        /// Height to build at.
        height: Height,
        /// Round to build for.
        round: Round,
    },
    /// Feed `Input::Timeout(timeout)` back after `after_ms` milliseconds.
    ScheduleTimeout {
        /// The timeout to fire.
        timeout: Timeout,
        /// Delay, from [`TimeoutParams::duration_ms`].
        after_ms: u64,
    },
    /// `value` is decided at `height`, by 2f+1 precommits in `round`. The machine then waits for
    /// `Input::StartHeight(height + 1)`, so the host can commit the block first.
    Decide {
        /// Decided height.
        height: Height,
        /// Round whose precommits decided.
        round: Round,
        /// Hash of the decided block.
        value: B256,
        /// The validators that precommitted `value` in `round` (a quorum), ascending.
        certificate: Vec<ValidatorIndex>,
    },
}

/// Two different messages of one type from one validator in one round of one height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Equivocation {
    /// The equivocating validator.
    pub validator: ValidatorIndex,
    /// Its first message of the slot (the one this node counted).
    pub first: Message,
    /// The conflicting one.
    pub second: Message,
}
