//! The Tendermint state machine: one [`Consensus`] per node, advanced by [`Input`]s, answering with
//! [`Output`]s. The numbered steps in the crate docs map to the rule functions below.

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::B256;

use crate::message::{Equivocation, Input, Message, MessageKind, Output, Step, Timeout, TimeoutParams};
use crate::tally::{ProposalRecord, Recorded, RoundState};
use crate::validators::ValidatorSet;
use crate::wal::{WalEntry, WalError};
use crate::{Height, Round, ValidatorIndex};

/// Messages for heights `h + 1 ..= h + HEIGHTS_AHEAD_MAX` are buffered and replayed when their
/// height starts; higher ones are dropped (a node that far behind catches up by block sync).
pub const HEIGHTS_AHEAD_MAX: Height = 2;

/// Messages buffered per validator per future height: two rounds of proposal, prevote and
/// precommit, enough for a validator one height ahead while this node commits. Per validator, so
/// a faulty validator cannot crowd out the others.
pub const FUTURE_MESSAGES_PER_VALIDATOR_MAX: usize = 6;

/// Rounds above `round + 1` of the current height in which one validator may have messages stored
/// (CometBFT's "catch-up rounds"). An honest validator ahead of this node moves one round at a time,
/// so f+1 of them open the same round and trigger the round skip; a faulty one cannot fill memory
/// with far-future rounds.
pub const CATCHUP_ROUNDS_PER_VALIDATOR_MAX: usize = 2;

/// Distinct proposals kept per round. Only an equivocating proposer sends more than one; keeping a
/// few lets this node decide the one the quorum precommitted even if another arrived first. Beyond
/// the bound, a node may miss the decision and catch up by block sync.
pub const PROPOSALS_PER_ROUND_MAX: usize = 4;

/// Votes of one type kept per validator per round: its vote plus conflicting ones (see
/// `prevote_matters`), enough for nil and every proposal of a round.
pub const VOTES_PER_VALIDATOR_PER_ROUND_MAX: usize = PROPOSALS_PER_ROUND_MAX + 2;

/// The highest round. Messages above it are dropped and the precommit timeout stops advancing the
/// round there. With the default timeouts, reaching it takes about 290 days of failed rounds; it
/// bounds memory (rounds stored per height) and keeps round arithmetic far from overflow.
pub const ROUND_MAX: Round = 10_000;

/// Rule firings while handling one input. Each firing changes the step, round or decision, and at
/// most two rounds (the current one and one skip target) are visited per input, each with at most
/// six firings; a higher count means a rule fires without changing state.
const RULE_FIRINGS_PER_INPUT_MAX: u32 = 64;

/// Where the machine is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Created; waiting for the first [`Input::StartHeight`].
    Idle,
    /// Running consensus at [`Consensus::height`].
    Running,
    /// Decided [`Consensus::height`]; waiting for `StartHeight(height + 1)` (or higher).
    Decided,
}

/// A message for a future height, kept until that height starts.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Buffered {
    from: ValidatorIndex,
    message: Message,
    proposal_valid: Option<bool>,
}

/// The consensus state machine of one node (a validator, or an observer that never votes).
#[derive(Clone, Debug)]
pub struct Consensus {
    validators: ValidatorSet,
    me: Option<ValidatorIndex>,
    timeouts: TimeoutParams,
    status: Status,
    /// The paper's h_p, round_p, step_p.
    height: Height,
    round: Round,
    step: Step,
    /// lockedRound_p/lockedValue_p and validRound_p/validValue_p; `None` is the paper's -1/nil.
    locked: Option<(Round, B256)>,
    valid: Option<(Round, B256)>,
    /// Every counted message of the current height, by round.
    rounds: BTreeMap<Round, RoundState>,
    /// "For the first time" flags of the current round: lines 34, 36 and 47 of the paper.
    prevote_timeout_scheduled: bool,
    polka_seen: bool,
    precommit_timeout_scheduled: bool,
    /// The round whose block this node (its proposer) asked the host to build.
    build_pending: Option<Round>,
    /// Messages for heights above the current one, in arrival order.
    future: BTreeMap<Height, Vec<Buffered>>,
    /// Equivocation slots `(round, kind, validator)` seen at the current height.
    equivocators: BTreeSet<(Round, MessageKind, ValidatorIndex)>,
    equivocations: u64,
    /// Evidence found while handling the current input, handed out at its end.
    evidence: Vec<Equivocation>,
}

