//! Every refusal of a proof submission, with its reason, and the late-proof policies.

mod support;

use alloy::primitives::{B256, U256};
use support::{Behaviour, Harness, plugin_address};
use zkcrowd_market::{
    AfterDeadline, CallError, EventKind, JobStatus, MarketCall, MarketParams, ProofData, ProofRejection, PublicInput,
    SubmittedInputs,
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
