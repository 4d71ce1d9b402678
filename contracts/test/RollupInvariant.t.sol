// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Rollup} from "../src/Rollup.sol";
import {ModeledProofVerifier} from "../src/simulation/ModeledProofVerifier.sol";

/// @title RollupHandler
/// @notice The actions the invariant fuzzer takes against a Rollup: let time pass, submit the correct
///         next range (of 1-4 blocks, proved by some prover), or submit with one field wrong (sender,
///         first block, last block, pre root, proof bytes, a proof of another prover's wrap). Every
///         submission is checked against a model of the specification kept here (the ghost chain of range
///         records and the slot schedule): the model predicts success or the exact revert data, and every
///         disagreement is counted in `mismatches`.
/// @dev Reverts are caught, so no action reverts. Time is kept in `time` and re-applied with vm.warp
///      before each submission, so it only moves forward whatever the fuzzer does between calls.
contract RollupHandler is CommonBase, StdUtils {
    Rollup public immutable rollup;
    bytes32 internal immutable _tag;
    uint64 internal immutable _chainId;
    address[] internal _agents;
    /// @dev The agents, then addresses that are not agents.
    address[] internal _senders;
    /// @dev Ghost chain: the accepted range records, in order.
    Rollup.RangeRecord[] internal _ghost;

    /// @notice Current L1 timestamp of the run.
    uint256 public time;
    /// @notice Submissions the Rollup accepted.
    uint256 public accepted;
    /// @notice Submissions the Rollup refused, with the error the model predicted.
    uint256 public rejected;
    /// @notice Submissions whose outcome differed from the model's prediction.
    uint256 public mismatches;

    constructor(Rollup rollup_, ModeledProofVerifier verifier, address[] memory outsiders) {
        rollup = rollup_;
        _tag = verifier.MODELED_PROOF_TAG();
        _chainId = rollup_.l2ChainId();
        _agents = rollup_.agents();
        _senders = rollup_.agents();
        for (uint256 i = 0; i < outsiders.length; i++) {
            _senders.push(outsiders[i]);
        }
        time = block.timestamp;
    }

    /// @dev One submitRange call.
    struct Submission {
        address sender;
        uint64 first;
        uint64 last;
        bytes32 pre;
        bytes32 post;
        bytes32 txc;
        address prover;
        bytes proof;
    }

    // ---------------------------------------------------------------- actions

    /// @notice Lets 0 to 3 slots' worth of time pass.
    function warp(uint256 secondsSeed) external {
        time += bound(secondsSeed, 0, 3 * uint256(rollup.slotSeconds()));
    }

    /// @notice The slot owner submits the correct next range (contents derived from `contentSeed`).
    function submitNext(uint256 contentSeed) external {
        _attempt(_correct(contentSeed));
    }

    /// @notice An agent or an outsider submits the correct next range.
    function submitFrom(uint256 senderSeed, uint256 contentSeed) external {
        Submission memory s = _correct(contentSeed);
        s.sender = _senders[senderSeed % _senders.length];
        _attempt(s);
    }

    /// @notice The slot owner submits a correct range under first block `first` (and its own length).
    function submitWithNumber(uint64 first, uint256 contentSeed) external {
        Submission memory s = _correct(contentSeed);
        uint64 length = s.last - s.first;
        s.first = first;
        s.last = first > type(uint64).max - length ? type(uint64).max : first + length;
        s.proof = _record(s.first, s.last, s.pre, s.post, s.txc, s.prover);
        _attempt(s);
    }

    /// @notice The slot owner submits the next range ending at `last` (bounded to at most 8 blocks; possibly
    ///         before it starts), with a valid proof of it.
    function submitWithLast(uint64 last, uint256 contentSeed) external {
        Submission memory s = _correct(contentSeed);
        s.last = uint64(bound(last, 0, uint256(s.first) + 7));
        s.proof = _record(s.first, s.last, s.pre, s.post, s.txc, s.prover);
        _attempt(s);
    }

    /// @notice The slot owner submits the next range from pre root `pre`, with a valid proof of it.
    function submitWithPreRoot(bytes32 pre, uint256 contentSeed) external {
        Submission memory s = _correct(contentSeed);
        s.pre = pre;
        s.proof = _record(s.first, s.last, pre, s.post, s.txc, s.prover);
        _attempt(s);
    }

    /// @notice The slot owner submits the next range with proof bytes `proof`.
    function submitWithProof(bytes calldata proof, uint256 contentSeed) external {
        Submission memory s = _correct(contentSeed);
        s.proof = proof;
        _attempt(s);
    }

    /// @notice The slot owner submits the next range with the proof of the same range by `prover`, naming
    ///         the range's own prover (a copied proof relabelled).
    function submitCopiedProof(address prover, uint256 contentSeed) external {
        Submission memory s = _correct(contentSeed);
        s.proof = _record(s.first, s.last, s.pre, s.post, s.txc, prover);
        _attempt(s);
    }

    // ---------------------------------------------------------------- ghost readback

    /// @notice Number of ranges in the ghost chain.
    function ghostLength() external view returns (uint256) {
        return _ghost.length;
    }

    /// @notice Ghost record of the `i`-th accepted range (0-based).
    function ghostRange(uint256 i) external view returns (Rollup.RangeRecord memory) {
        return _ghost[i];
    }

    // ---------------------------------------------------------------- model

    /// @dev The correct next range at `time`, with contents derived from `seed`: from the slot owner,
    ///      starting at head + 1, 1-4 blocks long, from the last post root, proved by a prover derived from
    ///      the seed (an agent or not), with its valid modeled proof.
    function _correct(uint256 seed) internal view returns (Submission memory s) {
        s.sender = _owner();
        s.first = _head() + 1;
        s.last = s.first + uint64(seed % 4);
        s.pre = _lastPostRoot();
        s.post = keccak256(abi.encode("post", seed));
        s.txc = keccak256(abi.encode("txs", seed));
        s.prover = seed % 5 < _agents.length
            ? _agents[seed % 5]
            : address(uint160(uint256(keccak256(abi.encode("prover", seed)))));
        s.proof = _record(s.first, s.last, s.pre, s.post, s.txc, s.prover);
    }

    /// @dev Submits `s` at `time`; compares the outcome with the model's prediction and, on
    ///      acceptance, appends the range to the ghost chain.
    function _attempt(Submission memory s) internal {
        vm.warp(time);
        bytes memory predicted = _predictedError(s);
        vm.prank(s.sender);
        try rollup.submitRange(s.first, s.last, s.pre, s.post, s.txc, s.prover, s.proof) {
            if (predicted.length != 0) {
                mismatches++;
                return;
            }
            // casting to 'uint64' is safe because time grows by at most 36 s per call from 2023's timestamp
            // forge-lint: disable-next-line(unsafe-typecast)
            _ghost.push(
                Rollup.RangeRecord(s.first, s.last, s.pre, s.post, s.txc, s.prover, s.sender, _slot(), uint64(time))
            );
            accepted++;
        } catch (bytes memory reason) {
            if (predicted.length == 0 || keccak256(reason) != keccak256(predicted)) {
                mismatches++;
                return;
            }
            rejected++;
        }
    }

    /// @dev The revert data the specification requires of `s`, empty if it must be accepted.
    function _predictedError(Submission memory s) internal view returns (bytes memory) {
        if (s.sender != _owner()) {
            return abi.encodeWithSelector(Rollup.NotSlotOwner.selector, s.sender, _owner(), _slot());
        }
        if (s.first != _head() + 1) {
            return abi.encodeWithSelector(Rollup.WrongBlockNumber.selector, _head() + 1, s.first);
        }
        if (s.last < s.first) {
            return abi.encodeWithSelector(Rollup.EmptyRange.selector, s.first, s.last);
        }
        if (s.pre != _lastPostRoot()) {
            return abi.encodeWithSelector(Rollup.WrongPreRoot.selector, _lastPostRoot(), s.pre);
        }
        if (keccak256(s.proof) != keccak256(_record(s.first, s.last, s.pre, s.post, s.txc, s.prover))) {
            return abi.encodeWithSelector(Rollup.InvalidProof.selector);
        }
        return "";
    }

    /// @dev The modeled proof record of a range, computed from the specification (not through the
    ///      contracts): the binding is keccak256(abi.encode(chainId, first, last, prover)) with each 8-byte
    ///      word's top bit cleared.
    function _record(uint64 first, uint64 last, bytes32 pre, bytes32 post, bytes32 txc, address prover)
        internal
        view
        returns (bytes memory)
    {
        bytes32[] memory inputs = new bytes32[](4);
        inputs[0] = pre;
        inputs[1] = post;
        inputs[2] = txc;
        inputs[3] = keccak256(abi.encode(_chainId, first, last, prover))
            & 0x7fffffffffffffff7fffffffffffffff7fffffffffffffff7fffffffffffffff;
        return abi.encodePacked(keccak256(abi.encode(_tag, inputs)));
    }

    function _slot() internal view returns (uint64) {
        return uint64((time - rollup.genesisTime()) / rollup.slotSeconds());
    }

    function _owner() internal view returns (address) {
        return _agents[_slot() % _agents.length];
    }

    function _head() internal view returns (uint64) {
        return _ghost.length == 0 ? 0 : _ghost[_ghost.length - 1].last;
    }

    function _lastPostRoot() internal view returns (bytes32) {
        return _ghost.length == 0 ? rollup.genesisRoot() : _ghost[_ghost.length - 1].postRoot;
    }
}

