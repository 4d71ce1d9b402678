//! More than f validators down: the chain halts without forking and resumes when they return.

use std::path::PathBuf;

use zkcrowd_sim::observer::Verdict;
use zkcrowd_sim::runner::{RunOptions, run};
use zkcrowd_sim::scenario::Scenario;

/// Goal: with 2 of 4 validators crashed from 60 s to 120 s (`scenarios/tests/halt-f-plus-1.yaml`),
/// no block is committed while they are down (no quorum exists: a commit would mean a safety bug),
/// blocks are committed again within 30 s of their return, the validators end on one chain
/// (`roots_agree`), and every check holds, for five seeds. Method: the reference chain's commit
/// times (blocks f+1 validators committed) against the crash window.
#[test]
fn more_than_f_down_halts_and_resumes() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/tests/halt-f-plus-1.yaml");
    let scenario = Scenario::from_file(&path).expect("the scenario loads");
    let (down_ms, up_ms) = (60_000, 120_000);
    for seed in 1..=5 {
        let output = run(&scenario, seed, RunOptions::default());
        for (check, verdict) in &output.verdicts {
            assert_eq!(*verdict, Verdict::Ok, "seed {seed}: {check}");
        }
        let times: Vec<u64> = output.observer.blocks.values().map(|b| b.committed_ms).collect();
        // A block decided just before the crash may be committed by its slowest validators a
        // moment later (a round trip); none is decided after.
        let during: Vec<u64> = times.iter().copied().filter(|t| (down_ms + 5_000..up_ms).contains(t)).collect();
        assert!(during.is_empty(), "seed {seed}: blocks committed with 2 of 4 validators down: {during:?}");
        assert!(times.iter().any(|t| *t < down_ms), "seed {seed}: blocks before the crash");
        let resumed = times.iter().copied().find(|t| *t >= up_ms);
        assert!(
            resumed.is_some_and(|t| t <= up_ms + 30_000),
            "seed {seed}: first block after the return at {resumed:?} ms"
        );
        let heights: Vec<u64> = output.heads.iter().map(|(h, _, _)| *h).collect();
        assert!(heights.iter().all(|h| *h + 2 >= heights[0]), "seed {seed}: validators at {heights:?}");
    }
}
