//! Every refusal of a proof submission, with its reason, and the late-proof policies.

mod support;

use alloy::primitives::{B256, U256};
use support::{Behaviour, Harness, plugin_address};
use zkcrowd_market::{
    AfterDeadline, CallError, EventKind, JobStatus, MarketCall, MarketParams, ProofData, ProofRejection, PublicInput,
    RealProofPolicy, SubmittedInputs,
};

fn market(after_deadline: AfterDeadline, deadline: u64) -> Harness {
    let params = MarketParams {
        heartbeat_window_blocks: 30,
        proof_deadline_blocks: deadline,
        after_deadline,
        ..MarketParams::default()
    };
    Harness::new(params, vec![Behaviour::Lazy, Behaviour::Lazy, Behaviour::Lazy])
}

/// The first job and its assignee (index into the harness's plugins) after one block with a tx.
fn first_assignment(h: &mut Harness) -> (u64, usize) {
    let heartbeats = h.heartbeats();
    h.block(heartbeats, 1);
    let job = h.market.jobs().next().expect("a job").id;
    let assignee = h.assignee(job).expect("assigned");
    (job, h.index_of(&assignee))
}

/// Submits `call` from `plugin` in a block of its own; the proof rejection, if any.
fn submit(h: &mut Harness, plugin: usize, call: MarketCall) -> Result<(), ProofRejection> {
    h.block(vec![(plugin_address(plugin), call, U256::ZERO)], 0);
    match h.last_results[0].clone() {
        Ok(()) => Ok(()),
        Err(CallError::ProofRejected(reason)) => Err(reason),
        Err(other) => panic!("a submission refused as a call: {other:?}"),
    }
}

/// Goal: each wrong submission is refused with its own reason and leaves the job assigned; the
/// right one is then accepted and paid.
#[test]
fn each_rejection_has_its_reason() {
    let mut h = market(AfterDeadline::AssignedOnly, 20);
    let (job, assignee) = first_assignment(&mut h);
    let other = (assignee + 1) % 3;
    let good = h.proof_call(assignee, job).unwrap();
    let MarketCall::SubmitProof { inputs, proof, .. } = good.clone() else { unreachable!() };

    // Not the assignee (a correct proof bound to the other plugin's own address).
    let theirs = h.proof_call(other, job).unwrap();
    assert_eq!(submit(&mut h, other, theirs), Err(ProofRejection::NotAssignee { job }));

    // Copied proof: the assignee's proof submitted by someone else (bound to the assignee).
    let (prover, sender) = (plugin_address(assignee), plugin_address(other));
    assert_eq!(submit(&mut h, other, good.clone()), Err(ProofRejection::WrongProver { prover, sender }));

    // Wrong roots.
    let wrong_pre = SubmittedInputs { pre_root: B256::repeat_byte(7), ..inputs };
    let error =
        submit(&mut h, assignee, MarketCall::SubmitProof { job_id: job, inputs: wrong_pre, proof: proof.clone() });
    assert_eq!(error, Err(ProofRejection::WrongInput { input: PublicInput::PreRoot }));
    let wrong_post = SubmittedInputs { post_root: B256::repeat_byte(7), ..inputs };
    let error =
        submit(&mut h, assignee, MarketCall::SubmitProof { job_id: job, inputs: wrong_post, proof: proof.clone() });
    assert_eq!(error, Err(ProofRejection::WrongInput { input: PublicInput::PostRoot }));

    // Inputs naming another job, and an unknown job.
    let other_job = SubmittedInputs { job_id: job + 1000, ..inputs };
    let error =
        submit(&mut h, assignee, MarketCall::SubmitProof { job_id: job, inputs: other_job, proof: proof.clone() });
    assert_eq!(error, Err(ProofRejection::WrongJob { job, named: job + 1000 }));
    let error = submit(&mut h, assignee, MarketCall::SubmitProof { job_id: 999, inputs, proof: proof.clone() });
    assert_eq!(error, Err(ProofRejection::UnknownJob { job: 999 }));

    // A proof that does not verify (modeled: wrong binding; e.g. a tampered witness).
    let bad = MarketCall::SubmitProof { job_id: job, inputs, proof: ProofData::Modeled(B256::repeat_byte(1)) };
    assert!(matches!(submit(&mut h, assignee, bad), Err(ProofRejection::InvalidProof(_))));
    let real = MarketCall::SubmitProof { job_id: job, inputs, proof: ProofData::Real(vec![1, 2, 3].into()) };
    let error = submit(&mut h, assignee, real);
    assert!(
        matches!(&error, Err(ProofRejection::InvalidProof(detail)) if detail.contains("no real-proof verifier")),
        "{error:?}"
    );

    let rejected = h.events.iter().filter(|e| matches!(e.kind, EventKind::ProofRejected { .. })).count();
    assert_eq!(rejected, 8, "every refusal is an event");
    assert!(matches!(h.market.job(job).unwrap().status, JobStatus::Assigned { .. }));

    // Within the deadline, the right proof is accepted and paid; a second one is refused.
    assert_eq!(submit(&mut h, assignee, good.clone()), Ok(()));
    assert!(h.market.plugin(&plugin_address(assignee)).unwrap().balance.wei() > 0);
    let error = submit(&mut h, assignee, good);
    assert!(
        matches!(error, Err(ProofRejection::AlreadyProven { .. } | ProofRejection::UnknownJob { .. })),
        "{error:?}"
    );
}