impl Consensus {
    /// A machine for validator `me` of `validators`, or an observer (`me = None`) that follows the
    /// messages and reports decisions but never sends or schedules anything. Idle until the first
    /// [`Input::StartHeight`].
    pub fn new(validators: ValidatorSet, me: Option<ValidatorIndex>, timeouts: TimeoutParams) -> Self {
        if let Some(me) = me {
            assert!(validators.contains(me), "validator index {me} outside the set of {}", validators.len());
        }
        Self {
            validators,
            me,
            timeouts,
            status: Status::Idle,
            height: 0,
            round: 0,
            step: Step::Propose,
            locked: None,
            valid: None,
            rounds: BTreeMap::new(),
            prevote_timeout_scheduled: false,
            polka_seen: false,
            precommit_timeout_scheduled: false,
            build_pending: None,
            future: BTreeMap::new(),
            equivocators: BTreeSet::new(),
            equivocations: 0,
            evidence: Vec::new(),
        }
    }

    /// Rebuilds validator `me`'s machine after a crash from its write-ahead log: the entries of
    /// every [`Output::Persist`] it emitted, in order, or any prefix of them (a crash can cut the log
    /// anywhere); entries of heights below the last [`WalEntry::StartHeight`] are skipped. The
    /// machine resumes at the log's last height and round, with its lock and valid value, and with
    /// its own messages of that height counted as if just sent: it never sends a different
    /// proposal or vote where it sent one, and its own votes still count in its tallies.
    ///
    /// Returns the machine and what the host must do to resume, in order: re-broadcast this node's
    /// own messages of the height (peers may have missed them; they are in the log already), then
    /// finish what the crash interrupted (the proposer's build request or re-proposal; the
    /// precommit that follows a lock) with what the rules then do on the node's own messages, and
    /// last schedule the timeout of the step it rests in. The crash lost the host's timers, so
    /// that timeout is scheduled even where the paper first waits for 2f+1 votes, which the node
    /// may have received before the crash: it leaves that step by the timeout even if those
    /// messages never come again. (A timeout is safe at any moment; only liveness depends on it.)
    /// An empty log gives an idle machine, as [`Consensus::new`] does.
    ///
    /// The log records no decisions: if the host committed the log's height (it crashed between
    /// the commit and the next height's entry), it sends [`Input::StartHeight`] of the next height
    /// right after recovery. Errors: a log that the machine cannot have written ([`WalError`]).
    pub fn recover(
        validators: ValidatorSet,
        me: ValidatorIndex,
        timeouts: TimeoutParams,
        wal: &[WalEntry],
    ) -> Result<(Self, Vec<Output>), WalError> {
        let mut machine = Self::new(validators, Some(me), timeouts);
        let Some(start) = wal.iter().rposition(|entry| matches!(entry, WalEntry::StartHeight(_))) else {
            if wal.is_empty() {
                return Ok((machine, Vec::new()));
            }
            return Err(WalError::NoStartHeight { entries: wal.len() });
        };
        let height = wal[start].height();
        if height == 0 {
            return Err(WalError::HeightZero { index: start });
        }
        for (index, entry) in wal.iter().enumerate() {
            let in_order = if index < start { entry.height() < height } else { entry.height() == height };
            if !in_order {
                return Err(WalError::WrongHeight { index, entry_height: entry.height(), height });
            }
        }
        machine.status = Status::Running;
        machine.height = height;
        let mut sent = Vec::new();
        for (index, entry) in wal.iter().enumerate().skip(start + 1) {
            machine.replay(index, entry, &mut sent)?;
        }
        let mut out = Vec::new();
        machine.resume(sent, &mut out);
        machine.assert_invariants();
        Ok((machine, out))
    }

