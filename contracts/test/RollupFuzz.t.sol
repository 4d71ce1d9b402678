// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Rollup} from "../src/Rollup.sol";
import {RollupFixture} from "./utils/RollupFixture.sol";

/// @title RollupFuzzTest
/// @notice Property tests of Rollup.submitRange: each check refuses every wrong value, only the owner of
///         the current slot can submit, whatever the time, agent count and slot length, and any slot
///         owner can post a valid range whoever proved it.
/// @dev Each test first builds a chain of 0-4 single-block ranges (bounded seed) so that the properties
///      hold at any head, and leaves every field but the one under test correct, so that the expected
///      error is the only possible one.
contract RollupFuzzTest is RollupFixture {
    uint256 internal constant MAX_HEAD = 4;
    uint256 internal constant MAX_RANGE = 16;

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
        bytes memory proof = proofOf(n, n, preRoot, postRootOf(n), txCommitmentOf(n), proverOf(n));
        address owner = currentOwner();

        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongPreRoot.selector, expected, preRoot));
        vm.prank(owner);
        rollup.submitRange(n, n, preRoot, postRootOf(n), txCommitmentOf(n), proverOf(n), proof);
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
        rollup.submitRange(1, 1, preRootOf(1), postRootOf(1), txCommitmentOf(1), proverOf(1), proof);
    }

    /// Any first block but provenHead + 1 reverts WrongBlockNumber(head + 1, first), whatever the last.
    function testFuzz_wrongBlockNumber_reverts(uint256 headSeed, uint64 first, uint64 last) public {
        uint64 n = _buildChain(headSeed);
        vm.assume(first != n);
        bytes memory proof = canonicalProof(n);
        address owner = currentOwner();

        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongBlockNumber.selector, n, first));
        vm.prank(owner);
        rollup.submitRange(first, last, preRootOf(n), postRootOf(n), txCommitmentOf(n), proverOf(n), proof);
    }

    /// Any last block before the first reverts EmptyRange(first, last), even with a valid proof of it.
    function testFuzz_emptyRange_reverts(uint256 headSeed, uint64 last) public {
        uint64 n = _buildChain(headSeed);
        last = uint64(bound(last, 0, n - 1));
        bytes memory proof = proofOf(n, last, preRootOf(n), postRootOf(n), txCommitmentOf(n), proverOf(n));
        address owner = currentOwner();

        vm.expectRevert(abi.encodeWithSelector(Rollup.EmptyRange.selector, n, last));
        vm.prank(owner);
        rollup.submitRange(n, last, preRootOf(n), postRootOf(n), txCommitmentOf(n), proverOf(n), proof);
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
            rollup.submitRange(1, 1, preRootOf(1), postRootOf(1), txCommitmentOf(1), proverOf(1), proof);
        }
        submitCanonicalAs(owner, 1);
        assertEq(rollup.rangeRecordHash(1), hashOf(canonicalRecord(1, owner, slot, uint64(t))));
    }

    /// Any proof bytes other than the 32-byte record revert InvalidProof.
    function testFuzz_wrongProofBytes_reverts(uint256 headSeed, bytes calldata proof) public {
        uint64 n = _buildChain(headSeed);
        bytes memory valid = canonicalProof(n);
        vm.assume(keccak256(proof) != keccak256(valid));
        address owner = currentOwner();

        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(owner);
        rollup.submitRange(n, n, preRootOf(n), postRootOf(n), txCommitmentOf(n), proverOf(n), proof);
    }

    /// Any 32-byte word other than the record reverts InvalidProof (the length check alone does not
    /// reject these).
    function testFuzz_wrongProofWord_reverts(uint256 headSeed, bytes32 word) public {
        uint64 n = _buildChain(headSeed);
        vm.assume(word != bytes32(canonicalProof(n)));
        address owner = currentOwner();

        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(owner);
        rollup.submitRange(
            n, n, preRootOf(n), postRootOf(n), txCommitmentOf(n), proverOf(n), abi.encodePacked(word)
        );
    }

    /// A valid proof made for one prover, submitted naming another (a copier), reverts InvalidProof.
    function testFuzz_copiedProof_reverts(uint256 headSeed, address prover, address thief) public {
        vm.assume(prover != thief);
        uint64 n = _buildChain(headSeed);
        bytes memory stolen = proofOf(n, n, preRootOf(n), postRootOf(n), txCommitmentOf(n), prover);
        address owner = currentOwner();

        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(owner);
        rollup.submitRange(n, n, preRootOf(n), postRootOf(n), txCommitmentOf(n), thief, stolen);
    }

    /// A valid proof of [first, last] relabelled as another last block reverts InvalidProof.
    function testFuzz_relabelledLast_reverts(uint256 headSeed, uint256 lastSeed, uint256 otherSeed) public {
        uint64 n = _buildChain(headSeed);
        uint64 last = uint64(bound(lastSeed, n, n + MAX_RANGE));
        uint64 other = uint64(bound(otherSeed, n, n + MAX_RANGE));
        vm.assume(other != last);
        bytes memory proof = proofOf(n, last, preRootOf(n), postRootOf(n), txCommitmentOf(n), proverOf(n));
        address owner = currentOwner();

        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(owner);
        rollup.submitRange(n, other, preRootOf(n), postRootOf(n), txCommitmentOf(n), proverOf(n), proof);
    }

    /// Any range contents and prover with a valid proof are accepted from the owner of any slot: the range
    /// becomes the new head, its record hash (prover and posting agent included) is stored, and the next
    /// range must start after it from its post root.
    function testFuzz_validRange_isAccepted(
        uint256 headSeed,
        uint256 lengthSeed,
        uint256 slotSeed,
        bytes32 postRoot,
        bytes32 txCommitment,
        address prover
    ) public {
        Rollup.RangeRecord memory record;
        record.first = _buildChain(headSeed);
        record.last = uint64(bound(lengthSeed, record.first, record.first + MAX_RANGE));
        (, record.preRoot) = rollup.provenHead();
        record.postRoot = postRoot;
        record.txCommitment = txCommitment;
        record.prover = prover;
        record.slot = uint64(bound(slotSeed, rollup.currentSlot(), rollup.currentSlot() + 100));
        warpToSlot(record.slot);
        record.agent = currentOwner();
        record.acceptedAt = uint64(block.timestamp);
        _submitRecord(record);

        (uint64 head, bytes32 headRoot) = rollup.provenHead();
        assertEq(head, record.last);
        assertEq(headRoot, postRoot);
        assertEq(rollup.rangeRecordHash(record.first), hashOf(record));

        record.first = record.last + 1;
        record.last = record.first;
        record.preRoot = postRoot;
        record.postRoot = keccak256("next post");
        _submitRecord(record);
        (head,) = rollup.provenHead();
        assertEq(head, record.last);
    }

    /// Submits the range of `record` as its agent, with its valid modeled proof.
    function _submitRecord(Rollup.RangeRecord memory r) internal {
        bytes memory proof = proofOf(r.first, r.last, r.preRoot, r.postRoot, r.txCommitment, r.prover);
        vm.prank(r.agent);
        rollup.submitRange(r.first, r.last, r.preRoot, r.postRoot, r.txCommitment, r.prover, proof);
    }
}
