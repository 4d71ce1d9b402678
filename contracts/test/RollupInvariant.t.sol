// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {CommonBase} from "forge-std/Base.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Rollup} from "../src/Rollup.sol";
import {ModeledProofVerifier} from "../src/simulation/ModeledProofVerifier.sol";

/// @title RollupHandler
/// @notice The actions the invariant fuzzer takes against a Rollup: let time pass, submit the correct
///         next block, or submit with one field wrong (sender, number, pre root, proof bytes, a proof
///         of another aggregator's block). Every submission is checked against a model of the
///         specification kept here (the ghost chain and the slot schedule): the model predicts success
///         or the exact revert data, and every disagreement is counted in `mismatches`.
/// @dev Reverts are caught, so no action reverts. Time is kept in `time` and re-applied with vm.warp
///      before each submission, so it only moves forward whatever the fuzzer does between calls.
contract RollupHandler is CommonBase, StdUtils {
    Rollup public immutable rollup;
    bytes32 internal immutable _tag;
    address[] internal _agents;
    /// @dev The agents, then addresses that are not agents.
    address[] internal _senders;
    /// @dev Ghost chain: _ghost[i] is the record of block i + 1.
    Rollup.BlockRecord[] internal _ghost;

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
        _agents = rollup_.agents();
        _senders = rollup_.agents();
        for (uint256 i = 0; i < outsiders.length; i++) {
            _senders.push(outsiders[i]);
        }
        time = block.timestamp;
    }

    /// @dev One submitBlock call.
    struct Submission {
        address sender;
        uint64 number;
        bytes32 pre;
        bytes32 post;
        bytes32 txc;
        address agg;
        bytes proof;
    }

    // ---------------------------------------------------------------- actions

    /// @notice Lets 0 to 3 slots' worth of time pass.
    function warp(uint256 secondsSeed) external {
        time += bound(secondsSeed, 0, 3 * uint256(rollup.slotSeconds()));
    }

    /// @notice The slot owner submits the correct next block (contents derived from `contentSeed`).
    function submitNext(uint256 contentSeed) external {
        _attempt(_correct(contentSeed));
    }

    /// @notice An agent or an outsider submits the correct next block.
    function submitFrom(uint256 senderSeed, uint256 contentSeed) external {
        Submission memory s = _correct(contentSeed);
        s.sender = _senders[senderSeed % _senders.length];
        _attempt(s);
    }

    /// @notice The slot owner submits a correct block under block number `number`.
    function submitWithNumber(uint64 number, uint256 contentSeed) external {
        Submission memory s = _correct(contentSeed);
        s.number = number;
        _attempt(s);
    }

    /// @notice The slot owner submits the next block from pre root `pre`, with a valid proof of it.
    function submitWithPreRoot(bytes32 pre, uint256 contentSeed) external {
        Submission memory s = _correct(contentSeed);
        s.pre = pre;
        s.proof = _record(pre, s.post, s.txc, s.agg);
        _attempt(s);
    }

    /// @notice The slot owner submits the next block with proof bytes `proof`.
    function submitWithProof(bytes calldata proof, uint256 contentSeed) external {
        Submission memory s = _correct(contentSeed);
        s.proof = proof;
        _attempt(s);
    }

    /// @notice The slot owner submits the next block with the proof of the same block by `prover`.
    function submitCopiedProof(address prover, uint256 contentSeed) external {
        Submission memory s = _correct(contentSeed);
        s.proof = _record(s.pre, s.post, s.txc, prover);
        _attempt(s);
    }

    // ---------------------------------------------------------------- ghost readback

    /// @notice Number of blocks in the ghost chain.
    function ghostHead() external view returns (uint64) {
        return uint64(_ghost.length);
    }

    /// @notice Ghost record of block `number` (1-based).
    function ghostBlock(uint64 number) external view returns (Rollup.BlockRecord memory) {
        return _ghost[number - 1];
    }

    // ---------------------------------------------------------------- model

    /// @dev The correct next block at `time`, with contents derived from `seed`: from the slot owner,
    ///      numbered head + 1, from the last post root, with its valid modeled proof.
    function _correct(uint256 seed) internal view returns (Submission memory s) {
        s.sender = _owner();
        s.number = _nextNumber();
        s.pre = _lastPostRoot();
        s.post = keccak256(abi.encode("post", seed));
        s.txc = keccak256(abi.encode("txs", seed));
        s.agg = address(uint160(uint256(keccak256(abi.encode("aggregator", seed)))));
        s.proof = _record(s.pre, s.post, s.txc, s.agg);
    }

    /// @dev Submits `s` at `time`; compares the outcome with the model's prediction and, on
    ///      acceptance, appends the block to the ghost chain.
    function _attempt(Submission memory s) internal {
        vm.warp(time);
        bytes memory predicted = _predictedError(s);
        vm.prank(s.sender);
        try rollup.submitBlock(s.number, s.pre, s.post, s.txc, s.agg, s.proof) {
            if (predicted.length != 0) {
                mismatches++;
                return;
            }
            // casting to 'uint64' is safe because time grows by at most 36 s per call from 2023's timestamp
            // forge-lint: disable-next-line(unsafe-typecast)
            _ghost.push(Rollup.BlockRecord(s.pre, s.post, s.txc, s.agg, s.sender, _slot(), uint64(time)));
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
        if (s.number != _nextNumber()) {
            return abi.encodeWithSelector(Rollup.WrongBlockNumber.selector, _nextNumber(), s.number);
        }
        if (s.pre != _lastPostRoot()) {
            return abi.encodeWithSelector(Rollup.WrongPreRoot.selector, _lastPostRoot(), s.pre);
        }
        if (keccak256(s.proof) != keccak256(_record(s.pre, s.post, s.txc, s.agg))) {
            return abi.encodeWithSelector(Rollup.InvalidProof.selector);
        }
        return "";
    }

    /// @dev The modeled proof record, computed from the specification (not through the contracts).
    function _record(bytes32 pre, bytes32 post, bytes32 txc, address agg) internal view returns (bytes memory) {
        bytes32[] memory inputs = new bytes32[](4);
        inputs[0] = pre;
        inputs[1] = post;
        inputs[2] = txc;
        inputs[3] = bytes32(uint256(uint160(agg)));
        return abi.encodePacked(keccak256(abi.encode(_tag, inputs)));
    }

    function _slot() internal view returns (uint64) {
        return uint64((time - rollup.genesisTime()) / rollup.slotSeconds());
    }

    function _owner() internal view returns (address) {
        return _agents[_slot() % _agents.length];
    }

    function _nextNumber() internal view returns (uint64) {
        return uint64(_ghost.length) + 1;
    }

    function _lastPostRoot() internal view returns (bytes32) {
        return _ghost.length == 0 ? rollup.genesisRoot() : _ghost[_ghost.length - 1].postRoot;
    }
}