/// @title RollupInvariantTest
/// @notice Invariants of Rollup under random sequences of RollupHandler actions: the accepted chain of
///         ranges is contiguous from the genesis root, the head is the last range's end and its root the
///         last post root, every range was posted by the owner of its slot, the contract's stored record
///         hashes are exactly the handler's ghost chain, and every outcome matched the model.
/// @dev The contract stores only record hashes; the ghost records are checked against them (so the
///      properties read from the ghost records are properties of what the contract accepted).
contract RollupInvariantTest is Test {
    uint64 internal constant SLOT_SECONDS = 12;
    bytes32 internal constant GENESIS_ROOT = keccak256("zkcrowd.test.genesis-root");
    uint64 internal constant L2_CHAIN_ID = 7777;

    Rollup internal rollup;
    RollupHandler internal handler;

    function setUp() public {
        address[] memory agents = new address[](3);
        agents[0] = makeAddr("agent0");
        agents[1] = makeAddr("agent1");
        agents[2] = makeAddr("agent2");
        address[] memory outsiders = new address[](2);
        outsiders[0] = makeAddr("outsider0");
        outsiders[1] = makeAddr("outsider1");

        vm.warp(1_700_000_000);
        ModeledProofVerifier verifier = new ModeledProofVerifier();
        rollup = new Rollup(verifier, agents, SLOT_SECONDS, GENESIS_ROOT, L2_CHAIN_ID);
        handler = new RollupHandler(rollup, verifier, outsiders);

        bytes4[] memory selectors = new bytes4[](8);
        selectors[0] = RollupHandler.warp.selector;
        selectors[1] = RollupHandler.submitNext.selector;
        selectors[2] = RollupHandler.submitFrom.selector;
        selectors[3] = RollupHandler.submitWithNumber.selector;
        selectors[4] = RollupHandler.submitWithLast.selector;
        selectors[5] = RollupHandler.submitWithPreRoot.selector;
        selectors[6] = RollupHandler.submitWithProof.selector;
        selectors[7] = RollupHandler.submitCopiedProof.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// Every accepted range starts at the block after the previous range's last and from its post root
    /// (the first range at block 1 from the genesis root), and is not empty.
    function invariant_chainIsContiguous() public view {
        uint64 expectedFirst = 1;
        bytes32 expectedPre = GENESIS_ROOT;
        for (uint256 i = 0; i < handler.ghostLength(); i++) {
            Rollup.RangeRecord memory r = handler.ghostRange(i);
            assertEq(rollup.rangeRecordHash(r.first), keccak256(abi.encode(r)), "record is not the stored one");
            assertEq(r.first, expectedFirst, "range does not start after the previous one");
            assertGe(r.last, r.first, "empty range");
            assertEq(r.preRoot, expectedPre, "pre root is not the previous post root");
            expectedFirst = r.last + 1;
            expectedPre = r.postRoot;
        }
    }

    /// provenHead is the last accepted range's last block and post root, or (0, genesis root) before any.
    function invariant_headIsLastRange() public view {
        (uint64 head, bytes32 headRoot) = rollup.provenHead();
        uint256 n = handler.ghostLength();
        if (n == 0) {
            assertEq(head, 0);
            assertEq(headRoot, GENESIS_ROOT);
        } else {
            Rollup.RangeRecord memory r = handler.ghostRange(n - 1);
            assertEq(rollup.rangeRecordHash(r.first), keccak256(abi.encode(r)));
            assertEq(head, r.last);
            assertEq(headRoot, r.postRoot);
        }
    }

    /// Every accepted range was posted by the owner of its slot, and its slot is the slot of its
    /// acceptance time; slots and times never go back along the chain.
    function invariant_rangesCameFromTheirSlotOwner() public view {
        uint64 lastSlot;
        for (uint256 i = 0; i < handler.ghostLength(); i++) {
            Rollup.RangeRecord memory r = handler.ghostRange(i);
            assertEq(rollup.rangeRecordHash(r.first), keccak256(abi.encode(r)), "record is not the stored one");
            assertEq(r.agent, rollup.slotOwner(r.slot), "agent does not own the range's slot");
            assertEq(r.slot, (r.acceptedAt - rollup.genesisTime()) / SLOT_SECONDS, "slot is not the acceptance slot");
            assertGe(r.slot, lastSlot, "slot went back");
            lastSlot = r.slot;
        }
    }

    /// The contract's chain is exactly the handler's ghost chain: every range start holds its record's
    /// hash, every block inside a range and past the head holds none.
    function invariant_contractEqualsGhost() public view {
        (uint64 head,) = rollup.provenHead();
        uint256 n = handler.ghostLength();
        assertEq(n, handler.accepted());
        assertEq(rollup.rangeRecordHash(0), bytes32(0));
        for (uint256 i = 0; i < n; i++) {
            Rollup.RangeRecord memory r = handler.ghostRange(i);
            assertEq(rollup.rangeRecordHash(r.first), keccak256(abi.encode(r)));
            for (uint64 b = r.first + 1; b <= r.last; b++) {
                assertEq(rollup.rangeRecordHash(b), bytes32(0), "a block inside a range has a record");
            }
        }
        assertEq(rollup.rangeRecordHash(head + 1), bytes32(0), "a record past the head");
    }

    /// Every submission succeeded or reverted exactly as the specification predicts.
    function invariant_outcomesMatchModel() public view {
        assertEq(handler.mismatches(), 0);
    }

    /// Liveness after every run: whatever happened, the owner of the current slot can still extend
    /// the chain with the correct next range, through the handler and as the model predicts.
    function afterInvariant() public {
        (uint64 head,) = rollup.provenHead();
        uint256 seed = uint256(keccak256("after invariant"));
        handler.submitNext(seed);
        (uint64 newHead,) = rollup.provenHead();
        assertEq(newHead, head + 1 + uint64(seed % 4));
        assertEq(handler.accepted(), handler.ghostLength());
        assertEq(handler.mismatches(), 0);
    }

    /// A fixed sequence drives every handler action through its expected outcome, so the handler
    /// really gets ranges accepted and refuses each kind of wrong submission.
    function test_handler_deterministicSequence() public {
        handler.submitNext(1); // range [1, 2], slot 0
        handler.submitFrom(4, 4); // outsider1: NotSlotOwner
        handler.submitFrom(1, 4); // agent1 in agent0's slot: NotSlotOwner
        handler.submitWithNumber(1, 4); // restarts at block 1: WrongBlockNumber
        handler.submitWithNumber(4, 4); // skips block 3: WrongBlockNumber
        handler.submitWithLast(2, 4); // [3, 2]: EmptyRange
        handler.submitWithPreRoot(GENESIS_ROOT, 4); // forks from genesis: WrongPreRoot
        handler.submitWithProof(hex"00", 4); // InvalidProof
        handler.submitCopiedProof(address(0xBEEF), 4); // another prover's proof: InvalidProof
        assertEq(handler.accepted(), 1);
        assertEq(handler.rejected(), 8);

        handler.warp(SLOT_SECONDS); // slot 1: agent1's turn
        handler.submitFrom(1, 4); // range [3, 3] by agent1, proved by a non-agent
        handler.warp(2 * SLOT_SECONDS); // slot 3: agent0's turn
        handler.submitNext(5); // range [4, 5], proved by agent0
        handler.submitWithLast(9, 6); // range [6, 9] instead of [6, 8]: any length with its own proof
        assertEq(handler.accepted(), 4);
        assertEq(handler.rejected(), 8);
        assertEq(handler.mismatches(), 0);

        (uint64 head,) = rollup.provenHead();
        assertEq(head, 9);
        assertEq(handler.ghostRange(1).agent, makeAddr("agent1"));
        assertEq(handler.ghostRange(1).first, 3);
        assertEq(handler.ghostRange(2).slot, 3);
        assertEq(handler.ghostRange(2).prover, makeAddr("agent0"));
        invariant_chainIsContiguous();
        invariant_headIsLastRange();
        invariant_rangesCameFromTheirSlotOwner();
        invariant_contractEqualsGhost();
    }
}
