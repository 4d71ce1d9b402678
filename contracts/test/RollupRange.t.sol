// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Vm.sol";
import {Rollup} from "../src/Rollup.sol";
import {RollupFixture} from "./utils/RollupFixture.sol";

/// @title RollupRangeTest
/// @notice Ranges with modeled proofs: contiguous ranges are accepted and only their record's hash is
///         stored; the binding ties a proof to the chain id, the block numbers and the prover (not the
///         L1 sender), so any slot owner may post a range while a proof relabelled with another prover
///         is refused; each refusal (slot owner, first block, empty range, pre root, proof) comes with its
///         typed error.
contract RollupRangeTest is RollupFixture {
    address internal proverA;
    address internal proverB;

    function setUp() public override {
        super.setUp();
        proverA = makeAddr("prover A");
        proverB = makeAddr("prover B");
    }

    /// The modeled proof of range [first, last] (canonical pre root and commitment of `first`, post root
    /// `postRoot`) proved by `prover`.
    function rangeProofOf(uint64 first, uint64 last, bytes32 postRoot, address prover)
        internal
        view
        returns (bytes memory)
    {
        return proofOf(first, last, preRootOf(first), postRoot, txCommitmentOf(first), prover);
    }

    /// Submits [first, last] proved by `prover` as `agent` (pranked), with the canonical roots of its ends.
    function submit(address agent, address prover, uint64 first, uint64 last) internal {
        bytes memory proof = rangeProofOf(first, last, postRootOf(last), prover);
        vm.prank(agent);
        rollup.submitRange(first, last, preRootOf(first), postRootOf(last), txCommitmentOf(first), prover, proof);
    }

    /// The record of canonical range [first, last] proved by `prover`, posted by `agent`.
    function rangeRecord(uint64 first, uint64 last, address prover, address agent, uint64 slot)
        internal
        view
        returns (Rollup.RangeRecord memory)
    {
        return Rollup.RangeRecord(
            first,
            last,
            preRootOf(first),
            postRootOf(last),
            txCommitmentOf(first),
            prover,
            agent,
            slot,
            uint64(block.timestamp)
        );
    }

    /// The binding is keccak256(abi.encode(l2ChainId, first, last, prover)) with each 8-byte word's top
    /// bit cleared, so its four words are canonical Goldilocks elements.
    function test_rangeBinding_isTheMaskedAbiHash() public {
        bytes32 binding = rollup.rangeBinding(3, 9, proverA);
        bytes32 hash = keccak256(abi.encode(L2_CHAIN_ID, uint64(3), uint64(9), proverA));
        assertEq(binding, hash & rollup.BINDING_MASK(), "masked hash");
        for (uint256 word = 0; word < 4; word++) {
            assertEq(uint256(binding) >> (255 - 64 * word) & 1, 0, "top bit of each word cleared");
        }
        assertTrue(binding != rollup.rangeBinding(3, 9, proverB), "the prover is bound");
        assertTrue(binding != rollup.rangeBinding(3, 8, proverA), "the last block is bound");
        assertTrue(binding != rollup.rangeBinding(4, 9, proverA), "the first block is bound");
        Rollup other = new Rollup(verifier, agents, SLOT_SECONDS, GENESIS_ROOT, L2_CHAIN_ID + 1);
        assertTrue(binding != other.rangeBinding(3, 9, proverA), "the chain id is bound");
    }

    /// Ranges [1, 1], [2, 5], [6, 6] are accepted in order; the head follows; each range's stored hash is
    /// the hash of its record; the first block of a later range is not a range start.
    function test_submitRange_acceptsContiguousRanges() public {
        submit(agents[0], proverA, 1, 1);
        submit(agents[0], proverB, 2, 5);
        submit(agents[0], proverA, 6, 6);
        (uint64 head, bytes32 headRoot) = rollup.provenHead();
        assertEq(head, 6, "head");
        assertEq(headRoot, postRootOf(6), "head root");
        assertEq(rollup.rangeRecordHash(2), hashOf(rangeRecord(2, 5, proverB, agents[0], 0)), "stored record hash");
        assertEq(rollup.rangeRecordHash(3), bytes32(0), "no range starts at 3");
    }

    /// The event carries the whole record and its hash.
    function test_submitRange_emitsRangeAccepted() public {
        bytes memory proof = rangeProofOf(1, 4, postRootOf(4), proverA);
        bytes32 recordHash = hashOf(rangeRecord(1, 4, proverA, agents[0], 0));
        vm.expectEmit(address(rollup));
        emit Rollup.RangeAccepted(
            1, 4, GENESIS_ROOT, postRootOf(4), txCommitmentOf(1), proverA, agents[0], 0, recordHash
        );
        vm.prank(agents[0]);
        rollup.submitRange(1, 4, GENESIS_ROOT, postRootOf(4), txCommitmentOf(1), proverA, proof);
    }

    /// The stored hash is keccak256(abi.encode(RangeRecord)) of the record read back from the event's
    /// fields (indexed first and agent from the topics, the rest from the data), prover and agent included.
    function test_submitRange_storedHashIsTheEventRecord() public {
        submitCanonicalAs(agents[0], 1);
        warpToSlot(2);
        bytes memory proof = rangeProofOf(2, 3, postRootOf(3), proverB);
        vm.recordLogs();
        vm.prank(agents[2]);
        rollup.submitRange(2, 3, preRootOf(2), postRootOf(3), txCommitmentOf(2), proverB, proof);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].emitter, address(rollup));
        assertEq(logs[0].topics[0], Rollup.RangeAccepted.selector);

        Rollup.RangeRecord memory record;
        record.first = uint64(uint256(logs[0].topics[1]));
        record.agent = address(uint160(uint256(logs[0].topics[2])));
        bytes32 recordHash;
        (record.last, record.preRoot, record.postRoot, record.txCommitment, record.prover, record.slot, recordHash)
        = abi.decode(logs[0].data, (uint64, bytes32, bytes32, bytes32, address, uint64, bytes32));
        record.acceptedAt = uint64(block.timestamp);

        assertEq(record.prover, proverB, "the event names the prover");
        assertEq(record.agent, agents[2], "the event names the posting agent");
        assertEq(record.slot, 2, "slot");
        assertEq(recordHash, keccak256(abi.encode(record)), "event hash is the record's");
        assertEq(rollup.rangeRecordHash(record.first), keccak256(abi.encode(record)), "stored hash is the record's");
        assertEq(rollup.rangeRecordHash(2), hashOf(rangeRecord(2, 3, proverB, agents[2], 2)), "record from the spec");
    }

    /// A range continues the chain earlier single-block ranges left; only range starts have a hash.
    function test_submitRange_continuesAfterSingleBlockRanges() public {
        submitCanonicalAs(agents[0], 1);
        submit(agents[0], proverA, 2, 3);
        (uint64 head,) = rollup.provenHead();
        assertEq(head, 3);
        assertTrue(rollup.rangeRecordHash(2) != bytes32(0), "range [2, 3] stored");
        assertEq(rollup.rangeRecordHash(3), bytes32(0), "3 is inside [2, 3]");
    }

    /// Any slot owner may post any range: a range proved by agent0 (which would have posted it in its
    /// own slot, and missed it) is posted by agent1 in slot 1 with agent0 as the prover, and a range
    /// proved by a non-agent plugin by agent2 in slot 2. The record names both the prover and the poster.
    function test_submitRange_anySlotOwnerMayPostAnyRange() public {
        bytes memory proof = rangeProofOf(1, 2, postRootOf(2), agents[0]);
        warpToSlot(1); // agent0's slot 0 passed without a submission
        vm.prank(agents[1]);
        rollup.submitRange(1, 2, GENESIS_ROOT, postRootOf(2), txCommitmentOf(1), agents[0], proof);
        assertEq(rollup.rangeRecordHash(1), hashOf(rangeRecord(1, 2, agents[0], agents[1], 1)), "agent1 posted");

        warpToSlot(2);
        submit(agents[2], proverA, 3, 5);
        assertEq(rollup.rangeRecordHash(3), hashOf(rangeRecord(3, 5, proverA, agents[2], 2)), "agent2 posted");
        (uint64 head,) = rollup.provenHead();
        assertEq(head, 5);
    }

    /// Only the slot's owner submits, whoever proved the range (the prover itself included).
    function test_submitRange_revertsNotSlotOwner() public {
        bytes memory proof = rangeProofOf(1, 1, postRootOf(1), agents[1]);
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotSlotOwner.selector, agents[1], agents[0], uint64(0)));
        vm.prank(agents[1]);
        rollup.submitRange(1, 1, GENESIS_ROOT, postRootOf(1), txCommitmentOf(1), agents[1], proof);

        proof = rangeProofOf(1, 1, postRootOf(1), proverA);
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotSlotOwner.selector, proverA, agents[0], uint64(0)));
        vm.prank(proverA);
        rollup.submitRange(1, 1, GENESIS_ROOT, postRootOf(1), txCommitmentOf(1), proverA, proof);
    }

    /// A range must start right after the head, and end no earlier than it starts.
    function test_submitRange_revertsWrongFirstBlockAndEmptyRange() public {
        bytes memory proof = rangeProofOf(2, 2, postRootOf(2), proverA);
        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongBlockNumber.selector, uint64(1), uint64(2)));
        vm.prank(agents[0]);
        rollup.submitRange(2, 2, preRootOf(2), postRootOf(2), txCommitmentOf(2), proverA, proof);

        proof = rangeProofOf(1, 0, postRootOf(1), proverA);
        vm.expectRevert(abi.encodeWithSelector(Rollup.EmptyRange.selector, uint64(1), uint64(0)));
        vm.prank(agents[0]);
        rollup.submitRange(1, 0, GENESIS_ROOT, postRootOf(1), txCommitmentOf(1), proverA, proof);
    }

    /// The pre root must be the last accepted post root.
    function test_submitRange_revertsWrongPreRoot() public {
        bytes32 wrong = keccak256("not the genesis root");
        bytes memory proof = proofOf(1, 1, wrong, postRootOf(1), txCommitmentOf(1), proverA);
        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongPreRoot.selector, GENESIS_ROOT, wrong));
        vm.prank(agents[0]);
        rollup.submitRange(1, 1, wrong, postRootOf(1), txCommitmentOf(1), proverA, proof);
    }

    /// A proof made for prover A and submitted naming prover B is refused (a copier cannot claim the
    /// proof as its own, whichever agent posts it), as is a proof relabelled with other block numbers or
    /// another post root; the honest submission passes.
    function test_submitRange_revertsInvalidProofForAnotherBinding() public {
        bytes memory forA = rangeProofOf(1, 2, postRootOf(2), proverA);
        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(agents[0]);
        rollup.submitRange(1, 2, GENESIS_ROOT, postRootOf(2), txCommitmentOf(1), proverB, forA);

        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(agents[0]);
        rollup.submitRange(1, 2, GENESIS_ROOT, postRootOf(2), txCommitmentOf(1), agents[0], forA);

        bytes memory forShorter = rangeProofOf(1, 1, postRootOf(2), proverA);
        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(agents[0]);
        rollup.submitRange(1, 2, GENESIS_ROOT, postRootOf(2), txCommitmentOf(1), proverA, forShorter);

        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(agents[0]);
        rollup.submitRange(1, 2, GENESIS_ROOT, keccak256("another post root"), txCommitmentOf(1), proverA, forA);

        vm.prank(agents[0]);
        rollup.submitRange(1, 2, GENESIS_ROOT, postRootOf(2), txCommitmentOf(1), proverA, forA);
        (uint64 head,) = rollup.provenHead();
        assertEq(head, 2, "the honest submission is accepted");
        assertEq(rollup.rangeRecordHash(1), hashOf(rangeRecord(1, 2, proverA, agents[0], 0)), "names prover A");
    }
}