/// Goal: after the deadline the old assignee's proof is late and refused; with
/// `after_deadline: open` any active plugin, the late one included, may then prove the job and be
/// paid, and the new assignee's hold ends.
#[test]
fn late_proofs_by_policy() {
    for policy in [AfterDeadline::AssignedOnly, AfterDeadline::Open] {
        let mut h = market(policy, 3);
        let (job, first) = first_assignment(&mut h);
        let late = h.proof_call(first, job).unwrap();
        for _ in 0..3 {
            let heartbeats = h.heartbeats();
            h.block(heartbeats, 0);
        }
        assert!(h.events.iter().any(|e| matches!(e.kind, EventKind::JobMissed { job: j, .. } if j == job)));
        let second = h.index_of(&h.assignee(job).expect("reassigned"));
        assert_ne!(second, first, "never the plugin that just failed");
        let third = (0..3).find(|&i| i != first && i != second).unwrap();
        let bystander = h.proof_call(third, job).unwrap();
        match policy {
            AfterDeadline::AssignedOnly => {
                assert_eq!(submit(&mut h, first, late), Err(ProofRejection::Late { job }));
                assert_eq!(submit(&mut h, third, bystander), Err(ProofRejection::NotAssignee { job }));
            }
            AfterDeadline::Open => {
                assert_eq!(submit(&mut h, third, bystander), Ok(()));
                assert!(h.market.plugin(&plugin_address(third)).unwrap().balance.wei() > 0, "bystander paid");
                // The second assignee's hold ends with the proof, without charge.
                assert_eq!(h.market.plugin(&plugin_address(second)).unwrap().held, 0);
                let error = submit(&mut h, first, late);
                assert!(
                    matches!(error, Err(ProofRejection::AlreadyProven { .. } | ProofRejection::UnknownJob { .. })),
                    "{error:?}"
                );
            }
        }
    }
}

