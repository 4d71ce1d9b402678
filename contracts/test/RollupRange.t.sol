// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Rollup} from "../src/Rollup.sol";
import {RollupFixture} from "./utils/RollupFixture.sol";

/// @title RollupRangeTest
/// @notice The range path with modeled proofs: contiguous ranges are accepted and only their record's hash
///         is stored; the binding ties a proof to the chain id, the block numbers and the sender; each
///         refusal (slot owner, first block, empty range, pre root, proof) comes with its typed error.
contract RollupRangeTest is RollupFixture {
    /// The modeled proof of range [first, last] submitted by `submitter`.
    function rangeProofOf(uint64 first, uint64 last, bytes32 postRoot, address submitter)
        internal
        view
        returns (bytes memory)
    {
        bytes32[] memory inputs =
            rollup.rangeInputs(first, last, preRootOf(first), postRoot, txCommitmentOf(first), submitter);
        return abi.encodePacked(verifier.recordOf(inputs));
    }

    /// Submits [first, last] as `agent` (pranked), with the canonical roots of its ends.
    function submit(address agent, uint64 first, uint64 last) internal {
        bytes memory proof = rangeProofOf(first, last, postRootOf(last), agent);
        vm.prank(agent);
        rollup.submitRange(first, last, preRootOf(first), postRootOf(last), txCommitmentOf(first), proof);
    }

    /// The binding is keccak256(abi.encode(l2ChainId, first, last, submitter)) with each 8-byte word's top
    /// bit cleared, so its four words are canonical Goldilocks elements.
    function test_rangeBinding_isTheMaskedAbiHash() public view {
        bytes32 binding = rollup.rangeBinding(3, 9, agents[1]);
        bytes32 hash = keccak256(abi.encode(L2_CHAIN_ID, uint64(3), uint64(9), agents[1]));
        assertEq(binding, hash & rollup.BINDING_MASK(), "masked hash");
        for (uint256 word = 0; word < 4; word++) {
            assertEq(uint256(binding) >> (255 - 64 * word) & 1, 0, "top bit of each word cleared");
        }
        assertTrue(binding != rollup.rangeBinding(3, 9, agents[0]), "the submitter is bound");
        assertTrue(binding != rollup.rangeBinding(3, 8, agents[1]), "the last block is bound");
        assertTrue(binding != rollup.rangeBinding(4, 9, agents[1]), "the first block is bound");
    }

    /// Ranges [1, 1], [2, 5], [6, 6] are accepted in order; the head follows; each range's stored hash is
    /// the hash of its record; the first block of a later range is not a range start.
    function test_submitRange_acceptsContiguousRanges() public {
        submit(agents[0], 1, 1);
        submit(agents[0], 2, 5);
        submit(agents[0], 6, 6);
        (uint64 head, bytes32 headRoot) = rollup.provenHead();
        assertEq(head, 6, "head");
        assertEq(headRoot, postRootOf(6), "head root");
        Rollup.RangeRecord memory record = Rollup.RangeRecord(
            2, 5, preRootOf(2), postRootOf(5), txCommitmentOf(2), agents[0], 0, uint64(block.timestamp)
        );
        assertEq(rollup.rangeRecordHash(2), keccak256(abi.encode(record)), "stored record hash");
        assertEq(rollup.rangeRecordHash(3), bytes32(0), "no range starts at 3");
    }

    /// The event carries the whole record and its hash.
    function test_submitRange_emitsRangeAccepted() public {
        bytes memory proof = rangeProofOf(1, 4, postRootOf(4), agents[0]);
        Rollup.RangeRecord memory record = Rollup.RangeRecord(
            1, 4, GENESIS_ROOT, postRootOf(4), txCommitmentOf(1), agents[0], 0, uint64(block.timestamp)
        );
        vm.expectEmit(address(rollup));
        emit Rollup.RangeAccepted(
            1, 4, GENESIS_ROOT, postRootOf(4), txCommitmentOf(1), agents[0], 0, keccak256(abi.encode(record))
        );
        vm.prank(agents[0]);
        rollup.submitRange(1, 4, GENESIS_ROOT, postRootOf(4), txCommitmentOf(1), proof);
    }

    /// A range continues the chain the per-block path left.
    function test_submitRange_continuesAfterSubmitBlock() public {
        bytes memory blockProof = proofOf(GENESIS_ROOT, postRootOf(1), txCommitmentOf(1), aggregatorOf(1));
        vm.prank(agents[0]);
        rollup.submitBlock(1, GENESIS_ROOT, postRootOf(1), txCommitmentOf(1), aggregatorOf(1), blockProof);
        submit(agents[0], 2, 3);
        (uint64 head,) = rollup.provenHead();
        assertEq(head, 3);
        vm.expectRevert(abi.encodeWithSelector(Rollup.UnknownBlock.selector, uint64(2)));
        rollup.blockAt(2);
    }

    /// Only the slot's owner submits.
    function test_submitRange_revertsNotSlotOwner() public {
        bytes memory proof = rangeProofOf(1, 1, postRootOf(1), agents[1]);
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotSlotOwner.selector, agents[1], agents[0], uint64(0)));
        vm.prank(agents[1]);
        rollup.submitRange(1, 1, GENESIS_ROOT, postRootOf(1), txCommitmentOf(1), proof);
    }

    /// A range must start right after the head, and end no earlier than it starts.
    function test_submitRange_revertsWrongFirstBlockAndEmptyRange() public {
        bytes memory proof = rangeProofOf(2, 2, postRootOf(2), agents[0]);
        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongBlockNumber.selector, uint64(1), uint64(2)));
        vm.prank(agents[0]);
        rollup.submitRange(2, 2, preRootOf(2), postRootOf(2), txCommitmentOf(2), proof);

        proof = rangeProofOf(1, 0, postRootOf(1), agents[0]);
        vm.expectRevert(abi.encodeWithSelector(Rollup.EmptyRange.selector, uint64(1), uint64(0)));
        vm.prank(agents[0]);
        rollup.submitRange(1, 0, GENESIS_ROOT, postRootOf(1), txCommitmentOf(1), proof);
    }

    /// The pre root must be the last accepted post root.
    function test_submitRange_revertsWrongPreRoot() public {
        bytes32 wrong = keccak256("not the genesis root");
        bytes32[] memory inputs = rollup.rangeInputs(1, 1, wrong, postRootOf(1), txCommitmentOf(1), agents[0]);
        bytes memory proof = abi.encodePacked(verifier.recordOf(inputs));
        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongPreRoot.selector, GENESIS_ROOT, wrong));
        vm.prank(agents[0]);
        rollup.submitRange(1, 1, wrong, postRootOf(1), txCommitmentOf(1), proof);
    }

    /// A proof bound to another submitter, other block numbers or another post root is refused: a proof
    /// taken from the mempool cannot be submitted by the next slot's owner, nor relabelled.
    function test_submitRange_revertsInvalidProofForAnotherBinding() public {
        bytes memory forOther = rangeProofOf(1, 2, postRootOf(2), agents[1]);
        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(agents[0]);
        rollup.submitRange(1, 2, GENESIS_ROOT, postRootOf(2), txCommitmentOf(1), forOther);

        bytes memory forShorter = rangeProofOf(1, 1, postRootOf(2), agents[0]);
        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(agents[0]);
        rollup.submitRange(1, 2, GENESIS_ROOT, postRootOf(2), txCommitmentOf(1), forShorter);

        bytes memory honest = rangeProofOf(1, 2, postRootOf(2), agents[0]);
        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(agents[0]);
        rollup.submitRange(1, 2, GENESIS_ROOT, keccak256("another post root"), txCommitmentOf(1), honest);

        vm.prank(agents[0]);
        rollup.submitRange(1, 2, GENESIS_ROOT, postRootOf(2), txCommitmentOf(1), honest);
        (uint64 head,) = rollup.provenHead();
        assertEq(head, 2, "the honest submission is accepted");
    }
}
