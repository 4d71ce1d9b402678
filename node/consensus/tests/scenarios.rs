//! Hand-built message sequences for one node, checking each rule of the algorithm where it is
//! easiest to see: locking and unlocking, equivocation, the round skip and its bounds, buffering
//! of future heights, re-proposals, the proposer's build request, observers and stale inputs;
//! then the write-ahead log and recovery from it at each step.
//!
//! Unless stated otherwise the set is four validators of stake 1 (a quorum is 3, "f+1" is 2) and
//! the node under test is validator 0. At height 1 the proposer of round r is `(1 + r) mod 4`.

mod support;

use alloy::primitives::B256;
use support::{check_recovered, validator_set};
use zkcrowd_consensus::{
    Consensus, Equivocation, Height, Input, Message, MessageKind, Output, Round, Status, Step, Timeout, TimeoutParams,
    ValidatorIndex, WalEntry, WalError,
};

fn value(byte: u8) -> B256 {
    B256::repeat_byte(byte)
}

fn node(me: Option<ValidatorIndex>, stakes: &[u64]) -> Consensus {
    Consensus::new(validator_set(stakes), me, TimeoutParams::default())
}

fn proposal(height: Height, round: Round, value: B256, valid_round: Option<Round>) -> Message {
    Message::Proposal { height, round, value, valid_round }
}

fn prevote(height: Height, round: Round, value: Option<B256>) -> Message {
    Message::Prevote { height, round, value }
}

fn precommit(height: Height, round: Round, value: Option<B256>) -> Message {
    Message::Precommit { height, round, value }
}

/// Delivers `message` from `from`; proposals are judged valid.
fn deliver(machine: &mut Consensus, from: ValidatorIndex, message: Message) -> Vec<Output> {
    let proposal_valid = matches!(message, Message::Proposal { .. }).then_some(true);
    machine.handle(Input::Message { from, message, proposal_valid })
}

fn deliver_invalid(machine: &mut Consensus, from: ValidatorIndex, message: Message) -> Vec<Output> {
    machine.handle(Input::Message { from, message, proposal_valid: Some(false) })
}

fn broadcasts(outputs: &[Output]) -> Vec<Message> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Broadcast(message) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn scheduled(outputs: &[Output]) -> Vec<Timeout> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::ScheduleTimeout { timeout, .. } => Some(*timeout),
            _ => None,
        })
        .collect()
}

fn timeout(height: Height, round: Round, step: Step) -> Timeout {
    Timeout { height, round, step }
}

/// The write-ahead log entries among `outputs`, in order.
fn persisted(outputs: &[Output]) -> Vec<WalEntry> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Persist(entry) => Some(entry.clone()),
            _ => None,
        })
        .collect()
}

/// Validator `me` of four of stake 1, recovered from `log` and checked against it.
fn recovered(me: ValidatorIndex, log: &[WalEntry]) -> (Consensus, Vec<Output>) {
    let (machine, outputs) =
        Consensus::recover(validator_set(&[1, 1, 1, 1]), me, TimeoutParams::default(), log).expect("a valid log");
    check_recovered(&machine, &outputs, log);
    (machine, outputs)
}

/// Validator 0 locks `value(0xaa)` in round 0 of height 1 (proposal from validator 1, prevotes from
/// 1 and 2), sees 2f+1 precommits without a decision (1 and 2 precommit nil), and moves to round 1
/// by the precommit timeout. Each step's outputs are checked on the way.
fn locked_in_round_zero() -> Consensus {
    locked_in_round_zero_logged().0
}

/// [`locked_in_round_zero`] with the write-ahead log it wrote, whose entries are checked too:
/// `[StartHeight(1), Sent(prevote v), Lock(0, v), Sent(precommit v), StartRound(1)]`.
fn locked_in_round_zero_logged() -> (Consensus, Vec<WalEntry>) {
    let v = value(0xaa);
    let mut machine = node(Some(0), &[1, 1, 1, 1]);
    let mut log = Vec::new();
    let outputs = machine.handle(Input::StartHeight(1));
    log.extend(persisted(&outputs));
    assert_eq!(
        outputs,
        vec![
            Output::Persist(WalEntry::StartHeight(1)),
            Output::ScheduleTimeout { timeout: timeout(1, 0, Step::Propose), after_ms: 3000 },
        ]
    );
    let outputs = deliver(&mut machine, 1, proposal(1, 0, v, None));
    log.extend(persisted(&outputs));
    assert_eq!(
        outputs,
        vec![Output::Persist(WalEntry::Sent(prevote(1, 0, Some(v)))), Output::Broadcast(prevote(1, 0, Some(v)))],
        "the log holds the prevote before it leaves"
    );
    assert!(deliver(&mut machine, 1, prevote(1, 0, Some(v))).is_empty());
    let outputs = deliver(&mut machine, 2, prevote(1, 0, Some(v)));
    log.extend(persisted(&outputs));
    assert_eq!(broadcasts(&outputs), vec![precommit(1, 0, Some(v))], "a polka locks and precommits");
    assert_eq!(scheduled(&outputs), vec![timeout(1, 0, Step::Prevote)]);
    assert_eq!(
        outputs[1..],
        [
            Output::Persist(WalEntry::Lock { height: 1, round: 0, value: v, polka: vec![0, 1, 2] }),
            Output::Persist(WalEntry::Sent(precommit(1, 0, Some(v)))),
            Output::Broadcast(precommit(1, 0, Some(v))),
        ],
        "the lock and the precommit are logged before the precommit leaves"
    );
    assert_eq!(machine.locked(), Some((0, v)));
    assert_eq!(machine.valid(), Some((0, v)));

    assert!(deliver(&mut machine, 1, precommit(1, 0, None)).is_empty());
    let outputs = deliver(&mut machine, 2, precommit(1, 0, None));
    assert_eq!(scheduled(&outputs), vec![timeout(1, 0, Step::Precommit)]);
    let outputs = machine.handle(Input::Timeout(timeout(1, 0, Step::Precommit)));
    log.extend(persisted(&outputs));
    assert_eq!(
        outputs,
        vec![
            Output::Persist(WalEntry::StartRound { height: 1, round: 1 }),
            Output::ScheduleTimeout { timeout: timeout(1, 1, Step::Propose), after_ms: 3500 },
        ]
    );
    assert_eq!((machine.round(), machine.step()), (1, Step::Propose));
    assert_eq!(machine.locked(), Some((0, v)), "a new round keeps the lock");
    assert_eq!(
        log,
        vec![
            WalEntry::StartHeight(1),
            WalEntry::Sent(prevote(1, 0, Some(v))),
            WalEntry::Lock { height: 1, round: 0, value: v, polka: vec![0, 1, 2] },
            WalEntry::Sent(precommit(1, 0, Some(v))),
            WalEntry::StartRound { height: 1, round: 1 },
        ]
    );
    (machine, log)
}

