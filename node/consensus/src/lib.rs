//! Sans-I/O Tendermint BFT consensus for zkcrowd's validators: a deterministic state machine that
//! the host drives with messages, timer expiries and built blocks, and that answers with messages
//! to broadcast, timers to set, blocks to build, write-ahead log entries to persist and decisions.
//! No I/O, clock, randomness or threads; only ordered maps, so equal inputs give equal outputs.
//!
//! It follows Algorithm 1 of E. Buchman, J. Kwon, Z. Milosevic, *The latest gossip on BFT
//! consensus* (2018, arXiv:1807.04938), with stake weights: "2f+1" is strictly more than two
//! thirds of the total stake ([`ValidatorSet::is_quorum`]), "f+1" strictly more than one third
//! ([`ValidatorSet::is_one_third`]). Values are block hashes; the host judges block validity.
//! It is safe (no two correct nodes decide differently at a height) whenever faulty validators
//! hold at most a third of the stake, whatever the network does; it is live once the network
//! delivers messages within a bound and faulty stake is below a third.
//!
//! # Algorithm
//!
//! Each node keeps the height `h`, round `r`, step (propose, prevote, precommit), a lock
//! (`lockedValue`, `lockedRound`) and the latest polka it saw (`validValue`, `validRound`). A
//! *polka* is 2f+1 prevotes for one value in one round. Line numbers refer to the paper.
//!
//! 1. **Start a round** (lines 11-21). `r` := round, step := propose. The round's proposer
//!    ([`ValidatorSet::proposer`]) re-proposes `validValue` with `vr = validRound` if it has one
//!    (a [`Output::Broadcast`] of a proposal with `valid_round: Some(vr)`, whose block the host
//!    already holds), else asks the host for a new block ([`Output::BuildProposal`]).
//!    Everyone else schedules the propose timeout.
//! 2. **Prevote a fresh proposal** (22-27). On ⟨PROPOSAL, h, r, v, -1⟩ from the proposer in step
//!    propose: prevote `v` if it is valid and the node is unlocked or locked on `v`, else nil.
//! 3. **Prevote a re-proposal** (28-33). On ⟨PROPOSAL, h, r, v, vr⟩ with `vr < r` and a polka for `v`
//!    in round `vr`, in step propose: prevote `v` if it is valid and `lockedRound ≤ vr` or the node
//!    is locked on `v`, else nil. A polka no older than the lock releases it.
//! 4. **Prevote timeout** (34-35). 2f+1 prevotes of any kind in step prevote, the first time in the
//!    round: schedule the prevote timeout.
//! 5. **Lock** (36-43). The round's valid proposal `v` and a polka for it, in step prevote or later,
//!    the first time in the round: in step prevote, lock `v` at `r` and precommit `v`; in any case
//!    `validValue` := `v`, `validRound` := `r`.
//! 6. **Nil polka** (44-46). 2f+1 prevotes for nil in step prevote: precommit nil.
//! 7. **Precommit timeout** (47-48). 2f+1 precommits of any kind in the round, the first time:
//!    schedule the precommit timeout.
//! 8. **Decide** (49-54). A valid proposal for `v` in any round `r'` and 2f+1 precommits for `v` in
//!    `r'`: [`Output::Decide`]. The paper then starts height `h + 1` itself; here the machine waits
//!    for [`Input::StartHeight`], so the host commits the block first.
//! 9. **Skip ahead** (55-56). Messages from f+1 stake in a round above `r`: start that round (at
//!    least one correct node is there).
//! 10. **Timeouts** (57-65). Propose: prevote nil. Prevote: precommit nil. Precommit: start round
//!     `r + 1`. Each acts only if the height, round (and for the first two, step) are unchanged.
//!     Durations grow with the round ([`TimeoutParams`]).
//!
//! Why it is safe: a correct node precommits `v` only with a polka for `v` and then stays locked on
//! `v` until a later polka for another value; two quorums share more than a third of the stake, so
//! a correct node is in both, and after 2f+1 precommits for `v` no polka for another value can form.
//!
//! # Host contract
//!
//! 1. Map each authenticated sender to its [`ValidatorIndex`] and feed [`Input::Message`] (zkcrowd's
//!    node authenticates by signature: `zkcrowd_node::SignedMessage`, so a relayed message counts
//!    for its signer); never
//!    deliver this node's own broadcasts back (the machine counts them as it sends; copies are
//!    ignored). For a proposal, validate the block first and pass the verdict; it must be the same
//!    verdict on every node (validity is a deterministic function of the block).
//! 2. Execute [`Output`]s in order. Timeouts need not be cancelled: stale ones are ignored.
//! 3. After [`Output::Decide`], commit the block and send [`Input::StartHeight`]`(h + 1)`.
//! 4. Liveness needs the paper's gossip property: every message a correct node received is
//!    eventually received by every correct node once the network is stable. The machine never
//!    retransmits, so the host periodically re-sends what it sent and received at the current
//!    height (relayed messages keep their original, signed sender), and the previous height's
//!    messages to peers still deciding it; a peer further behind needs block sync. Safety needs
//!    nothing from the network. (The tests' network does exactly this; see `tests/support`.)
//! 5. **Write-ahead log** (a validator's; observers emit none). Append the entry of each
//!    [`Output::Persist`] to this validator's log durably (written and synced), in order, and only
//!    then execute the [`Output::Broadcast`]s that follow it; entries emitted together may share one
//!    sync before the first such broadcast. With an entry that names a block (a
//!    [`WalEntry::Sent`] proposal, a [`WalEntry::Lock`], a [`WalEntry::Valid`]), keep that block
//!    too: a recovered machine may re-broadcast or re-propose it. With a `Lock` or `Valid`, also
//!    keep the signed prevotes of its `polka` (the host received them): after a restart it gossips
//!    them again (point 4), as the evidence others need to accept the re-proposal of that value.
//!    After a crash, rebuild the machine with [`Consensus::recover`] from the log and execute the
//!    outputs it returns; if the log's height was already committed, send `StartHeight` of the
//!    next height right after.
//!    Entries of heights below the last [`WalEntry::StartHeight`] may be pruned (they are written
//!    only after the previous height was committed or synced). Restarting with a fresh machine
//!    instead ("amnesia") forgets the lock and the votes sent: with four validators two such
//!    restarts in one height can fork the chain (`tests/restart.rs` shows it).
//!
//! # Crash recovery
//!
//! Safety rests on what each correct node itself sent and on its lock: it never sends two
//! different messages of one type in one round, and once locked it prevotes nothing else until a
//! newer polka. Both are in the write-ahead log ([`WalEntry`]) before any message that depends on
//! them leaves, so a node recovered by [`Consensus::recover`] keeps them. What a crash loses, the
//! messages received and the host's timers, is what a slow network can take from any node:
//! received messages come again by gossip (host contract point 4), and recovery schedules the
//! timeout of the current step. A recovered node is therefore indistinguishable from a correct
//! node on a bad network, which the argument above already covers. Its own messages are
//! re-broadcast unchanged: a duplicate, never an equivocation. One kind of received message is
//! logged anyway, for liveness: the prevotes of the polka behind the lock and the valid value.
//! Faulty validators may have sent them to this node alone; forgotten, no one could accept this
//! node's re-proposal of its locked value, and its lock would refuse everything else.
//! (Tendermint's WAL logs every input and replays it; this log keeps the machine's own decisions,
//! which is all that safety needs, and those polkas.)
//!
//! # Differences from the paper
//!
//! - The proposer builds asynchronously, so it also schedules the propose timeout; a block built
//!   after that timeout fired is still broadcast within the same round.
//! - Messages dropped by the bounds ([`HEIGHTS_AHEAD_MAX`], [`FUTURE_MESSAGES_PER_VALIDATOR_MAX`],
//!   [`CATCHUP_ROUNDS_PER_VALIDATOR_MAX`], [`PROPOSALS_PER_ROUND_MAX`],
//!   [`VOTES_PER_VALIDATOR_PER_ROUND_MAX`], [`ROUND_MAX`]) are as if lost in the network.
//! - **Equivocation.** A validator's first message of each `(round, type)` is its message; a
//!   different one is an equivocation, counted once per slot in [`Consensus::equivocations`]. It
//!   never counts toward "2f+1 of any kind" or the round skip (no stake counts twice). It is kept,
//!   though, for the count of its own value when that
//!   value can matter (nil prevotes, and values of proposals of the round or re-proposed with that
//!   valid round): the paper counts messages per value, and without this a node that heard a
//!   faulty validator's other vote first could never see the polka or commit that the others saw,
//!   which stalls the network (a locked node's re-proposal is never accepted). Safety is
//!   unaffected: the argument only counts correct validators, which never equivocate. Likewise
//!   up to [`PROPOSALS_PER_ROUND_MAX`] conflicting proposals are kept; prevoting takes the first
//!   one that enables a rule.
//! - Rounds stop at [`ROUND_MAX`]: the precommit timeout no longer advances the round there.
//! - An observer (`me = None`) runs the same rules but never sends or schedules, and still decides.
//!
//! # Example
//!
//! A lone validator is its own quorum: it proposes, votes and decides in one step.
//!
//! ```
//! use alloy::primitives::{Address, B256};
//! use zkcrowd_consensus::{Consensus, Input, Output, TimeoutParams, ValidatorSet, WalEntry};
//!
//! let validators = ValidatorSet::new(vec![(Address::repeat_byte(1), 100)]).expect("one validator");
//! let mut node = Consensus::new(validators, Some(0), TimeoutParams::default());
//! let outputs = node.handle(Input::StartHeight(1));
//! // First the write-ahead log entry, then the request to build.
//! assert_eq!(outputs[0], Output::Persist(WalEntry::StartHeight(1)));
//! assert_eq!(outputs[1], Output::BuildProposal { height: 1, round: 0 });
//!
//! let block = B256::repeat_byte(0xab);
//! let outputs = node.handle(Input::ProposalBuilt { height: 1, round: 0, value: block });
//! let decided = outputs.iter().find_map(|output| match output {
//!     Output::Decide { height, value, certificate, .. } => Some((*height, *value, certificate.clone())),
//!     _ => None,
//! });
//! assert_eq!(decided, Some((1, block, vec![0])));
//! ```
//!
//! A validator of four that prevoted, crashed and recovered from its log re-sends that prevote,
//! rests in step prevote with its timeout scheduled, and will never prevote anything else there.
//!
//! ```
//! use alloy::primitives::{Address, B256};
//! use zkcrowd_consensus::{Consensus, Input, Message, Output, Step, TimeoutParams, ValidatorSet};
//!
//! let stakes = (1..=4).map(|byte| (Address::repeat_byte(byte), 100)).collect();
//! let validators = ValidatorSet::new(stakes).expect("four validators");
//! let mut node = Consensus::new(validators.clone(), Some(0), TimeoutParams::default());
//! let mut log = Vec::new();
//! let mut persist = |outputs: Vec<Output>| {
//!     log.extend(outputs.into_iter().filter_map(|output| match output {
//!         Output::Persist(entry) => Some(entry),
//!         _ => None,
//!     }))
//! };
//! persist(node.handle(Input::StartHeight(1)));
//! let value = B256::repeat_byte(0xab);
//! let proposal = Message::Proposal { height: 1, round: 0, value, valid_round: None };
//! persist(node.handle(Input::Message { from: 1, message: proposal, proposal_valid: Some(true) }));
//! drop(node); // the crash
//!
//! let (node, outputs) = Consensus::recover(validators, 0, TimeoutParams::default(), &log).expect("own log");
//! let prevote = Message::Prevote { height: 1, round: 0, value: Some(value) };
//! assert_eq!(outputs[0], Output::Broadcast(prevote));
//! assert_eq!((node.height(), node.round(), node.step()), (1, 0, Step::Prevote));
//! ```

mod consensus;
mod message;
mod tally;
mod validators;
mod wal;

pub use consensus::{
    CATCHUP_ROUNDS_PER_VALIDATOR_MAX, Consensus, FUTURE_MESSAGES_PER_VALIDATOR_MAX, HEIGHTS_AHEAD_MAX,
    PROPOSALS_PER_ROUND_MAX, ROUND_MAX, Status, VOTES_PER_VALIDATOR_PER_ROUND_MAX,
};
pub use message::{Equivocation, Input, Message, MessageKind, Output, Step, Timeout, TimeoutParams};
pub use validators::{VALIDATORS_MAX, ValidatorSet};
pub use wal::{WalEntry, WalError};

/// Consensus height: the number of the block being decided.
pub type Height = u64;

/// Round within a height; round 0 is the first.
pub type Round = u32;

/// Index into the validator set.
pub type ValidatorIndex = u16;