    /// Applies one logged entry of the current height during recovery, after checking that the
    /// machine could have written it there. Own messages are recorded as [`Consensus::send`]
    /// records them and collected in `sent` for re-broadcast.
    fn replay(&mut self, index: usize, entry: &WalEntry, sent: &mut Vec<Message>) -> Result<(), WalError> {
        let me = self.me.expect("recovery is for validators");
        assert_eq!(self.status, Status::Running);
        assert_eq!(entry.height(), self.height);
        match entry {
            WalEntry::StartHeight(_) => unreachable!("recovery replays the entries after the last StartHeight"),
            WalEntry::StartRound { round, .. } => {
                if *round <= self.round || *round > ROUND_MAX {
                    return Err(WalError::RoundOrder { index, round: *round, current: self.round });
                }
                self.round = *round;
                self.step = Step::Propose;
            }
            WalEntry::Lock { round, value, polka, .. } => {
                self.check_replay_round(index, *round)?;
                if self.step != Step::Prevote {
                    return Err(WalError::OutOfStep {
                        index,
                        rule: "a lock comes after the prevote of its round and before the precommit",
                    });
                }
                self.replay_polka(index, *value, polka)?;
                self.locked = Some((*round, *value));
                self.valid = Some((*round, *value));
            }
            WalEntry::Valid { round, value, polka, .. } => {
                self.check_replay_round(index, *round)?;
                if self.step != Step::Precommit {
                    return Err(WalError::OutOfStep {
                        index,
                        rule: "a valid value without a lock comes after the precommit of its round",
                    });
                }
                self.replay_polka(index, *value, polka)?;
                self.valid = Some((*round, *value));
            }
            WalEntry::Sent(message) => {
                let round = message.round();
                self.check_replay_round(index, round)?;
                let state = self.rounds.get(&round);
                let earlier_same = match message {
                    Message::Proposal { value, valid_round, .. } => state
                        .and_then(|state| state.proposals.first())
                        .map(|proposal| proposal.value == *value && proposal.valid_round == *valid_round),
                    Message::Prevote { value, .. } => {
                        state.and_then(|state| state.prevotes.vote_of(me)).map(|earlier| earlier == *value)
                    }
                    Message::Precommit { value, .. } => {
                        state.and_then(|state| state.precommits.vote_of(me)).map(|earlier| earlier == *value)
                    }
                };
                match earlier_same {
                    // The same entry appended twice (a host retrying a write) adds nothing.
                    Some(true) => return Ok(()),
                    Some(false) => return Err(WalError::Conflicting { index, kind: message.kind(), round }),
                    None => {}
                }
                match message {
                    Message::Proposal { valid_round, .. } => {
                        let proposer = self.validators.proposer(self.height, round);
                        if proposer != me {
                            return Err(WalError::NotProposer { index, round, proposer });
                        }
                        if valid_round.is_some_and(|valid_round| valid_round >= round) {
                            return Err(WalError::OutOfStep {
                                index,
                                rule: "a proposal's valid round is below its round",
                            });
                        }
                    }
                    Message::Prevote { .. } => {
                        assert_eq!(self.step, Step::Propose, "no prevote in the round yet, so no precommit either");
                        self.step = Step::Prevote;
                    }
                    Message::Precommit { value, .. } => {
                        if self.step != Step::Prevote {
                            return Err(WalError::OutOfStep {
                                index,
                                rule: "a precommit follows the prevote of its round",
                            });
                        }
                        if value.is_some_and(|value| self.locked != Some((round, value))) {
                            return Err(WalError::OutOfStep {
                                index,
                                rule: "a precommit for a value follows the lock on it in its round",
                            });
                        }
                        self.step = Step::Precommit;
                    }
                }
                let counted = self.record(me, message.clone(), Some(true));
                assert!(counted, "an own message not seen before in the log is new");
                sent.push(message.clone());
            }
        }
        Ok(())
    }

    /// Records the logged polka's prevotes for `value` in the current round, as received: the
    /// evidence others need to accept this node's re-proposal of `value`. This node's own prevote
    /// is already recorded from its `Sent` entry, or it prevoted something else.
    fn replay_polka(&mut self, index: usize, value: B256, polka: &[ValidatorIndex]) -> Result<(), WalError> {
        let me = self.me.expect("recovery is for validators");
        let ascending = polka.windows(2).all(|pair| pair[0] < pair[1]);
        let known = polka.iter().all(|validator| self.validators.contains(*validator));
        if !ascending || !known {
            return Err(WalError::BadPolka { index, polka: polka.to_vec() });
        }
        let stake: u64 = polka.iter().map(|validator| self.validators.stake(*validator)).sum();
        if !self.validators.is_quorum(stake) {
            return Err(WalError::BadPolka { index, polka: polka.to_vec() });
        }
        let prevote = Message::Prevote { height: self.height, round: self.round, value: Some(value) };
        for validator in polka.iter().copied().filter(|validator| *validator != me) {
            self.record(validator, prevote.clone(), None);
        }
        let counted = self.rounds.get(&self.round).map_or(0, |state| state.prevotes.stake_for(Some(value)));
        if !self.validators.is_quorum(counted) {
            // Only this node's own prevote can be missing from the count, and it was for `value`.
            return Err(WalError::BadPolka { index, polka: polka.to_vec() });
        }
        Ok(())
    }

    fn check_replay_round(&self, index: usize, round: Round) -> Result<(), WalError> {
        if round == self.round { Ok(()) } else { Err(WalError::WrongRound { index, round, current: self.round }) }
    }

