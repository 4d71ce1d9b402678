// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Rollup} from "../src/Rollup.sol";
import {RollupFixture} from "./utils/RollupFixture.sol";

/// @title RollupFuzzTest
/// @notice Property tests of Rollup.submitBlock: each check refuses every wrong value, and only the
///         owner of the current slot can submit, whatever the time, agent count and slot length.
/// @dev Each test first builds a chain of 0-4 blocks (bounded seed) so that the properties hold at
///      any head, and leaves every field but the one under test correct, so that the expected error
///      is the only possible one.
contract RollupFuzzTest is RollupFixture {
    uint256 internal constant MAX_HEAD = 4;

    /// Accepts a chain of `bound(headSeed, 0, MAX_HEAD)` blocks; returns the next block number.
    function _buildChain(uint256 headSeed) internal returns (uint64 next) {
        uint64 head = uint64(bound(headSeed, 0, MAX_HEAD));
        acceptCanonicalBlocks(head);
        return head + 1;
    }

    /// Any pre root other than the last accepted post root reverts WrongPreRoot(expected, got).
    function testFuzz_wrongPreRoot_reverts(uint256 headSeed, bytes32 preRoot) public {
        uint64 n = _buildChain(headSeed);
        bytes32 expected = preRootOf(n);
        vm.assume(preRoot != expected);
        bytes memory proof = proofOf(preRoot, postRootOf(n), txCommitmentOf(n), aggregatorOf(n));
        address owner = currentOwner();

        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongPreRoot.selector, expected, preRoot));
        vm.prank(owner);
        rollup.submitBlock(n, preRoot, postRootOf(n), txCommitmentOf(n), aggregatorOf(n), proof);
    }

    /// Any sender but the slot owner reverts NotSlotOwner(sender, owner, slot), at any slot.
    function testFuzz_nonOwner_reverts(address sender, uint256 slotSeed) public {
        uint64 slot = uint64(bound(slotSeed, 0, 10_000_000));
        warpToSlot(slot);
        address owner = agents[slot % agents.length];
        vm.assume(sender != owner);
        bytes memory proof = canonicalProof(1);

        vm.expectRevert(abi.encodeWithSelector(Rollup.NotSlotOwner.selector, sender, owner, slot));
        vm.prank(sender);
        rollup.submitBlock(1, preRootOf(1), postRootOf(1), txCommitmentOf(1), aggregatorOf(1), proof);
    }

    /// Any number but provenHead + 1 reverts WrongBlockNumber(head + 1, number).
    function testFuzz_wrongBlockNumber_reverts(uint256 headSeed, uint64 number) public {
        uint64 n = _buildChain(headSeed);
        vm.assume(number != n);
        bytes memory proof = canonicalProof(n);
        address owner = currentOwner();

        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongBlockNumber.selector, n, number));
        vm.prank(owner);
        rollup.submitBlock(number, preRootOf(n), postRootOf(n), txCommitmentOf(n), aggregatorOf(n), proof);
    }

    /// At any time, with any agent count and slot length, the slot is (t - genesis) / slotSeconds,
    /// its owner is agents[slot % n], every other agent and an outsider are refused, and the owner
    /// succeeds.
    function testFuzz_onlyCurrentSlotOwnerCanSubmit(uint256 agentCountSeed, uint256 slotSecondsSeed, uint256 timestamp)
        public
    {
        uint256 count = bound(agentCountSeed, 1, 8);
        uint64 slotSeconds = uint64(bound(slotSecondsSeed, 1, 1 days));
        address[] memory set = new address[](count);
        for (uint256 i = 0; i < count; i++) {
            set[i] = makeAddr(string.concat("scheduled", vm.toString(i)));
        }
        rollup = new Rollup(verifier, set, slotSeconds, GENESIS_ROOT, L2_CHAIN_ID);
        uint256 t = bound(timestamp, DEPLOY_TIME, DEPLOY_TIME + 100 * 365 days);
        vm.warp(t);

        uint64 slot = uint64((t - DEPLOY_TIME) / slotSeconds);
        assertEq(rollup.currentSlot(), slot);
        address owner = set[slot % count];
        assertEq(rollup.slotOwner(slot), owner);

        bytes memory proof = canonicalProof(1);
        for (uint256 i = 0; i <= count; i++) {
            address sender = i < count ? set[i] : outsider;
            if (sender == owner) continue;
            vm.expectRevert(abi.encodeWithSelector(Rollup.NotSlotOwner.selector, sender, owner, slot));
            vm.prank(sender);
            rollup.submitBlock(1, preRootOf(1), postRootOf(1), txCommitmentOf(1), aggregatorOf(1), proof);
        }
        submitCanonicalAs(owner, 1);
        Rollup.BlockRecord memory b = rollup.blockAt(1);
        assertEq(b.agent, owner);
        assertEq(b.slot, slot);
    }

    /// Any proof bytes other than the 32-byte record revert InvalidProof.
    function testFuzz_wrongProofBytes_reverts(uint256 headSeed, bytes calldata proof) public {
        uint64 n = _buildChain(headSeed);
        bytes memory valid = canonicalProof(n);
        vm.assume(keccak256(proof) != keccak256(valid));
        address owner = currentOwner();

        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(owner);
        rollup.submitBlock(n, preRootOf(n), postRootOf(n), txCommitmentOf(n), aggregatorOf(n), proof);
    }

    /// Any 32-byte word other than the record reverts InvalidProof (the length check alone does not
    /// reject these).
    function testFuzz_wrongProofWord_reverts(uint256 headSeed, bytes32 word) public {
        uint64 n = _buildChain(headSeed);
        vm.assume(word != bytes32(canonicalProof(n)));
        address owner = currentOwner();

        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(owner);
        rollup.submitBlock(n, preRootOf(n), postRootOf(n), txCommitmentOf(n), aggregatorOf(n), abi.encodePacked(word));
    }

    /// A valid proof copied from another aggregator's block reverts InvalidProof.
    function testFuzz_copiedProof_reverts(uint256 headSeed, address aggregator, address thief) public {
        vm.assume(aggregator != thief);
        uint64 n = _buildChain(headSeed);
        bytes memory stolen = proofOf(preRootOf(n), postRootOf(n), txCommitmentOf(n), aggregator);
        address owner = currentOwner();

        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(owner);
        rollup.submitBlock(n, preRootOf(n), postRootOf(n), txCommitmentOf(n), thief, stolen);
    }

    /// Any block contents with a valid proof are accepted and become the new head, and the next
    /// block must start from their post root.
    function testFuzz_validBlock_isAccepted(
        uint256 headSeed,
        bytes32 postRoot,
        bytes32 txCommitment,
        address aggregator
    ) public {
        uint64 n = _buildChain(headSeed);
        bytes32 preRoot = preRootOf(n);
        bytes memory proof = proofOf(preRoot, postRoot, txCommitment, aggregator);
        address owner = currentOwner();
        vm.prank(owner);
        rollup.submitBlock(n, preRoot, postRoot, txCommitment, aggregator, proof);

        (uint64 head, bytes32 headRoot) = rollup.provenHead();
        assertEq(head, n);
        assertEq(headRoot, postRoot);
        Rollup.BlockRecord memory b = rollup.blockAt(n);
        assertEq(b.preRoot, preRoot);
        assertEq(b.txCommitment, txCommitment);
        assertEq(b.aggregator, aggregator);
        assertEq(b.agent, owner);
    }
}
