// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Rollup} from "../src/Rollup.sol";
import {IVerifier} from "../src/IVerifier.sol";
import {RollupFixture} from "./utils/RollupFixture.sol";

/// @title RollupTest
/// @notice Unit tests of Rollup: configuration, acceptance of (single-block) ranges, the slot schedule and
///         every revert.
contract RollupTest is RollupFixture {
    // ---------------------------------------------------------------- constructor

    /// The constructor records its configuration; the chain starts at block 0 with the genesis root.
    function test_constructor_recordsConfig() public view {
        assertEq(address(rollup.verifier()), address(verifier));
        assertEq(rollup.genesisTime(), DEPLOY_TIME);
        assertEq(rollup.slotSeconds(), SLOT_SECONDS);
        assertEq(rollup.genesisRoot(), GENESIS_ROOT);
        assertEq(rollup.agents(), agents);
        assertEq(rollup.currentSlot(), 0);
        (uint64 head, bytes32 postRoot) = rollup.provenHead();
        assertEq(head, 0);
        assertEq(postRoot, GENESIS_ROOT);
    }

    /// A zero verifier address is refused.
    function test_constructor_revertsOnZeroVerifier() public {
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidConfig.selector, "verifier is the zero address"));
        new Rollup(IVerifier(address(0)), agents, SLOT_SECONDS, GENESIS_ROOT, L2_CHAIN_ID);
    }

    /// An empty agent list is refused.
    function test_constructor_revertsOnNoAgents() public {
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidConfig.selector, "no submission agent"));
        new Rollup(verifier, new address[](0), SLOT_SECONDS, GENESIS_ROOT, L2_CHAIN_ID);
    }

    /// A zero-length slot is refused.
    function test_constructor_revertsOnZeroSlot() public {
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidConfig.selector, "slot of zero seconds"));
        new Rollup(verifier, agents, 0, GENESIS_ROOT, L2_CHAIN_ID);
    }

    /// A zero agent address is refused wherever it stands in the list.
    function test_constructor_revertsOnZeroAgent() public {
        for (uint256 i = 0; i < agents.length; i++) {
            address[] memory withZero = agents;
            withZero[i] = address(0);
            vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidConfig.selector, "agent is the zero address"));
            new Rollup(verifier, withZero, SLOT_SECONDS, GENESIS_ROOT, L2_CHAIN_ID);
        }
    }

    // ---------------------------------------------------------------- public inputs and modeled proofs

    /// rangeInputs is (preRoot, postRoot, txCommitment, rangeBinding), the binding is
    /// keccak256(abi.encode(l2ChainId, first, last, prover)) masked, and the modeled record is
    /// keccak256(abi.encode(MODELED_PROOF_TAG, rangeInputs)): the fixture's proofs are anchored to the
    /// specification, not only to the contracts' own helpers.
    function test_rangeInputs_layoutAndModeledRecord() public view {
        bytes32[] memory inputs = rollup.rangeInputs(
            3, 5, bytes32(uint256(1)), bytes32(uint256(2)), bytes32(uint256(3)), address(0xA9)
        );
        assertEq(inputs.length, 4);
        assertEq(inputs[0], bytes32(uint256(1)));
        assertEq(inputs[1], bytes32(uint256(2)));
        assertEq(inputs[2], bytes32(uint256(3)));
        assertEq(
            inputs[3],
            keccak256(abi.encode(L2_CHAIN_ID, uint64(3), uint64(5), address(0xA9)))
                & 0x7fffffffffffffff7fffffffffffffff7fffffffffffffff7fffffffffffffff
        );
        assertEq(inputs[3], rollup.rangeBinding(3, 5, address(0xA9)));
        assertEq(verifier.MODELED_PROOF_TAG(), keccak256("zkcrowd.modeled-proof.v1"));
        assertEq(verifier.recordOf(inputs), keccak256(abi.encode(keccak256("zkcrowd.modeled-proof.v1"), inputs)));
        assertTrue(verifier.verify(abi.encodePacked(verifier.recordOf(inputs)), inputs));
    }

    // ---------------------------------------------------------------- acceptance and readback

    /// Blocks 1, 2, 3 (single-block ranges) from the owners of slots 0, 1, 2 are accepted; each stored
    /// record hash is the hash of the full record (prover, agent, slot, acceptance time).
    function test_submit_acceptsBlocks1To3() public {
        bytes32[4] memory hashes;
        for (uint64 n = 1; n <= 3; n++) {
            warpToSlot(n - 1);
            address owner = agents[n - 1];
            assertEq(currentOwner(), owner);
            submitCanonicalAs(owner, n);

            (uint64 head, bytes32 headRoot) = rollup.provenHead();
            assertEq(head, n);
            assertEq(headRoot, postRootOf(n));
            hashes[n] = hashOf(canonicalRecord(n, owner, n - 1, uint64(block.timestamp)));
            assertEq(rollup.rangeRecordHash(n), hashes[n]);
            // Any other field changes the hash: the stored hash pins the whole record.
            assertTrue(rollup.rangeRecordHash(n) != hashOf(canonicalRecord(n, outsider, n - 1, uint64(block.timestamp))));
            assertTrue(rollup.rangeRecordHash(n) != hashOf(canonicalRecord(n, owner, n, uint64(block.timestamp))));
        }
        // Earlier ranges are unchanged by later ones.
        assertEq(rollup.rangeRecordHash(1), hashes[1]);
        assertEq(rollup.rangeRecordHash(2), hashes[2]);
    }

    /// An accepted range emits RangeAccepted with its blocks, contents, prover, agent, slot and hash.
    function test_submit_emitsRangeAccepted() public {
        acceptCanonicalBlocks(1);
        warpToSlot(4);
        bytes memory proof = canonicalProof(2);
        bytes32 recordHash = hashOf(canonicalRecord(2, agents[1], 4, uint64(block.timestamp)));
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.RangeAccepted(
            2, 2, preRootOf(2), postRootOf(2), txCommitmentOf(2), proverOf(2), agents[1], 4, recordHash
        );
        vm.prank(agents[1]);
        rollup.submitRange(2, 2, preRootOf(2), postRootOf(2), txCommitmentOf(2), proverOf(2), proof);
    }

    /// The slot owner may submit several consecutive ranges within its slot.
    function test_submit_ownerMaySubmitSeveralBlocksInItsSlot() public {
        submitCanonicalAs(agents[0], 1);
        submitCanonicalAs(agents[0], 2);
        (uint64 head,) = rollup.provenHead();
        assertEq(head, 2);
        assertEq(rollup.rangeRecordHash(2), hashOf(canonicalRecord(2, agents[0], 0, uint64(block.timestamp))));
    }

    /// rangeRecordHash is zero for block 0, for any block past the proven head, and before acceptance.
    function test_rangeRecordHash_zeroForUnknownRanges() public {
        assertEq(rollup.rangeRecordHash(0), bytes32(0));
        assertEq(rollup.rangeRecordHash(1), bytes32(0));

        acceptCanonicalBlocks(1);
        assertTrue(rollup.rangeRecordHash(1) != bytes32(0));
        assertEq(rollup.rangeRecordHash(0), bytes32(0));
        assertEq(rollup.rangeRecordHash(2), bytes32(0));
        assertEq(rollup.rangeRecordHash(type(uint64).max), bytes32(0));
    }

    // ---------------------------------------------------------------- slot schedule

    /// slot = (timestamp - genesisTime) / slotSeconds and owner = agents[slot % n], wrapping around.
    function test_slotSchedule_followsTimestamp() public {
        uint256 g = rollup.genesisTime();
        uint256[6] memory offsets = [uint256(0), 11, 12, 35, 36, 12 * 1000 + 5];
        uint64[6] memory slots = [uint64(0), 0, 1, 2, 3, 1000];
        for (uint256 i = 0; i < offsets.length; i++) {
            vm.warp(g + offsets[i]);
            assertEq(rollup.currentSlot(), slots[i]);
        }
        for (uint64 s = 0; s < 7; s++) {
            assertEq(rollup.slotOwner(s), agents[s % agents.length]);
        }
    }

    /// A slot owner can submit until the last second of its slot and not one second after.
    function test_slotSchedule_ownershipEndsWithTheSlot() public {
        vm.warp(rollup.genesisTime() + SLOT_SECONDS - 1);
        submitCanonicalAs(agents[0], 1);

        vm.warp(rollup.genesisTime() + SLOT_SECONDS);
        bytes memory proof = canonicalProof(2);
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotSlotOwner.selector, agents[0], agents[1], uint64(1)));
        vm.prank(agents[0]);
        rollup.submitRange(2, 2, preRootOf(2), postRootOf(2), txCommitmentOf(2), proverOf(2), proof);
    }

    /// A missed slot passes to the next agent: the owner of slot 1 does nothing, at slot 2 the next
    /// agent submits, and the owner of the missed slot is refused.
    function test_slotSchedule_missedSlotPassesToNextAgent() public {
        acceptCanonicalBlocks(1); // slot 0, agent0
        warpToSlot(1); // agent1's slot passes without a submission
        warpToSlot(2);

        bytes memory proof = canonicalProof(2);
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotSlotOwner.selector, agents[1], agents[2], uint64(2)));
        vm.prank(agents[1]);
        rollup.submitRange(2, 2, preRootOf(2), postRootOf(2), txCommitmentOf(2), proverOf(2), proof);

        submitCanonicalAs(agents[2], 2);
        assertEq(rollup.rangeRecordHash(2), hashOf(canonicalRecord(2, agents[2], 2, uint64(block.timestamp))));

        // The schedule wraps: slot 3 belongs to agent0 again.
        warpToSlot(3);
        submitCanonicalAs(agents[0], 3);
        assertEq(rollup.rangeRecordHash(3), hashOf(canonicalRecord(3, agents[0], 3, uint64(block.timestamp))));
    }

    // ---------------------------------------------------------------- reverts

    /// Another agent and an outsider are refused with NotSlotOwner(sender, owner, slot).
    function test_submit_revertsNotSlotOwner() public {
        warpToSlot(1);
        bytes memory proof = canonicalProof(1);
        address[2] memory intruders = [agents[0], outsider];
        for (uint256 i = 0; i < intruders.length; i++) {
            vm.expectRevert(abi.encodeWithSelector(Rollup.NotSlotOwner.selector, intruders[i], agents[1], uint64(1)));
            vm.prank(intruders[i]);
            rollup.submitRange(1, 1, preRootOf(1), postRootOf(1), txCommitmentOf(1), proverOf(1), proof);
        }
    }

    /// A range starting anywhere but the next block (block 0, skipping ahead) reverts
    /// WrongBlockNumber(expected, got).
    function test_submit_revertsWrongBlockNumberWhenSkippingAhead() public {
        uint64[3] memory numbers = [uint64(0), 2, type(uint64).max];
        bytes memory proof = canonicalProof(1);
        for (uint256 i = 0; i < numbers.length; i++) {
            vm.expectRevert(abi.encodeWithSelector(Rollup.WrongBlockNumber.selector, uint64(1), numbers[i]));
            vm.prank(agents[0]);
            rollup.submitRange(
                numbers[i], numbers[i], preRootOf(1), postRootOf(1), txCommitmentOf(1), proverOf(1), proof
            );
        }
    }

    /// A range whose last block is before its first reverts EmptyRange(first, last).
    function test_submit_revertsEmptyRange() public {
        acceptCanonicalBlocks(2);
        bytes memory proof = proofOf(3, 2, preRootOf(3), postRootOf(3), txCommitmentOf(3), proverOf(3));
        address owner = currentOwner();
        vm.expectRevert(abi.encodeWithSelector(Rollup.EmptyRange.selector, uint64(3), uint64(2)));
        vm.prank(owner);
        rollup.submitRange(3, 2, preRootOf(3), postRootOf(3), txCommitmentOf(3), proverOf(3), proof);
    }

    /// Resubmitting an accepted block reverts WrongBlockNumber(head + 1, number), even in a later slot.
    function test_submit_revertsWrongBlockNumberOnResubmission() public {
        acceptCanonicalBlocks(2);
        for (uint64 n = 1; n <= 2; n++) {
            bytes memory proof = canonicalProof(n);
            address owner = currentOwner();
            vm.expectRevert(abi.encodeWithSelector(Rollup.WrongBlockNumber.selector, uint64(3), n));
            vm.prank(owner);
            rollup.submitRange(n, n, preRootOf(n), postRootOf(n), txCommitmentOf(n), proverOf(n), proof);
        }
    }

    /// A pre root other than the last accepted post root reverts WrongPreRoot(expected, got), even
    /// with a valid proof of the wrong contents (a fork from genesis, a random root).
    function test_submit_revertsWrongPreRoot() public {
        acceptCanonicalBlocks(1);
        bytes32[2] memory wrongRoots = [GENESIS_ROOT, keccak256("elsewhere")];
        for (uint256 i = 0; i < wrongRoots.length; i++) {
            bytes memory proof = proofOf(2, 2, wrongRoots[i], postRootOf(2), txCommitmentOf(2), proverOf(2));
            vm.expectRevert(abi.encodeWithSelector(Rollup.WrongPreRoot.selector, postRootOf(1), wrongRoots[i]));
            vm.prank(agents[0]);
            rollup.submitRange(2, 2, wrongRoots[i], postRootOf(2), txCommitmentOf(2), proverOf(2), proof);
        }
    }

    /// Malformed or wrong proof bytes revert InvalidProof: empty, truncated, extended, one bit
    /// flipped, and a record under another tag.
    function test_submit_revertsInvalidProofOnWrongBytes() public {
        bytes32[] memory inputs =
            rollup.rangeInputs(1, 1, preRootOf(1), postRootOf(1), txCommitmentOf(1), proverOf(1));
        bytes32 record = verifier.recordOf(inputs);
        bytes[5] memory proofs = [
            bytes(""),
            // forge-lint: disable-next-line(unsafe-typecast)
            abi.encodePacked(bytes31(record)), // truncated on purpose
            abi.encodePacked(record, bytes1(0)),
            abi.encodePacked(record ^ bytes32(uint256(1))),
            abi.encodePacked(keccak256(abi.encode(bytes32(0), inputs)))
        ];
        for (uint256 i = 0; i < proofs.length; i++) {
            vm.expectRevert(Rollup.InvalidProof.selector);
            vm.prank(agents[0]);
            rollup.submitRange(1, 1, preRootOf(1), postRootOf(1), txCommitmentOf(1), proverOf(1), proofs[i]);
        }
        submitCanonicalAs(agents[0], 1); // the valid record still passes
    }

    /// A valid proof of other public inputs reverts InvalidProof: a proof copied from another prover
    /// (submitted naming the copier as prover), or made for other block numbers, another post root or
    /// another transaction commitment.
    function test_submit_revertsInvalidProofForOtherPublicInputs() public {
        address thief = makeAddr("thief");
        bytes memory stolen = canonicalProof(1); // proves proverOf(1)'s wrap
        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(agents[0]);
        rollup.submitRange(1, 1, preRootOf(1), postRootOf(1), txCommitmentOf(1), thief, stolen);

        bytes memory otherLast = proofOf(1, 2, preRootOf(1), postRootOf(1), txCommitmentOf(1), proverOf(1));
        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(agents[0]);
        rollup.submitRange(1, 1, preRootOf(1), postRootOf(1), txCommitmentOf(1), proverOf(1), otherLast);

        bytes memory otherPost =
            proofOf(1, 1, preRootOf(1), keccak256("other post"), txCommitmentOf(1), proverOf(1));
        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(agents[0]);
        rollup.submitRange(1, 1, preRootOf(1), postRootOf(1), txCommitmentOf(1), proverOf(1), otherPost);

        bytes memory otherTxs = proofOf(1, 1, preRootOf(1), postRootOf(1), keccak256("other txs"), proverOf(1));
        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(agents[0]);
        rollup.submitRange(1, 1, preRootOf(1), postRootOf(1), txCommitmentOf(1), proverOf(1), otherTxs);
    }

    /// Checks run in order: slot owner, then first block, then empty range, then pre root, then proof.
    function test_submit_checksInOrder() public {
        bytes32 badRoot = keccak256("bad root");
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotSlotOwner.selector, outsider, agents[0], uint64(0)));
        vm.prank(outsider);
        rollup.submitRange(7, 6, badRoot, 0, 0, address(0), "");

        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongBlockNumber.selector, uint64(1), uint64(7)));
        vm.prank(agents[0]);
        rollup.submitRange(7, 6, badRoot, 0, 0, address(0), "");

        vm.expectRevert(abi.encodeWithSelector(Rollup.EmptyRange.selector, uint64(1), uint64(0)));
        vm.prank(agents[0]);
        rollup.submitRange(1, 0, badRoot, 0, 0, address(0), "");

        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongPreRoot.selector, GENESIS_ROOT, badRoot));
        vm.prank(agents[0]);
        rollup.submitRange(1, 1, badRoot, 0, 0, address(0), "");

        vm.expectRevert(Rollup.InvalidProof.selector);
        vm.prank(agents[0]);
        rollup.submitRange(1, 1, GENESIS_ROOT, 0, 0, address(0), "");
    }
}