    /// The end of recovery: what the host must do to resume (see [`Consensus::recover`]).
    fn resume(&mut self, sent: Vec<Message>, out: &mut Vec<Output>) {
        let me = self.me.expect("recovery is for validators");
        assert_eq!(self.status, Status::Running);
        out.extend(sent.into_iter().map(Output::Broadcast));
        // The machine sets validValue in round r only on a polka of round r.
        self.polka_seen = self.valid.is_some_and(|(valid_round, _)| valid_round == self.round);

        let proposed = self.rounds.get(&self.round).is_some_and(|state| !state.proposals.is_empty());
        if self.validators.proposer(self.height, self.round) == me && !proposed {
            // As `start_round`, which the crash interrupted; or the block was still being built.
            match self.valid {
                Some((valid_round, value)) if valid_round < self.round && self.step == Step::Propose => {
                    let proposal = Message::Proposal {
                        height: self.height,
                        round: self.round,
                        value,
                        valid_round: Some(valid_round),
                    };
                    self.send(proposal, out);
                }
                _ => {
                    self.build_pending = Some(self.round);
                    out.push(Output::BuildProposal { height: self.height, round: self.round });
                }
            }
        }
        // A lock reached the log but its precommit may not have left: send it, as step 5 would.
        if self.step == Step::Prevote
            && let Some((locked_round, value)) = self.locked
            && locked_round == self.round
        {
            self.precommit(Some(value), out);
        }
        self.apply_rules(out);
        if self.status != Status::Running {
            return;
        }
        // The timeout of the step the node rests in, whatever the rules did above: it acts when
        // it fires unless messages move the node first.
        match self.step {
            Step::Propose => {}
            Step::Prevote => self.prevote_timeout_scheduled = true,
            Step::Precommit => self.precommit_timeout_scheduled = true,
        }
        self.schedule(self.step, out);
    }