/// @title RollupInvariantTest
/// @notice Invariants of Rollup under random sequences of RollupHandler actions: the accepted chain is
///         contiguous from the genesis root, the head root is the last post root, every block came from
///         the owner of its slot, the contract equals the handler's ghost chain, and every outcome
///         matched the model.
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

        bytes4[] memory selectors = new bytes4[](7);
        selectors[0] = RollupHandler.warp.selector;
        selectors[1] = RollupHandler.submitNext.selector;
        selectors[2] = RollupHandler.submitFrom.selector;
        selectors[3] = RollupHandler.submitWithNumber.selector;
        selectors[4] = RollupHandler.submitWithPreRoot.selector;
        selectors[5] = RollupHandler.submitWithProof.selector;
        selectors[6] = RollupHandler.submitCopiedProof.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// Every accepted block starts from the previous block's post root (block 1 from the genesis root).
    function invariant_chainIsContiguous() public view {
        (uint64 head,) = rollup.provenHead();
        bytes32 expectedPre = GENESIS_ROOT;
        for (uint64 n = 1; n <= head; n++) {
            Rollup.BlockRecord memory b = rollup.blockAt(n);
            assertEq(b.preRoot, expectedPre, "pre root is not the previous post root");
            expectedPre = b.postRoot;
        }
    }

    /// provenHead's root is the last accepted block's post root, or the genesis root before any block.
    function invariant_headRootIsLastPostRoot() public view {
        (uint64 head, bytes32 headRoot) = rollup.provenHead();
        assertEq(headRoot, head == 0 ? GENESIS_ROOT : rollup.blockAt(head).postRoot);
    }

    /// Every accepted block was submitted by the owner of its slot, and its slot is the slot of its
    /// acceptance time; slots and times never go back along the chain.
    function invariant_blocksCameFromTheirSlotOwner() public view {
        (uint64 head,) = rollup.provenHead();
        uint64 lastSlot;
        for (uint64 n = 1; n <= head; n++) {
            Rollup.BlockRecord memory b = rollup.blockAt(n);
            assertEq(b.agent, rollup.slotOwner(b.slot), "agent does not own the block's slot");
            assertEq(b.slot, (b.acceptedAt - rollup.genesisTime()) / SLOT_SECONDS, "slot is not the acceptance slot");
            assertGe(b.slot, lastSlot, "slot went back");
            lastSlot = b.slot;
        }
    }

    /// The contract's chain is exactly the handler's ghost chain.
    function invariant_contractEqualsGhost() public view {
        (uint64 head,) = rollup.provenHead();
        assertEq(head, handler.ghostHead());
        assertEq(head, handler.accepted());
        for (uint64 n = 1; n <= head; n++) {
            assertEq(keccak256(abi.encode(rollup.blockAt(n))), keccak256(abi.encode(handler.ghostBlock(n))));
        }
    }

    /// Every submission succeeded or reverted exactly as the specification predicts.
    function invariant_outcomesMatchModel() public view {
        assertEq(handler.mismatches(), 0);
    }

    /// Liveness after every run: whatever happened, the owner of the current slot can still extend
    /// the chain with the correct next block, through the handler and as the model predicts.
    function afterInvariant() public {
        (uint64 head,) = rollup.provenHead();
        handler.submitNext(uint256(keccak256("after invariant")));
        (uint64 newHead,) = rollup.provenHead();
        assertEq(newHead, head + 1);
        assertEq(handler.accepted(), newHead);
        assertEq(handler.mismatches(), 0);
    }

    /// A fixed sequence drives every handler action through its expected outcome, so the handler
    /// really gets blocks accepted and refuses each kind of wrong submission.
    function test_handler_deterministicSequence() public {
        handler.submitNext(1); // block 1, slot 0
        handler.submitFrom(4, 2); // outsider1: NotSlotOwner
        handler.submitFrom(1, 2); // agent1 in agent0's slot: NotSlotOwner
        handler.submitWithNumber(1, 2); // resubmits block 1: WrongBlockNumber
        handler.submitWithNumber(3, 2); // skips block 2: WrongBlockNumber
        handler.submitWithPreRoot(GENESIS_ROOT, 2); // forks from genesis: WrongPreRoot
        handler.submitWithProof(hex"00", 2); // InvalidProof
        handler.submitCopiedProof(address(0xBEEF), 2); // InvalidProof
        assertEq(handler.accepted(), 1);
        assertEq(handler.rejected(), 7);

        handler.warp(SLOT_SECONDS); // slot 1: agent1's turn
        handler.submitFrom(1, 2); // block 2 by agent1
        handler.warp(2 * SLOT_SECONDS); // slot 3: agent0's turn
        handler.submitNext(3); // block 3
        assertEq(handler.accepted(), 3);
        assertEq(handler.rejected(), 7);
        assertEq(handler.mismatches(), 0);

        (uint64 head,) = rollup.provenHead();
        assertEq(head, 3);
        assertEq(rollup.blockAt(2).agent, makeAddr("agent1"));
        assertEq(rollup.blockAt(3).slot, 3);
        invariant_chainIsContiguous();
        invariant_contractEqualsGhost();
    }
}
