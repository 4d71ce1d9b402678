//! Ranges and wraps (the market's rule 7): blocks form ranges of `wrap_range_blocks`, extended
//! over blocks without jobs; a closed range's block roots are aggregated pairwise and its root
//! wrapped once; the wrapped ranges tile the chain from block 1 and chain by their roots; their
//! jobs are forgotten once wrapped.

mod support;

use std::collections::BTreeMap;

use support::{Behaviour, Harness, root};
use zkcrowd_ledger::digest_to_b256;
use zkcrowd_market::{EventKind, JobKind, MarketParams};

#[test]
fn ranges_tile_the_chain_and_are_wrapped_once() {
    let params = MarketParams { wrap_range_blocks: 3, ..MarketParams::default() };
    let mut harness = Harness::new(params, vec![Behaviour::Honest { delay_blocks: 1 }; 4]);
    // Block 1 (registrations) has no jobs. Then: jobs in 2; none in 3; 4, 5 and 6 with jobs; none
    // in 7 to 10 (the range from 7 is extended until it holds a block with jobs: 11).
    let txs_per_block: BTreeMap<u64, u64> = [(2, 2), (4, 1), (5, 3), (6, 2), (11, 1), (12, 2)].into_iter().collect();
    for number in 2..=40 {
        let calls = if number % 10 == 0 { harness.heartbeats() } else { Vec::new() };
        harness.block(calls, txs_per_block.get(&number).copied().unwrap_or(0));
    }

    let mut wrapped = Vec::new();
    let mut kinds: BTreeMap<u64, JobKind> = BTreeMap::new();
    for event in &harness.events {
        match &event.kind {
            EventKind::JobCreated { job, kind } => {
                kinds.insert(*job, *kind);
            }
            EventKind::RangeWrapped { first_block, last_block, job, pre_root, post_root, .. } => {
                assert!(
                    matches!(kinds[job], JobKind::Wrap { first, last, .. } if first == *first_block && last == *last_block),
                    "the wrapped job is the range's wrap: {:?}",
                    kinds[job]
                );
                wrapped.push((*first_block, *last_block, *pre_root, *post_root));
            }
            _ => {}
        }
    }
    let ranges: Vec<(u64, u64)> = wrapped.iter().map(|w| (w.0, w.1)).collect();
    assert_eq!(ranges[..4], [(1, 3), (4, 6), (7, 11), (12, 14)], "{ranges:?}");
    // Contiguous from block 1, each wrapped once, chained by their roots from genesis.
    let mut next = 1;
    let mut last_post = digest_to_b256(root(0));
    for (first, last, pre, post) in &wrapped {
        assert_eq!(*first, next, "ranges tile the chain: {ranges:?}");
        assert_eq!(*pre, last_post, "range {first} starts at the previous range's post root");
        next = last + 1;
        last_post = *post;
    }
    // All 11 user txs of blocks 2-12 are inside the wrapped ranges.
    assert_eq!(last_post, digest_to_b256(root(11)));

    // Range aggregates pair the roots of a range's blocks with jobs: [4, 6] has three of them
    // (two aggregates), [1, 3] and [7, 11] one each (none).
    let range_aggregates = |first: u64| {
        kinds.values().filter(|k| matches!(k, JobKind::RangeAggregate { first: f, .. } if *f == first)).count()
    };
    assert_eq!((range_aggregates(1), range_aggregates(4), range_aggregates(7)), (0, 2, 0));
    let wraps = kinds.values().filter(|k| matches!(k, JobKind::Wrap { .. })).count();
    assert_eq!(wraps, wrapped.len(), "one wrap job per range");

    // Wrapped ranges' jobs are forgotten; what is left belongs to later blocks.
    let last_wrapped = wrapped.last().unwrap().1;
    for job in harness.market.jobs() {
        assert!(job.kind.block() > last_wrapped, "job {} of a wrapped range is still live: {:?}", job.id, job.kind);
    }
}