    /// Advances the machine by one input and returns what the host must do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::StartHeight(height) => self.start_height(height, &mut out),
            Input::Message { from, message, proposal_valid } => {
                self.on_message(from, message, proposal_valid, &mut out);
            }
            Input::ProposalBuilt { height, round, value } => self.on_proposal_built(height, round, value, &mut out),
            Input::Timeout(timeout) => self.on_timeout(timeout, &mut out),
        }
        out.extend(self.evidence.drain(..).map(Output::Evidence));
        self.assert_invariants();
        out
    }

    /// Current height (0 before the first `StartHeight`).
    pub fn height(&self) -> Height {
        self.height
    }

    /// Current round.
    pub fn round(&self) -> Round {
        self.round
    }

    /// Current step.
    pub fn step(&self) -> Step {
        self.step
    }

    /// Life-cycle status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The lock `(lockedRound, lockedValue)`, if any.
    pub fn locked(&self) -> Option<(Round, B256)> {
        self.locked
    }

    /// The latest polka seen with its proposal `(validRound, validValue)`, if any: what this node
    /// re-proposes when it is the proposer.
    pub fn valid(&self) -> Option<(Round, B256)> {
        self.valid
    }

    /// Equivocations seen since creation: distinct `(height, round, message type, validator)` slots in
    /// which a validator sent two different messages. Only the first message of a slot counts.
    pub fn equivocations(&self) -> u64 {
        self.equivocations
    }

    /// The validator set.
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// This node's validator index, or `None` for an observer.
    pub fn me(&self) -> Option<ValidatorIndex> {
        self.me
    }

    fn start_height(&mut self, height: Height, out: &mut Vec<Output>) {
        assert!(height > self.height, "StartHeight({height}) at height {}: heights only increase", self.height);
        self.status = Status::Running;
        self.height = height;
        self.locked = None;
        self.valid = None;
        self.rounds.clear();
        self.equivocators.clear();
        self.persist(WalEntry::StartHeight(height), out);
        // Heights below `height` are past (block sync may have skipped some).
        let mut future = std::mem::take(&mut self.future).split_off(&height);
        let replay = future.remove(&height).unwrap_or_default();
        self.future = future;

        self.start_round(0, out);
        self.apply_rules(out);
        for Buffered { from, message, proposal_valid } in replay {
            self.on_message(from, message, proposal_valid, out);
        }
    }

    fn on_message(
        &mut self,
        from: ValidatorIndex,
        message: Message,
        proposal_valid: Option<bool>,
        out: &mut Vec<Output>,
    ) {
        assert!(
            self.validators.contains(from),
            "message from validator index {from}, outside the set of {}: map senders with ValidatorSet::index_of",
            self.validators.len()
        );
        // Own messages were counted when sent; a copy looped back by the host adds nothing.
        if Some(from) == self.me {
            return;
        }
        if message.height() > self.height {
            self.buffer(from, message, proposal_valid);
            return;
        }
        if message.height() < self.height || self.status != Status::Running {
            return;
        }
        if self.record(from, message, proposal_valid) {
            self.apply_rules(out);
        }
    }

    fn buffer(&mut self, from: ValidatorIndex, message: Message, proposal_valid: Option<bool>) {
        let height = message.height();
        assert!(height > self.height);
        if height > self.height.saturating_add(HEIGHTS_AHEAD_MAX) {
            return;
        }
        let buffered = self.future.entry(height).or_default();
        let mut from_count = 0;
        for entry in buffered.iter().filter(|entry| entry.from == from) {
            if entry.message == message {
                return;
            }
            from_count += 1;
        }
        if from_count >= FUTURE_MESSAGES_PER_VALIDATOR_MAX {
            return;
        }
        buffered.push(Buffered { from, message, proposal_valid });
        assert!(buffered.len() <= self.validators.len() * FUTURE_MESSAGES_PER_VALIDATOR_MAX);
    }

    /// Counts a message of the current height; returns whether anything changed. Messages dropped
    /// here (bounds, duplicates, equivocations, proposals from the wrong validator) are as if lost,
    /// which Tendermint's safety does not depend on.
    fn record(&mut self, from: ValidatorIndex, message: Message, proposal_valid: Option<bool>) -> bool {
        assert_eq!(message.height(), self.height);
        assert_eq!(self.status, Status::Running);
        let round = message.round();
        if round > ROUND_MAX {
            return false;
        }
        if round > self.round.saturating_add(1) && !self.may_store_catchup_round(from, round) {
            return false;
        }
        let kind = message.kind();
        let stake = self.validators.stake(from);
        // The sender's earlier message of this slot, for evidence if this one conflicts with it.
        let earlier = self.rounds.get(&round).and_then(|state| match message {
            Message::Proposal { .. } => state.proposals.first().map(|p| Message::Proposal {
                height: self.height,
                round,
                value: p.value,
                valid_round: p.valid_round,
            }),
            Message::Prevote { .. } => {
                state.prevotes.first_vote(from).map(|value| Message::Prevote { height: self.height, round, value })
            }
            Message::Precommit { .. } => {
                state.precommits.first_vote(from).map(|value| Message::Precommit { height: self.height, round, value })
            }
        });
        let recorded = match message {
            Message::Proposal { value, valid_round, .. } => {
                if from != self.validators.proposer(self.height, round) {
                    return false;
                }
                if valid_round.is_some_and(|valid_round| valid_round >= round) {
                    return false;
                }
                let Some(valid) = proposal_valid else {
                    return false;
                };
                let state = self.rounds.entry(round).or_default();
                let record = ProposalRecord { value, valid_round, valid };
                if state.proposals.iter().any(|existing| existing.value == value && existing.valid_round == valid_round)
                {
                    Recorded::Duplicate
                } else if state.proposals.is_empty() {
                    state.proposals.push(record);
                    Recorded::New
                } else {
                    // An equivocating proposer. The paper's rules match any proposal, so keep a few:
                    // the quorum may have decided one this node did not see first.
                    let kept = state.proposals.len() < PROPOSALS_PER_ROUND_MAX;
                    if kept {
                        state.proposals.push(record);
                    }
                    Recorded::Equivocation { kept }
                }
            }
            Message::Prevote { value, .. } => {
                let conflicting = self.rounds.get(&round).is_some_and(|state| state.prevotes.conflicts(from, value));
                let keep_conflicting = conflicting && self.prevote_matters(round, value);
                let tally = &mut self.rounds.entry(round).or_default().prevotes;
                tally.record(from, value, stake, keep_conflicting, VOTES_PER_VALIDATOR_PER_ROUND_MAX)
            }
            Message::Precommit { value, .. } => {
                let conflicting = self.rounds.get(&round).is_some_and(|state| state.precommits.conflicts(from, value));
                let keep_conflicting = conflicting && self.precommit_matters(round, value);
                let tally = &mut self.rounds.entry(round).or_default().precommits;
                tally.record(from, value, stake, keep_conflicting, VOTES_PER_VALIDATOR_PER_ROUND_MAX)
            }
        };
        match recorded {
            Recorded::New => {
                self.rounds.get_mut(&round).expect("the round's entry was created above").note_sender(from, stake);
                true
            }
            Recorded::Duplicate => false,
            Recorded::Equivocation { kept } => {
                if self.equivocators.insert((round, kind, from)) {
                    self.equivocations += 1;
                    let first = earlier.expect("an equivocation follows an earlier message of its slot");
                    self.evidence.push(Equivocation { validator: from, first, second: message });
                }
                kept
            }
        }
    }

    /// Whether a prevote for `value` in `round` can enable a rule through its value's count: nil
    /// (step 6), or the value of a proposal in `round` (step 5) or of a re-proposal with
    /// `vr = round` (step 3). A conflicting vote is kept only then, which bounds what a faulty
    /// validator can make this node store.
    fn prevote_matters(&self, round: Round, value: Option<B256>) -> bool {
        let Some(value) = value else {
            return true;
        };
        self.rounds.iter().any(|(proposal_round, state)| {
            state.proposals.iter().any(|proposal| {
                proposal.value == value && (*proposal_round == round || proposal.valid_round == Some(round))
            })
        })
    }

    /// Whether a precommit for `value` in `round` can enable a decision (step 8): the value of a
    /// proposal in `round`. Nil precommits only count toward the total.
    fn precommit_matters(&self, round: Round, value: Option<B256>) -> bool {
        value.is_some_and(|value| {
            self.rounds.get(&round).is_some_and(|state| state.proposals.iter().any(|proposal| proposal.value == value))
        })
    }

    /// Whether `from` may have a message stored in `round` (above `round_p + 1`): it already has one
    /// there, or it has fewer than [`CATCHUP_ROUNDS_PER_VALIDATOR_MAX`] such rounds.
    fn may_store_catchup_round(&self, from: ValidatorIndex, round: Round) -> bool {
        let mut opened = 0;
        for (stored_round, state) in self.rounds.range(self.round.saturating_add(2)..) {
            if state.has_sender(from) {
                if *stored_round == round {
                    return true;
                }
                opened += 1;
            }
        }
        opened < CATCHUP_ROUNDS_PER_VALIDATOR_MAX
    }

    fn on_proposal_built(&mut self, height: Height, round: Round, value: B256, out: &mut Vec<Output>) {
        // A late answer (the round or height moved on) is dropped: that round has another proposer
        // or is over.
        if self.status != Status::Running || height != self.height || self.build_pending != Some(round) {
            return;
        }
        assert_eq!(round, self.round, "start_round clears build_pending");
        self.build_pending = None;
        // Broadcast even if the propose timeout already fired: others may still be waiting.
        self.send(Message::Proposal { height, round, value, valid_round: None }, out);
        self.apply_rules(out);
    }

    /// Step 10: OnTimeoutPropose, OnTimeoutPrevote, OnTimeoutPrecommit (lines 57-65).
    fn on_timeout(&mut self, timeout: Timeout, out: &mut Vec<Output>) {
        if self.status != Status::Running || timeout.height != self.height || timeout.round != self.round {
            return;
        }
        match timeout.step {
            Step::Propose => {
                if self.step == Step::Propose {
                    self.prevote(None, out);
                }
            }
            Step::Prevote => {
                if self.step == Step::Prevote {
                    self.precommit(None, out);
                }
            }
            Step::Precommit => {
                if self.round < ROUND_MAX {
                    self.start_round(self.round + 1, out);
                }
            }
        }
        self.apply_rules(out);
    }

    /// Step 1: StartRound (lines 11-21). The proposer re-proposes validValue if it has one and
    /// otherwise asks the host for a block; everyone else schedules the propose timeout. Unlike the
    /// paper, the proposer also schedules it while the host builds, since building is asynchronous.
    fn start_round(&mut self, round: Round, out: &mut Vec<Output>) {
        assert!(round <= ROUND_MAX);
        assert!(round > self.round || (round == 0 && self.rounds.is_empty()), "rounds only increase");
        self.round = round;
        self.step = Step::Propose;
        self.prevote_timeout_scheduled = false;
        self.polka_seen = false;
        self.precommit_timeout_scheduled = false;
        self.build_pending = None;
        // Round 0 is implied by the height's entry.
        if round > 0 {
            self.persist(WalEntry::StartRound { height: self.height, round }, out);
        }

        let proposer = self.validators.proposer(self.height, round);
        if self.me != Some(proposer) {
            self.schedule(Step::Propose, out);
            return;
        }
        match self.valid {
            Some((valid_round, value)) => {
                assert!(valid_round < round);
                let proposal = Message::Proposal { height: self.height, round, value, valid_round: Some(valid_round) };
                self.send(proposal, out);
            }
            None => {
                self.build_pending = Some(round);
                out.push(Output::BuildProposal { height: self.height, round });
                self.schedule(Step::Propose, out);
            }
        }
    }

    /// Evaluates the `upon` rules until none fires. The paper lets any enabled rule fire; deciding
    /// is tried first, then the round skip, then the rules of the current round in line order.
    fn apply_rules(&mut self, out: &mut Vec<Output>) {
        for _ in 0..RULE_FIRINGS_PER_INPUT_MAX {
            if self.status != Status::Running {
                return;
            }
            let fired = self.rule_decide(out)
                || self.rule_skip_round(out)
                || self.rule_prevote_proposal(out)
                || self.rule_prevote_timeout(out)
                || self.rule_polka(out)
                || self.rule_polka_nil(out)
                || self.rule_precommit_timeout(out);
            if !fired {
                return;
            }
        }
        panic!(
            "more than {RULE_FIRINGS_PER_INPUT_MAX} rule firings for one input: a rule fires without changing state"
        );
    }

    /// Step 8 (lines 49-54): a valid proposal for v in any round r and 2f+1 precommits for v in r
    /// decide v. The host starts the next height.
    fn rule_decide(&mut self, out: &mut Vec<Output>) -> bool {
        let decision = self.rounds.iter().find_map(|(round, state)| {
            let proposal = state.proposals.iter().find(|proposal| {
                proposal.valid && self.validators.is_quorum(state.precommits.stake_for(Some(proposal.value)))
            })?;
            Some((*round, proposal.value))
        });
        let Some((round, value)) = decision else {
            return false;
        };
        let certificate = self.rounds[&round].precommits.voters_for(Some(value));
        let certificate_stake: u64 = certificate.iter().map(|validator| self.validators.stake(*validator)).sum();
        assert!(self.validators.is_quorum(certificate_stake));
        out.push(Output::Decide { height: self.height, round, value, certificate });
        self.status = Status::Decided;
        self.build_pending = None;
        // Messages of a decided height are ignored from now on.
        self.rounds.clear();
        true
    }

    /// Step 9 (lines 55-56): f+1 stake sent messages in a round above ours: jump there. Of several
    /// such rounds the highest is taken (the paper allows any).
    fn rule_skip_round(&mut self, out: &mut Vec<Output>) -> bool {
        let target = self
            .rounds
            .range(self.round.saturating_add(1)..)
            .rev()
            .find(|(_, state)| self.validators.is_one_third(state.senders_stake()))
            .map(|(round, _)| *round);
        let Some(round) = target else {
            return false;
        };
        self.start_round(round, out);
        true
    }

    /// Steps 2 and 3 (lines 22-33): prevote on the round's proposal, in step propose. Of several
    /// proposals (an equivocating proposer), the first one that enables a rule is taken.
    fn rule_prevote_proposal(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step != Step::Propose {
            return false;
        }
        let Some(state) = self.rounds.get(&self.round) else {
            return false;
        };
        let enabled = state.proposals.iter().find_map(|proposal| match proposal.valid_round {
            // Lines 22-27: a fresh value is acceptable unless locked on another value.
            None => {
                let accept =
                    proposal.valid && self.locked.is_none_or(|(_, locked_value)| locked_value == proposal.value);
                Some(accept.then_some(proposal.value))
            }
            // Lines 28-33: a re-proposal needs its polka in round vr; a polka at or after the lock
            // releases the lock.
            Some(valid_round) => {
                assert!(valid_round < self.round, "record drops proposals with vr >= r");
                let polka = self
                    .rounds
                    .get(&valid_round)
                    .is_some_and(|state| self.validators.is_quorum(state.prevotes.stake_for(Some(proposal.value))));
                let accept = proposal.valid
                    && self.locked.is_none_or(|(locked_round, locked_value)| {
                        locked_round <= valid_round || locked_value == proposal.value
                    });
                polka.then_some(accept.then_some(proposal.value))
            }
        });
        let Some(vote) = enabled else {
            return false;
        };
        self.prevote(vote, out);
        true
    }

    /// Step 4 (lines 34-35): 2f+1 prevotes of any kind in step prevote, the first time: schedule
    /// the prevote timeout.
    fn rule_prevote_timeout(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step != Step::Prevote || self.prevote_timeout_scheduled {
            return false;
        }
        let Some(state) = self.rounds.get(&self.round) else {
            return false;
        };
        if !self.validators.is_quorum(state.prevotes.stake_total()) {
            return false;
        }
        self.prevote_timeout_scheduled = true;
        self.schedule(Step::Prevote, out);
        true
    }

    /// Step 5 (lines 36-43): the round's valid proposal and 2f+1 prevotes for it (a polka), in step
    /// prevote or later, the first time: lock and precommit it if still in step prevote; remember it
    /// as validValue in any case.
    fn rule_polka(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step < Step::Prevote || self.polka_seen {
            return false;
        }
        let Some(state) = self.rounds.get(&self.round) else {
            return false;
        };
        let polka = state.proposals.iter().find(|proposal| {
            proposal.valid && self.validators.is_quorum(state.prevotes.stake_for(Some(proposal.value)))
        });
        let Some(proposal) = polka.copied() else {
            return false;
        };
        let polka = state.prevotes.voters_for(Some(proposal.value));
        let (height, round, value) = (self.height, self.round, proposal.value);
        self.polka_seen = true;
        self.valid = Some((round, value));
        if self.step == Step::Prevote {
            // The lock (which implies the valid value) is on disk before the precommit leaves: a
            // restarted node must not prevote against it in a later round.
            self.locked = Some((round, value));
            self.persist(WalEntry::Lock { height, round, value, polka }, out);
            self.precommit(Some(value), out);
        } else {
            self.persist(WalEntry::Valid { height, round, value, polka }, out);
        }
        true
    }

    /// Step 6 (lines 44-46): 2f+1 prevotes for nil in step prevote: precommit nil.
    fn rule_polka_nil(&mut self, out: &mut Vec<Output>) -> bool {
        if self.step != Step::Prevote {
            return false;
        }
        let Some(state) = self.rounds.get(&self.round) else {
            return false;
        };
        if !self.validators.is_quorum(state.prevotes.stake_for(None)) {
            return false;
        }
        self.precommit(None, out);
        true
    }

    /// Step 7 (lines 47-48): 2f+1 precommits of any kind, the first time in this round: schedule the
    /// precommit timeout.
    fn rule_precommit_timeout(&mut self, out: &mut Vec<Output>) -> bool {
        if self.precommit_timeout_scheduled {
            return false;
        }
        let Some(state) = self.rounds.get(&self.round) else {
            return false;
        };
        if !self.validators.is_quorum(state.precommits.stake_total()) {
            return false;
        }
        self.precommit_timeout_scheduled = true;
        self.schedule(Step::Precommit, out);
        true
    }

    fn prevote(&mut self, value: Option<B256>, out: &mut Vec<Output>) {
        assert_eq!(self.step, Step::Propose);
        self.step = Step::Prevote;
        if self.me.is_some() {
            self.send(Message::Prevote { height: self.height, round: self.round, value }, out);
        }
    }

    fn precommit(&mut self, value: Option<B256>, out: &mut Vec<Output>) {
        assert_eq!(self.step, Step::Prevote);
        self.step = Step::Precommit;
        if self.me.is_some() {
            self.send(Message::Precommit { height: self.height, round: self.round, value }, out);
        }
    }

    /// Counts one of this node's own messages and broadcasts it.
    fn send(&mut self, message: Message, out: &mut Vec<Output>) {
        let me = self.me.expect("only validators send messages");
        assert_eq!(self.status, Status::Running);
        assert_eq!(message.height(), self.height);
        assert_eq!(message.round(), self.round, "a node only sends in its current round");
        let state = self.rounds.get(&self.round);
        match &message {
            Message::Proposal { .. } => {
                assert_eq!(me, self.validators.proposer(self.height, self.round));
                assert!(state.is_none_or(|state| state.proposals.is_empty()), "never propose twice in one round");
            }
            Message::Prevote { .. } => {
                assert!(
                    state.is_none_or(|state| state.prevotes.vote_of(me).is_none()),
                    "never prevote twice in one round"
                );
            }
            Message::Precommit { value, .. } => {
                assert!(
                    state.is_none_or(|state| state.precommits.vote_of(me).is_none()),
                    "never precommit twice in one round"
                );
                if let Some(value) = value {
                    assert_eq!(self.locked, Some((self.round, *value)), "precommitting a value locks it first");
                }
            }
        }
        let counted = self.record(me, message.clone(), Some(true));
        assert!(counted, "an own message is always new");
        self.persist(WalEntry::Sent(message.clone()), out);
        out.push(Output::Broadcast(message));
    }

    /// Asks the host to append `entry` to the write-ahead log. Observers send nothing, so they
    /// have nothing to remember.
    fn persist(&self, entry: WalEntry, out: &mut Vec<Output>) {
        if self.me.is_none() {
            return;
        }
        assert_eq!(entry.height(), self.height);
        out.push(Output::Persist(entry));
    }

    fn schedule(&self, step: Step, out: &mut Vec<Output>) {
        // Observers never vote, so they need no timeouts.
        if self.me.is_none() {
            return;
        }
        let timeout = Timeout { height: self.height, round: self.round, step };
        out.push(Output::ScheduleTimeout { timeout, after_ms: self.timeouts.duration_ms(step, self.round) });
    }

    fn assert_invariants(&self) {
        assert!(self.round <= ROUND_MAX);
        if let Some((locked_round, _)) = self.locked {
            assert!(locked_round <= self.round);
            let (valid_round, _) = self.valid.expect("locking also sets validValue");
            assert!(valid_round >= locked_round);
        }
        if let Some((valid_round, _)) = self.valid {
            assert!(valid_round <= self.round);
        }
        if let Some(round) = self.build_pending {
            assert_eq!(self.status, Status::Running);
            assert_eq!(round, self.round);
            assert_eq!(self.me, Some(self.validators.proposer(self.height, round)));
        }
        match self.status {
            Status::Idle => {
                assert_eq!(self.height, 0);
                assert!(self.rounds.is_empty());
            }
            Status::Decided => assert!(self.rounds.is_empty()),
            Status::Running => {
                assert!(self.height > 0);
                // The step matches this node's own votes in the current round.
                if let Some(me) = self.me {
                    let state = self.rounds.get(&self.round);
                    let prevoted = state.is_some_and(|state| state.prevotes.vote_of(me).is_some());
                    let precommitted = state.is_some_and(|state| state.precommits.vote_of(me).is_some());
                    assert_eq!(prevoted, self.step >= Step::Prevote);
                    assert_eq!(precommitted, self.step == Step::Precommit);
                }
            }
        }
        if let Some((lowest, _)) = self.future.first_key_value() {
            assert!(*lowest > self.height);
        }
        if let Some((highest, _)) = self.future.last_key_value() {
            assert!(*highest <= self.height.saturating_add(HEIGHTS_AHEAD_MAX));
        }
    }
}