/// Locking, method as the brief asks: a node locked on v in round 0 is offered a fresh v' in
/// round 1, for which no polka exists at or after its lock, and prevotes nil.
#[test]
fn locked_node_prevotes_nil_for_another_fresh_value() {
    let mut machine = locked_in_round_zero();
    let outputs = deliver(&mut machine, 2, proposal(1, 1, value(0xbb), None));
    assert_eq!(broadcasts(&outputs), vec![prevote(1, 1, None)]);
    assert_eq!(machine.locked(), Some((0, value(0xaa))));
}

/// A re-proposal of v' claiming a polka in round 0 that this node never saw does not move it (step
/// 3 waits for the polka); the propose timeout then makes it prevote nil. Method: deliver the
/// proposal and a lone prevote for v', then fire the timeout.
#[test]
fn locked_node_ignores_a_reproposal_without_its_polka() {
    let mut machine = locked_in_round_zero();
    let w = value(0xbb);
    assert!(deliver(&mut machine, 2, proposal(1, 1, w, Some(0))).is_empty());
    assert!(deliver(&mut machine, 3, prevote(1, 0, Some(w))).is_empty());
    assert_eq!(machine.step(), Step::Propose);
    let outputs = machine.handle(Input::Timeout(timeout(1, 1, Step::Propose)));
    assert_eq!(broadcasts(&outputs), vec![prevote(1, 1, None)]);
}

/// A locked node prevotes its locked value when it is proposed again, fresh or as a re-proposal
/// backed by the round-0 polka. Method: two copies of the locked node, one proposal each.
#[test]
fn locked_node_prevotes_its_locked_value() {
    let v = value(0xaa);
    let mut fresh = locked_in_round_zero();
    assert_eq!(broadcasts(&deliver(&mut fresh, 2, proposal(1, 1, v, None))), vec![prevote(1, 1, Some(v))]);
    let mut reproposed = locked_in_round_zero();
    assert_eq!(broadcasts(&deliver(&mut reproposed, 2, proposal(1, 1, v, Some(0)))), vec![prevote(1, 1, Some(v))]);
}

/// Unlocking: a proposal with valid_round 1 ≥ lockedRound 0 and 2f+1 prevotes in round 1 lets the
/// node locked on v prevote v', and the round-2 polka then re-locks it on v'. Method: the locked
/// node prevotes nil on v' in round 1 (missing that round's polka), skips to round 2 on f+1
/// round-2 messages, receives the re-proposal, and only prevotes v' once the round-1 prevotes
/// arrive.
#[test]
fn newer_polka_releases_the_lock() {
    let mut machine = locked_in_round_zero();
    let w = value(0xbb);
    assert_eq!(broadcasts(&deliver(&mut machine, 2, proposal(1, 1, w, None))), vec![prevote(1, 1, None)]);

    // Round 2 is validator 3's. Its proposal alone is a quarter of the stake: no skip yet.
    assert!(deliver(&mut machine, 3, proposal(1, 2, w, Some(1))).is_empty());
    assert_eq!(machine.round(), 1);
    let outputs = deliver(&mut machine, 1, prevote(1, 2, None));
    assert_eq!(machine.round(), 2, "f+1 stake in round 2: skip");
    assert_eq!(
        outputs,
        vec![
            Output::Persist(WalEntry::StartRound { height: 1, round: 2 }),
            Output::ScheduleTimeout { timeout: timeout(1, 2, Step::Propose), after_ms: 4000 },
        ]
    );

    assert!(deliver(&mut machine, 1, prevote(1, 1, Some(w))).is_empty());
    assert!(deliver(&mut machine, 2, prevote(1, 1, Some(w))).is_empty());
    let outputs = deliver(&mut machine, 3, prevote(1, 1, Some(w)));
    assert_eq!(broadcasts(&outputs), vec![prevote(1, 2, Some(w))], "the round-1 polka for v' unlocks");
    assert_eq!(machine.locked(), Some((0, value(0xaa))), "prevoting v' does not move the lock yet");

    assert!(broadcasts(&deliver(&mut machine, 2, prevote(1, 2, Some(w)))).is_empty());
    let outputs = deliver(&mut machine, 3, prevote(1, 2, Some(w)));
    assert_eq!(broadcasts(&outputs), vec![precommit(1, 2, Some(w))]);
    assert_eq!(machine.locked(), Some((2, w)));
    assert_eq!(machine.valid(), Some((2, w)));
}