/// Goal: a chain whose genesis requires real proofs refuses a modeled proof record for a job that
/// has a circuit (a transfer), with its own reason, and still accepts one for a job that has none
/// (a contract call). Method: the same market, one job of each kind, the assignee's valid modeled
/// record for each.
#[test]
fn modeled_record_refused_for_a_job_that_must_be_real() {
    let params =
        MarketParams { heartbeat_window_blocks: 30, real_proofs: RealProofPolicy::All, ..MarketParams::default() };
    let mut h = Harness::new(params, vec![Behaviour::Lazy, Behaviour::Lazy, Behaviour::Lazy]);
    h.leaf_has_circuit = true;
    let (job, assignee) = first_assignment(&mut h);
    assert!(h.market.job(job).expect("live").real_required, "a transfer job under `all` needs a real proof");
    let modeled = h.proof_call(assignee, job).expect("a call");
    assert_eq!(submit(&mut h, assignee, modeled), Err(ProofRejection::ModeledNotAllowed { job }));
    assert!(matches!(h.market.job(job).expect("still live").status, JobStatus::Assigned { .. }), "still assigned");

    // A job without a circuit: the modeled record is its proof.
    h.leaf_has_circuit = false;
    let heartbeats = h.heartbeats();
    h.block(heartbeats, 1);
    let call_job = h.market.jobs().map(|j| j.id).max().expect("a second job");
    assert!(!h.market.job(call_job).expect("live").real_required);
    let assignee = h.index_of(&h.assignee(call_job).expect("assigned"));
    let modeled = h.proof_call(assignee, call_job).expect("a call");
    assert_eq!(submit(&mut h, assignee, modeled), Ok(()));
}

/// Goal: the sampled policy is a pure function of (salt, job) that every validator evaluates
/// alike, hits about its rate, changes with the salt, and never samples a job without a circuit.
/// Method: 20,000 job ids at 25% under two salts.
#[test]
fn sampled_policy_is_deterministic_and_hits_its_rate() {
    let rate = zkcrowd_market::Factor::from_ppm(250_000);
    let policy = |salt| RealProofPolicy::Sampled { sample_rate: rate, salt };
    let picked: Vec<u64> = (0..20_000).filter(|job| policy(7).leaf_requires_real(*job, true)).collect();
    let again: Vec<u64> = (0..20_000).filter(|job| policy(7).leaf_requires_real(*job, true)).collect();
    assert_eq!(picked, again, "deterministic");
    // 25% of 20,000 is 5,000 with a standard deviation of ~61: six sigma either way.
    assert!((4_634..=5_366).contains(&picked.len()), "{} sampled", picked.len());
    let other: Vec<u64> = (0..20_000).filter(|job| policy(8).leaf_requires_real(*job, true)).collect();
    assert_ne!(picked, other, "another salt, another sample");
    assert!((0..1_000).all(|job| !policy(7).leaf_requires_real(job, false)), "no circuit, no real proof");
    assert!((0..1_000).all(|job| !RealProofPolicy::None.leaf_requires_real(job, true)));
    assert!(!RealProofPolicy::None.aggregate_requires_real(true));
    assert!(RealProofPolicy::All.aggregate_requires_real(true));
    assert!(!RealProofPolicy::All.aggregate_requires_real(false));
}

/// Goal: the market never mints past the room the chain leaves under its supply cap, issuance and
/// shortfall together, and its accounts still balance. Method: a room of 2.5 ZKPoW against 10
/// ZKPoW of issuance per block and honest provers earning bounties for twenty blocks.
#[test]
fn minting_stops_at_the_supply_cap() {
    let params = MarketParams { heartbeat_window_blocks: 30, ..MarketParams::default() };
    let mut h = Harness::new(params, vec![Behaviour::Honest { delay_blocks: 1 }; 3]);
    // The harness's first block (registrations) already issued once: the room starts above it.
    let room = h.market.accounts().issued + 2_500_000_000_000_000_000u128;
    h.market.set_mint_room(room);
    for _ in 0..20 {
        let heartbeats = h.heartbeats();
        h.block(heartbeats, 2);
    }
    let accounts = h.market.accounts();
    assert!(accounts.rewards_paid > 0, "bounties were paid");
    assert!(accounts.issued + accounts.shortfall_minted <= room, "{accounts:?}");
    assert!(accounts.identity_holds(h.market.balances_total().wei()), "{accounts:?}");
}
