//! **Test only** (cargo feature `test-bugs`): deliberate bugs in node code, so that each of the
//! simulator's checkers can be seen to catch a real violation (`sim/tests/all/checkers.rs`).
//!
//! They are switched on by the host ([`TestBug`] values handed to the node, the chain or the
//! market after construction), never by a genesis or scenario parameter that a build without the
//! feature would accept: a production build does not contain them at all.

/// A deliberate bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TestBug {
    /// The validator answers `TxAccepted` to some user transactions (those whose hash ends in a
    /// byte divisible by four) and then forgets them: no mempool, no gossip. Caught by
    /// `no_lost_tx` when every validator has it (a re-send meets the same bug).
    DropAcceptedTxs,
    /// Block execution credits one ZKPoW to a fixed account at the end of every block, on every
    /// validator alike (so roots still agree). Caught by `token_conservation`.
    MintOnCommit,
    /// The market pays every bounty to the first registered plugin, whoever proved the job.
    /// Caught by `no_payment_to_non_assignee`.
    PayWrongPlugin,
    /// The validator with this bug decides its own first proposal without consensus: it commits a
    /// block nobody else commits. Caught by `roots_agree`.
    CommitOwnProposal,
}