/// An invalid block gets a nil prevote and never locks even with a polka: method, deliver an
/// invalid proposal and three prevotes for it, then fire the prevote timeout.
#[test]
fn invalid_proposal_gets_nil_and_never_locks() {
    let v = value(0xaa);
    let mut machine = node(Some(0), &[1, 1, 1, 1]);
    machine.handle(Input::StartHeight(1));
    assert_eq!(broadcasts(&deliver_invalid(&mut machine, 1, proposal(1, 0, v, None))), vec![prevote(1, 0, None)]);
    for from in 1..=3 {
        assert!(broadcasts(&deliver(&mut machine, from, prevote(1, 0, Some(v)))).is_empty());
    }
    assert_eq!(machine.locked(), None);
    let outputs = machine.handle(Input::Timeout(timeout(1, 0, Step::Prevote)));
    assert_eq!(broadcasts(&outputs), vec![precommit(1, 0, None)]);
    assert_eq!(machine.valid(), None);
}

/// Equivocation is counted once per (round, type, validator) and never double-counted: duplicates
/// change nothing, a conflicting vote does not add its sender's stake to the "any" total again,
/// and quorums form only from distinct validators. Method: validator 1 sends duplicate and
/// conflicting prevotes, proposals and precommits; outputs and the counter are checked after each.
#[test]
fn equivocation_is_counted_and_not_double_counted() {
    let (v, w) = (value(0xaa), value(0xbb));
    let mut machine = node(Some(0), &[1, 1, 1, 1]);
    machine.handle(Input::StartHeight(1));
    deliver(&mut machine, 1, proposal(1, 0, v, None));

    assert!(deliver(&mut machine, 1, prevote(1, 0, Some(v))).is_empty());
    assert!(deliver(&mut machine, 1, prevote(1, 0, Some(v))).is_empty(), "a duplicate");
    assert_eq!(machine.equivocations(), 0);
    let evidence =
        Output::Evidence(Equivocation { validator: 1, first: prevote(1, 0, Some(v)), second: prevote(1, 0, Some(w)) });
    assert_eq!(deliver(&mut machine, 1, prevote(1, 0, Some(w))), vec![evidence], "the two signed votes are evidence");
    assert_eq!(machine.equivocations(), 1);
    // Had validator 1 counted twice, three prevotes "of any kind" would schedule the timeout.
    assert!(deliver(&mut machine, 1, prevote(1, 0, None)).is_empty());
    assert_eq!(machine.equivocations(), 1, "one slot, counted once");

    let evidence = Output::Evidence(Equivocation {
        validator: 1,
        first: proposal(1, 0, v, None),
        second: proposal(1, 0, w, None),
    });
    assert_eq!(deliver(&mut machine, 1, proposal(1, 0, w, None)), vec![evidence]);
    assert_eq!(machine.equivocations(), 2, "a second proposal from the proposer");

    let outputs = deliver(&mut machine, 2, prevote(1, 0, Some(v)));
    assert_eq!(broadcasts(&outputs), vec![precommit(1, 0, Some(v))], "0, 1 and 2 form the polka");

    assert!(deliver(&mut machine, 1, precommit(1, 0, Some(v))).is_empty());
    let outputs = deliver(&mut machine, 1, precommit(1, 0, None));
    assert!(
        matches!(&outputs[..], [Output::Evidence(e)] if e.validator == 1 && e.second == precommit(1, 0, None)),
        "no 2f+1 precommits of any kind, only evidence: {outputs:?}"
    );
    assert_eq!(machine.equivocations(), 3);
    let outputs = deliver(&mut machine, 3, precommit(1, 0, Some(v)));
    assert_eq!(outputs.last(), Some(&Output::Decide { height: 1, round: 0, value: v, certificate: vec![0, 1, 3] }));
}

/// A heavy equivocator cannot reach a threshold alone by voting both ways. Stakes 1, 3, 1, 1
/// (quorum 5): validator 1's prevotes for v and nil each count toward their own value only, so
/// neither reaches a quorum and the total stays 4. Method: check no output follows either vote.
#[test]
fn heavy_equivocator_counts_once_toward_the_total() {
    let v = value(0xaa);
    let mut machine = node(Some(0), &[1, 3, 1, 1]);
    machine.handle(Input::StartHeight(1));
    assert_eq!(broadcasts(&deliver(&mut machine, 1, proposal(1, 0, v, None))), vec![prevote(1, 0, Some(v))]);
    assert!(deliver(&mut machine, 1, prevote(1, 0, Some(v))).is_empty());
    let outputs = deliver(&mut machine, 1, prevote(1, 0, None));
    assert!(matches!(&outputs[..], [Output::Evidence(_)]), "only evidence: {outputs:?}");
    assert_eq!(machine.step(), Step::Prevote);
    let outputs = deliver(&mut machine, 2, prevote(1, 0, None));
    assert_eq!(scheduled(&outputs), vec![timeout(1, 0, Step::Prevote)], "0, 1 and 2 are 5 of 6");
    assert!(broadcasts(&outputs).is_empty(), "v has 4, nil has 4: no polka");
}

/// A faulty validator that precommitted something else to this node first, and the decided value
/// to the others, still completes this node's commit once its other precommit is relayed: the
/// conflicting vote counts toward the proposed value. Method: precommit W then V from validator 3.
#[test]
fn conflicting_precommit_for_the_proposed_value_completes_the_commit() {
    let (v, w) = (value(0xaa), value(0xbb));
    let mut machine = node(Some(0), &[1, 1, 1, 1]);
    machine.handle(Input::StartHeight(1));
    deliver(&mut machine, 1, proposal(1, 0, v, None));
    deliver(&mut machine, 1, prevote(1, 0, Some(v)));
    deliver(&mut machine, 2, prevote(1, 0, Some(v)));
    assert!(deliver(&mut machine, 1, precommit(1, 0, Some(v))).is_empty());
    assert_eq!(scheduled(&deliver(&mut machine, 3, precommit(1, 0, Some(w)))), vec![timeout(1, 0, Step::Precommit)]);
    let outputs = deliver(&mut machine, 3, precommit(1, 0, Some(v)));
    let evidence = Output::Evidence(Equivocation {
        validator: 3,
        first: precommit(1, 0, Some(w)),
        second: precommit(1, 0, Some(v)),
    });
    assert_eq!(outputs, vec![Output::Decide { height: 1, round: 0, value: v, certificate: vec![0, 1, 3] }, evidence]);
    assert_eq!(machine.equivocations(), 1);
}

/// Step 8 decides in any round, not only the current one: method, the node moves to round 1
/// before the round-0 precommits of the others arrive, and decides round 0's value then.
#[test]
fn decides_on_precommits_of_an_earlier_round() {
    let v = value(0xaa);
    let mut machine = node(Some(0), &[1, 1, 1, 1]);
    machine.handle(Input::StartHeight(1));
    deliver(&mut machine, 1, proposal(1, 0, v, None));
    deliver(&mut machine, 1, prevote(1, 0, Some(v)));
    deliver(&mut machine, 2, prevote(1, 0, Some(v)));
    deliver(&mut machine, 2, prevote(1, 1, None));
    deliver(&mut machine, 3, prevote(1, 1, None));
    assert_eq!(machine.round(), 1);
    assert!(deliver(&mut machine, 1, precommit(1, 0, Some(v))).is_empty());
    let outputs = deliver(&mut machine, 2, precommit(1, 0, Some(v)));
    assert_eq!(outputs, vec![Output::Decide { height: 1, round: 0, value: v, certificate: vec![0, 1, 2] }]);
    assert_eq!(machine.status(), Status::Decided);
    assert!(deliver(&mut machine, 3, precommit(1, 0, Some(v))).is_empty(), "a decided height is over");
    assert!(machine.handle(Input::Timeout(timeout(1, 1, Step::Propose))).is_empty());
}

/// A proposer holding a validValue re-proposes it with its valid round instead of asking for a new
/// block, and prevotes it on the strength of its own polka. Method: lock v in round 0, skip to
/// round 3 (this node's turn) on f+1 round-3 messages.
#[test]
fn proposer_reproposes_its_valid_value() {
    let v = value(0xaa);
    let mut machine = node(Some(0), &[1, 1, 1, 1]);
    machine.handle(Input::StartHeight(1));
    deliver(&mut machine, 1, proposal(1, 0, v, None));
    deliver(&mut machine, 1, prevote(1, 0, Some(v)));
    deliver(&mut machine, 2, prevote(1, 0, Some(v)));
    assert_eq!(machine.valid(), Some((0, v)));
    assert!(deliver(&mut machine, 1, prevote(1, 3, None)).is_empty());
    let outputs = deliver(&mut machine, 2, prevote(1, 3, None));
    assert_eq!(machine.round(), 3);
    assert!(!outputs.iter().any(|output| matches!(output, Output::BuildProposal { .. })));
    assert_eq!(broadcasts(&outputs), vec![proposal(1, 3, v, Some(0)), prevote(1, 3, Some(v))]);
}

/// The proposer asks the host to build and also schedules the propose timeout; answers for
/// another round are ignored; a block built after that timeout is still broadcast in its round,
/// once; and an answer arriving after the round moved on is dropped. Method: validator 1 at height 1.
#[test]
fn proposer_build_request_and_late_answers() {
    let v = value(0xaa);
    let mut machine = node(Some(1), &[1, 1, 1, 1]);
    let outputs = machine.handle(Input::StartHeight(1));
    assert_eq!(
        outputs,
        vec![
            Output::Persist(WalEntry::StartHeight(1)),
            Output::BuildProposal { height: 1, round: 0 },
            Output::ScheduleTimeout { timeout: timeout(1, 0, Step::Propose), after_ms: 3000 },
        ]
    );
    assert!(machine.handle(Input::ProposalBuilt { height: 1, round: 1, value: v }).is_empty());
    let outputs = machine.handle(Input::Timeout(timeout(1, 0, Step::Propose)));
    assert_eq!(broadcasts(&outputs), vec![prevote(1, 0, None)]);
    let outputs = machine.handle(Input::ProposalBuilt { height: 1, round: 0, value: v });
    assert_eq!(
        outputs,
        vec![Output::Persist(WalEntry::Sent(proposal(1, 0, v, None))), Output::Broadcast(proposal(1, 0, v, None))]
    );
    assert!(machine.handle(Input::ProposalBuilt { height: 1, round: 0, value: v }).is_empty());

    let mut machine = node(Some(1), &[1, 1, 1, 1]);
    machine.handle(Input::StartHeight(1));
    deliver(&mut machine, 2, prevote(1, 1, None));
    deliver(&mut machine, 3, prevote(1, 1, None));
    assert_eq!(machine.round(), 1);
    assert!(machine.handle(Input::ProposalBuilt { height: 1, round: 0, value: v }).is_empty());
}

/// An observer follows the votes and decides, but never broadcasts or schedules anything.
/// Method: feed it a full round and collect every output.
#[test]
fn observer_decides_without_sending() {
    let v = value(0xaa);
    let mut machine = node(None, &[1, 1, 1, 1]);
    let mut outputs = machine.handle(Input::StartHeight(1));
    outputs.extend(deliver(&mut machine, 1, proposal(1, 0, v, None)));
    for from in 1..=3 {
        outputs.extend(deliver(&mut machine, from, prevote(1, 0, Some(v))));
    }
    for from in 1..=3 {
        outputs.extend(deliver(&mut machine, from, precommit(1, 0, Some(v))));
    }
    assert_eq!(outputs, vec![Output::Decide { height: 1, round: 0, value: v, certificate: vec![1, 2, 3] }]);
}

/// Messages of the next heights are buffered and replayed when their height starts; messages
/// beyond `HEIGHTS_AHEAD_MAX` are dropped; past heights are ignored. Method: buffer height-2
/// messages while deciding height 1, start height 2 and watch the replay; then check a height-4
/// quorum delivered at height 1 (dropped) against the same delivered at height 2 (kept).
#[test]
fn future_heights_are_buffered_within_the_window() {
    let (v, x) = (value(0xaa), value(0xcc));
    let mut machine = node(Some(0), &[1, 1, 1, 1]);
    machine.handle(Input::StartHeight(1));
    assert!(deliver(&mut machine, 2, proposal(2, 0, x, None)).is_empty());
    assert!(deliver(&mut machine, 1, prevote(2, 0, Some(x))).is_empty());
    assert!(deliver(&mut machine, 3, prevote(2, 0, Some(x))).is_empty());

    deliver(&mut machine, 1, proposal(1, 0, v, None));
    deliver(&mut machine, 1, prevote(1, 0, Some(v)));
    deliver(&mut machine, 2, prevote(1, 0, Some(v)));
    deliver(&mut machine, 1, precommit(1, 0, Some(v)));
    let outputs = deliver(&mut machine, 2, precommit(1, 0, Some(v)));
    assert!(matches!(outputs.last(), Some(Output::Decide { height: 1, .. })));
    assert_eq!(machine.height(), 1, "the host starts the next height");

    let outputs = machine.handle(Input::StartHeight(2));
    assert_eq!(broadcasts(&outputs), vec![prevote(2, 0, Some(x)), precommit(2, 0, Some(x))]);
    assert_eq!(machine.locked(), Some((0, x)));
    assert!(deliver(&mut machine, 1, precommit(1, 0, Some(v))).is_empty(), "a past height");

    let height_four_quorum = |machine: &mut Consensus| {
        for from in 1..=3 {
            deliver(machine, from, precommit(4, 0, None));
        }
    };
    let mut early = node(Some(0), &[1, 1, 1, 1]);
    early.handle(Input::StartHeight(1));
    height_four_quorum(&mut early);
    let outputs = early.handle(Input::StartHeight(4));
    assert!(scheduled(&outputs).iter().all(|timeout| timeout.step != Step::Precommit), "dropped at height 1");

    let mut near = node(Some(0), &[1, 1, 1, 1]);
    near.handle(Input::StartHeight(2));
    height_four_quorum(&mut near);
    let outputs = near.handle(Input::StartHeight(4));
    assert!(scheduled(&outputs).contains(&timeout(4, 0, Step::Precommit)), "buffered at height 2");
}

/// The round skip needs strictly more than a third of the stake: with stakes 1, 1, 1, 3, two
/// validators of stake 1 in round 2 (exactly a third) do not move the node, a third one does.
#[test]
fn round_skip_needs_more_than_a_third() {
    let mut machine = node(Some(0), &[1, 1, 1, 3]);
    machine.handle(Input::StartHeight(1));
    deliver(&mut machine, 1, prevote(1, 2, None));
    deliver(&mut machine, 2, prevote(1, 2, None));
    assert_eq!(machine.round(), 0);
    deliver(&mut machine, 3, precommit(1, 2, None));
    assert_eq!(machine.round(), 2);
}

/// Each validator may hold messages in at most `CATCHUP_ROUNDS_PER_VALIDATOR_MAX` rounds above
/// `round + 1`; its message in a third such round is dropped, and accepted again once that round
/// is near. Method: validator 1 votes in rounds 5, 6, 7; validator 2 in round 7 does not trigger
/// a skip (1's round-7 vote was dropped) but in round 6 does.
#[test]
fn catch_up_rounds_are_bounded_per_validator() {
    let mut machine = node(Some(0), &[1, 1, 1, 1]);
    machine.handle(Input::StartHeight(1));
    for round in 5..=7 {
        deliver(&mut machine, 1, prevote(1, round, None));
    }
    deliver(&mut machine, 2, prevote(1, 7, None));
    assert_eq!(machine.round(), 0, "validator 1's round-7 vote was dropped");
    deliver(&mut machine, 2, prevote(1, 6, None));
    assert_eq!(machine.round(), 6);
    deliver(&mut machine, 1, prevote(1, 7, None));
    assert_eq!(machine.round(), 7, "round 7 is now near: accepted");
}

/// Inputs the machine must ignore: its own messages looped back, a proposal from a validator that
/// is not the round's proposer, one whose valid round is not below its round, one without a
/// verdict, and stale timeouts. Method: deliver each and expect no output and no state change.
#[test]
fn ignores_what_it_must() {
    let v = value(0xaa);
    let mut machine = node(Some(0), &[1, 1, 1, 1]);
    machine.handle(Input::StartHeight(1));
    assert!(deliver(&mut machine, 2, proposal(1, 0, v, None)).is_empty(), "not the proposer");
    assert!(deliver(&mut machine, 1, proposal(1, 0, v, Some(0))).is_empty(), "vr must be below r");
    let unjudged = Input::Message { from: 1, message: proposal(1, 0, v, None), proposal_valid: None };
    assert!(machine.handle(unjudged).is_empty(), "no verdict");
    assert!(machine.handle(Input::Timeout(timeout(1, 1, Step::Propose))).is_empty(), "another round");
    assert!(machine.handle(Input::Timeout(timeout(1, 0, Step::Prevote))).is_empty(), "another step");
    assert_eq!(machine.step(), Step::Propose);

    deliver(&mut machine, 1, proposal(1, 0, v, None));
    assert!(deliver(&mut machine, 0, prevote(1, 0, None)).is_empty(), "own message looped back");
    assert_eq!(machine.equivocations(), 0);
    assert!(machine.handle(Input::Timeout(timeout(1, 0, Step::Propose))).is_empty(), "already prevoted");
}

/// Heights only increase: starting the current height again is a host bug and panics.
#[test]
#[should_panic(expected = "heights only increase")]
fn start_height_must_increase() {
    let mut machine = node(Some(0), &[1, 1, 1, 1]);
    machine.handle(Input::StartHeight(1));
    machine.handle(Input::StartHeight(1));
}

/// Timeouts grow by `delta_ms` per round from their base: checked on the defaults.
#[test]
fn timeout_durations_grow_with_the_round() {
    let params = TimeoutParams::default();
    assert_eq!(params.duration_ms(Step::Propose, 0), 3000);
    assert_eq!(params.duration_ms(Step::Prevote, 2), 2000);
    assert_eq!(params.duration_ms(Step::Precommit, 4), 3000);
    let huge = TimeoutParams { delta_ms: u64::MAX, ..TimeoutParams::default() };
    assert_eq!(huge.duration_ms(Step::Propose, 2), u64::MAX, "saturates");
}

/// An empty log (a crash before the first height started) recovers an idle machine with nothing
/// to do, which then starts like a new one. Method: recover, then start height 1.
#[test]
fn recovery_from_an_empty_log_is_idle() {
    let (mut machine, outputs) = recovered(0, &[]);
    assert!(outputs.is_empty());
    assert_eq!(machine.status(), Status::Idle);
    assert_eq!(machine.height(), 0);
    let outputs = machine.handle(Input::StartHeight(1));
    assert_eq!(persisted(&outputs), vec![WalEntry::StartHeight(1)]);
    assert_eq!(scheduled(&outputs), vec![timeout(1, 0, Step::Propose)]);
}

/// A log that ends with a height's start resumes round 0 of it: a validator waits for the proposal
/// with the propose timeout, the proposer asks for a block again (none left it) and proposes the
/// one built; entries of older heights are skipped. Method: recover three logs.
#[test]
fn recovery_at_a_fresh_height() {
    let (machine, outputs) = recovered(0, &[WalEntry::StartHeight(1)]);
    assert_eq!(outputs, vec![Output::ScheduleTimeout { timeout: timeout(1, 0, Step::Propose), after_ms: 3000 }]);
    assert_eq!(
        (machine.status(), machine.height(), machine.round(), machine.step()),
        (Status::Running, 1, 0, Step::Propose)
    );

    let (mut proposer, outputs) = recovered(1, &[WalEntry::StartHeight(1)]);
    assert_eq!(
        outputs,
        vec![
            Output::BuildProposal { height: 1, round: 0 },
            Output::ScheduleTimeout { timeout: timeout(1, 0, Step::Propose), after_ms: 3000 },
        ]
    );
    let v = value(0xaa);
    let outputs = proposer.handle(Input::ProposalBuilt { height: 1, round: 0, value: v });
    assert_eq!(broadcasts(&outputs), vec![proposal(1, 0, v, None), prevote(1, 0, Some(v))]);

    let older = [WalEntry::StartHeight(1), WalEntry::Sent(prevote(1, 0, None)), WalEntry::StartHeight(2)];
    let (machine, outputs) = recovered(0, &older);
    assert_eq!(machine.height(), 2);
    assert!(broadcasts(&outputs).is_empty(), "height 1's messages are not re-sent");
    assert_eq!(scheduled(&outputs), vec![timeout(2, 0, Step::Propose)]);
}

/// A proposer that crashed after logging its proposal re-sends that proposal and never asks for
/// another block (a second proposal in the round would be an equivocation); cut before its prevote
/// was logged, it prevotes its proposal on recovery. Method: validator 1 proposes at height 1;
/// recover the log with and without the prevote.
#[test]
fn recovery_after_own_proposal_does_not_propose_again() {
    let v = value(0xaa);
    let mut machine = node(Some(1), &[1, 1, 1, 1]);
    let mut log = persisted(&machine.handle(Input::StartHeight(1)));
    log.extend(persisted(&machine.handle(Input::ProposalBuilt { height: 1, round: 0, value: v })));
    assert_eq!(
        log,
        vec![WalEntry::StartHeight(1), WalEntry::Sent(proposal(1, 0, v, None)), WalEntry::Sent(prevote(1, 0, Some(v))),]
    );

    let (machine, outputs) = recovered(1, &log[..2]);
    assert_eq!(
        outputs,
        vec![
            Output::Broadcast(proposal(1, 0, v, None)),
            Output::Persist(WalEntry::Sent(prevote(1, 0, Some(v)))),
            Output::Broadcast(prevote(1, 0, Some(v))),
            Output::ScheduleTimeout { timeout: timeout(1, 0, Step::Prevote), after_ms: 1000 },
        ]
    );
    assert_eq!(machine.step(), Step::Prevote);

    let (machine, outputs) = recovered(1, &log);
    assert_eq!(
        outputs,
        vec![
            Output::Broadcast(proposal(1, 0, v, None)),
            Output::Broadcast(prevote(1, 0, Some(v))),
            Output::ScheduleTimeout { timeout: timeout(1, 0, Step::Prevote), after_ms: 1000 },
        ]
    );
    assert_eq!(machine.step(), Step::Prevote);
}

/// After a prevote, a recovered validator re-sends it, never prevotes again in that round (not on
/// another proposal, not on the propose timeout), counts its own prevote toward the polka, and
/// its prevote timeout still moves it on. Method: validator 0 prevotes v at height 1; recover two
/// copies from the log; feed one the rest of a polka, fire the other's timeouts.
#[test]
fn recovery_after_prevote_keeps_and_counts_the_vote() {
    let (v, w) = (value(0xaa), value(0xbb));
    let mut machine = node(Some(0), &[1, 1, 1, 1]);
    let mut log = persisted(&machine.handle(Input::StartHeight(1)));
    log.extend(persisted(&deliver(&mut machine, 1, proposal(1, 0, v, None))));

    let (mut recovered_machine, outputs) = recovered(0, &log);
    assert_eq!(
        outputs,
        vec![
            Output::Broadcast(prevote(1, 0, Some(v))),
            Output::ScheduleTimeout { timeout: timeout(1, 0, Step::Prevote), after_ms: 1000 },
        ]
    );
    let mut waiting = recovered_machine.clone();
    assert!(deliver(&mut recovered_machine, 1, proposal(1, 0, w, None)).is_empty(), "no second prevote");
    assert!(recovered_machine.handle(Input::Timeout(timeout(1, 0, Step::Propose))).is_empty());
    deliver(&mut recovered_machine, 1, proposal(1, 0, v, None));
    assert!(deliver(&mut recovered_machine, 1, prevote(1, 0, Some(v))).is_empty());
    let outputs = deliver(&mut recovered_machine, 2, prevote(1, 0, Some(v)));
    assert_eq!(broadcasts(&outputs), vec![precommit(1, 0, Some(v))], "its own prevote completes the polka");
    assert_eq!(recovered_machine.locked(), Some((0, v)));

    let outputs = waiting.handle(Input::Timeout(timeout(1, 0, Step::Prevote)));
    assert_eq!(broadcasts(&outputs), vec![precommit(1, 0, None)], "the prevote timeout was scheduled again");
    assert_eq!(waiting.step(), Step::Precommit);
}

/// A validator that locked and precommitted, then crashed, recovers locked: it re-sends its votes,
/// its precommit timeout moves it to round 1, and there it prevotes nil on a fresh value. A
/// validator restarted without its log (a fresh machine at the height) prevotes that value: the
/// unsafety the log removes. Method: recover the log of `locked_in_round_zero` cut before the round
/// change; compare with a fresh machine that skips to round 1.
#[test]
fn recovery_after_a_lock_keeps_it() {
    let (v, w) = (value(0xaa), value(0xbb));
    let (_, log) = locked_in_round_zero_logged();
    let (mut machine, outputs) = recovered(0, &log[..4]);
    assert_eq!(
        outputs,
        vec![
            Output::Broadcast(prevote(1, 0, Some(v))),
            Output::Broadcast(precommit(1, 0, Some(v))),
            Output::ScheduleTimeout { timeout: timeout(1, 0, Step::Precommit), after_ms: 1000 },
        ]
    );
    assert_eq!(machine.locked(), Some((0, v)));
    assert_eq!(machine.valid(), Some((0, v)));
    let outputs = machine.handle(Input::Timeout(timeout(1, 0, Step::Precommit)));
    assert_eq!(scheduled(&outputs), vec![timeout(1, 1, Step::Propose)]);
    assert_eq!(broadcasts(&deliver(&mut machine, 2, proposal(1, 1, w, None))), vec![prevote(1, 1, None)]);

    let mut amnesiac = node(Some(0), &[1, 1, 1, 1]);
    amnesiac.handle(Input::StartHeight(1));
    deliver(&mut amnesiac, 2, prevote(1, 1, None));
    deliver(&mut amnesiac, 3, prevote(1, 1, None));
    assert_eq!(amnesiac.round(), 1);
    assert_eq!(broadcasts(&deliver(&mut amnesiac, 2, proposal(1, 1, w, None))), vec![prevote(1, 1, Some(w))]);
}

/// A log that ends with a round change resumes that round, at step propose, still locked: it
/// prevotes nil on a fresh value and waits for the polka a re-proposal claims. Method: recover
/// the whole log of `locked_in_round_zero`.
#[test]
fn recovery_after_a_round_change() {
    let (v, w) = (value(0xaa), value(0xbb));
    let (_, log) = locked_in_round_zero_logged();
    let (machine, outputs) = recovered(0, &log);
    assert_eq!(
        outputs,
        vec![
            Output::Broadcast(prevote(1, 0, Some(v))),
            Output::Broadcast(precommit(1, 0, Some(v))),
            Output::ScheduleTimeout { timeout: timeout(1, 1, Step::Propose), after_ms: 3500 },
        ]
    );
    assert_eq!((machine.round(), machine.step(), machine.locked()), (1, Step::Propose, Some((0, v))));
    let mut fresh = machine.clone();
    assert_eq!(broadcasts(&deliver(&mut fresh, 2, proposal(1, 1, w, None))), vec![prevote(1, 1, None)]);
    let mut reproposed = machine;
    assert!(deliver(&mut reproposed, 2, proposal(1, 1, w, Some(0))).is_empty(), "no polka for w in round 0");
    assert_eq!(broadcasts(&reproposed.handle(Input::Timeout(timeout(1, 1, Step::Propose)))), vec![prevote(1, 1, None)]);
}

/// A crash between logging the lock and logging its precommit: recovery sends the precommit the
/// lock was written for. Method: recover the log of `locked_in_round_zero` cut after the lock.
#[test]
fn recovery_completes_a_logged_lock() {
    let v = value(0xaa);
    let (_, log) = locked_in_round_zero_logged();
    let (machine, outputs) = recovered(0, &log[..3]);
    assert_eq!(
        outputs,
        vec![
            Output::Broadcast(prevote(1, 0, Some(v))),
            Output::Persist(WalEntry::Sent(precommit(1, 0, Some(v)))),
            Output::Broadcast(precommit(1, 0, Some(v))),
            Output::ScheduleTimeout { timeout: timeout(1, 0, Step::Precommit), after_ms: 1000 },
        ]
    );
    assert_eq!((machine.step(), machine.locked()), (Step::Precommit, Some((0, v))));
}

/// A proposer that crashed right after entering its round, holding a valid value, re-proposes it
/// with its valid round on recovery, as the round's start would have. Method: the log of
/// `proposer_reproposes_its_valid_value` cut after round 3's entry.
#[test]
fn recovered_proposer_reproposes_its_valid_value() {
    let v = value(0xaa);
    let mut machine = node(Some(0), &[1, 1, 1, 1]);
    let mut log = persisted(&machine.handle(Input::StartHeight(1)));
    for (from, message) in [
        (1, proposal(1, 0, v, None)),
        (1, prevote(1, 0, Some(v))),
        (2, prevote(1, 0, Some(v))),
        (1, prevote(1, 3, None)),
    ] {
        log.extend(persisted(&deliver(&mut machine, from, message)));
    }
    log.extend(persisted(&deliver(&mut machine, 2, prevote(1, 3, None))));
    let round_three = log.iter().position(|entry| *entry == WalEntry::StartRound { height: 1, round: 3 });
    let cut = round_three.expect("round 3 logged") + 1;
    assert_eq!(log[cut], WalEntry::Sent(proposal(1, 3, v, Some(0))), "the full run re-proposed");

    let (machine, outputs) = recovered(0, &log[..cut]);
    assert_eq!(
        broadcasts(&outputs),
        vec![prevote(1, 0, Some(v)), precommit(1, 0, Some(v)), proposal(1, 3, v, Some(0)), prevote(1, 3, Some(v))]
    );
    assert!(!outputs.iter().any(|output| matches!(output, Output::BuildProposal { .. })));
    assert_eq!((machine.round(), machine.step()), (3, Step::Prevote));
}

/// Each step's recovery leaves an effective timer: the timeout scheduled for the step the machine
/// rests in acts when it fires (the step or round moves), so no recovered machine waits on a
/// timer the crash destroyed. Method: recover every prefix of two logs and fire that timeout.
#[test]
fn recovered_machines_resume_with_an_effective_timeout() {
    let (_, locked_log) = locked_in_round_zero_logged();
    let mut proposer = node(Some(1), &[1, 1, 1, 1]);
    let mut proposer_log = persisted(&proposer.handle(Input::StartHeight(1)));
    proposer_log.extend(persisted(&proposer.handle(Input::ProposalBuilt { height: 1, round: 0, value: value(0xcc) })));
    for (me, log) in [(0, &locked_log), (1, &proposer_log)] {
        for end in 1..=log.len() {
            let (mut machine, outputs) = recovered(me, &log[..end]);
            let before = (machine.round(), machine.step());
            let resting = timeout(1, before.0, before.1);
            assert!(scheduled(&outputs).contains(&resting));
            machine.handle(Input::Timeout(resting));
            assert!((machine.round(), machine.step()) > before, "validator {me}, prefix {end}: the timeout acts");
        }
    }
}

/// Logs the machine cannot have written are refused with the matching error, not a panic; an
/// entry appended twice is harmless. Method: recover hand-made logs.
#[test]
fn recovery_rejects_logs_the_machine_cannot_write() {
    let (v, w) = (value(0xaa), value(0xbb));
    let start = WalEntry::StartHeight(1);
    let sent = |message: Message| WalEntry::Sent(message);
    let lock =
        |round: Round, value: B256, polka: Vec<ValidatorIndex>| WalEntry::Lock { height: 1, round, value, polka };
    let cases: Vec<(Vec<WalEntry>, WalError)> = vec![
        (vec![sent(prevote(1, 0, None))], WalError::NoStartHeight { entries: 1 }),
        (vec![WalEntry::StartHeight(0)], WalError::HeightZero { index: 0 }),
        (
            vec![start.clone(), sent(prevote(2, 0, None))],
            WalError::WrongHeight { index: 1, entry_height: 2, height: 1 },
        ),
        (vec![WalEntry::StartHeight(3), start.clone()], WalError::WrongHeight { index: 0, entry_height: 3, height: 1 }),
        (
            vec![
                start.clone(),
                WalEntry::StartRound { height: 1, round: 2 },
                WalEntry::StartRound { height: 1, round: 1 },
            ],
            WalError::RoundOrder { index: 2, round: 1, current: 2 },
        ),
        (vec![start.clone(), sent(prevote(1, 1, None))], WalError::WrongRound { index: 1, round: 1, current: 0 }),
        (
            vec![start.clone(), sent(prevote(1, 0, Some(v))), sent(prevote(1, 0, Some(w)))],
            WalError::Conflicting { index: 2, kind: MessageKind::Prevote, round: 0 },
        ),
        (vec![start.clone(), sent(proposal(1, 0, v, None))], WalError::NotProposer { index: 1, round: 0, proposer: 1 }),
        (
            vec![start.clone(), sent(precommit(1, 0, None))],
            WalError::OutOfStep { index: 1, rule: "a precommit follows the prevote of its round" },
        ),
        (
            vec![start.clone(), sent(prevote(1, 0, Some(v))), sent(precommit(1, 0, Some(v)))],
            WalError::OutOfStep { index: 2, rule: "a precommit for a value follows the lock on it in its round" },
        ),
        (
            vec![start.clone(), sent(prevote(1, 0, Some(v))), lock(0, v, vec![0, 1])],
            WalError::BadPolka { index: 2, polka: vec![0, 1] },
        ),
        (
            vec![start.clone(), sent(prevote(1, 0, Some(v))), lock(0, v, vec![0, 2, 1])],
            WalError::BadPolka { index: 2, polka: vec![0, 2, 1] },
        ),
        (
            vec![start.clone(), sent(prevote(1, 0, Some(v))), lock(0, v, vec![0, 1, 9])],
            WalError::BadPolka { index: 2, polka: vec![0, 1, 9] },
        ),
        (
            vec![start.clone(), lock(0, v, vec![1, 2, 3])],
            WalError::OutOfStep {
                index: 1,
                rule: "a lock comes after the prevote of its round and before the precommit",
            },
        ),
    ];
    for (log, expected) in cases {
        let result = Consensus::recover(validator_set(&[1, 1, 1, 1]), 0, TimeoutParams::default(), &log);
        assert_eq!(result.err(), Some(expected), "{log:?}");
    }

    let twice = [start, sent(prevote(1, 0, Some(v))), sent(prevote(1, 0, Some(v)))];
    let (machine, outputs) = recovered(0, &twice);
    assert_eq!(broadcasts(&outputs), vec![prevote(1, 0, Some(v))]);
    assert_eq!(machine.step(), Step::Prevote);
}
