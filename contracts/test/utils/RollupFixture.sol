// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Rollup} from "../../src/Rollup.sol";
import {ModeledProofVerifier} from "../../src/simulation/ModeledProofVerifier.sol";

/// @title RollupFixture
/// @notice Shared setup of the Rollup unit and fuzz tests: a Rollup over the ModeledProofVerifier with
///         three submission agents, deployed at a non-zero timestamp, and helpers building ranges (a
///         canonical block n is the single-block range [n, n] proved by proverOf(n)).
/// @dev Helpers that make external calls (proofOf, currentOwner) must be evaluated into locals
///      before vm.prank / vm.expectRevert, which apply to the next external call.
abstract contract RollupFixture is Test {
    uint64 internal constant SLOT_SECONDS = 12;
    uint256 internal constant DEPLOY_TIME = 1_700_000_000;
    bytes32 internal constant GENESIS_ROOT = keccak256("zkcrowd.test.genesis-root");
    uint64 internal constant L2_CHAIN_ID = 7777;

    ModeledProofVerifier internal verifier;
    Rollup internal rollup;
    address[] internal agents;
    address internal outsider;

    function setUp() public virtual {
        agents.push(makeAddr("agent0"));
        agents.push(makeAddr("agent1"));
        agents.push(makeAddr("agent2"));
        outsider = makeAddr("outsider");
        verifier = new ModeledProofVerifier();
        vm.warp(DEPLOY_TIME);
        rollup = new Rollup(verifier, agents, SLOT_SECONDS, GENESIS_ROOT, L2_CHAIN_ID);
    }

    /// @notice The canonical post ledger root of block `number` (test data).
    function postRootOf(uint64 number) internal pure returns (bytes32) {
        return keccak256(abi.encode("post", number));
    }

    /// @notice The canonical pre ledger root of block `number`: the genesis root, then the previous post root.
    function preRootOf(uint64 number) internal pure returns (bytes32) {
        return number == 1 ? GENESIS_ROOT : postRootOf(number - 1);
    }

    /// @notice The canonical transaction commitment of block `number` (test data).
    function txCommitmentOf(uint64 number) internal pure returns (bytes32) {
        return keccak256(abi.encode("txs", number));
    }

    /// @notice The canonical prover of the single-block range [number, number] (test data): the plugin
    ///         that proved its wrap, bound by the proof; not an agent.
    function proverOf(uint64 number) internal pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode("prover", number)))));
    }

    /// @notice The modeled proof of range [first, last] with these contents, proved by `prover`: its
    ///         32-byte record over `rollup.rangeInputs`.
    function proofOf(
        uint64 first,
        uint64 last,
        bytes32 preRoot,
        bytes32 postRoot,
        bytes32 txCommitment,
        address prover
    ) internal view returns (bytes memory) {
        return abi.encodePacked(
            verifier.recordOf(rollup.rangeInputs(first, last, preRoot, postRoot, txCommitment, prover))
        );
    }

    /// @notice The modeled proof of canonical block `number` as the single-block range [number, number].
    function canonicalProof(uint64 number) internal view returns (bytes memory) {
        return proofOf(number, number, preRootOf(number), postRootOf(number), txCommitmentOf(number), proverOf(number));
    }

    /// @notice The record of canonical block `number` accepted as a single-block range from `agent`.
    function canonicalRecord(uint64 number, address agent, uint64 slot, uint64 acceptedAt)
        internal
        pure
        returns (Rollup.RangeRecord memory)
    {
        return Rollup.RangeRecord(
            number,
            number,
            preRootOf(number),
            postRootOf(number),
            txCommitmentOf(number),
            proverOf(number),
            agent,
            slot,
            acceptedAt
        );
    }

    /// @notice What `rollup.rangeRecordHash(record.first)` must return for an accepted `record`.
    function hashOf(Rollup.RangeRecord memory record) internal pure returns (bytes32) {
        return keccak256(abi.encode(record));
    }

    /// @notice The owner of the current slot.
    function currentOwner() internal view returns (address) {
        return rollup.slotOwner(rollup.currentSlot());
    }

    /// @notice Moves time to the first second of `slot`.
    function warpToSlot(uint64 slot) internal {
        vm.warp(rollup.genesisTime() + uint256(slot) * rollup.slotSeconds());
    }

    /// @notice Submits canonical block `number` (the range [number, number], proved by proverOf(number))
    ///         from `sender` with its valid modeled proof.
    function submitCanonicalAs(address sender, uint64 number) internal {
        bytes memory proof = canonicalProof(number);
        vm.prank(sender);
        rollup.submitRange(
            number, number, preRootOf(number), postRootOf(number), txCommitmentOf(number), proverOf(number), proof
        );
    }

    /// @notice Accepts canonical blocks 1..count, block n (as [n, n]) from the owner of slot n - 1.
    function acceptCanonicalBlocks(uint64 count) internal {
        for (uint64 n = 1; n <= count; n++) {
            warpToSlot(n - 1);
            submitCanonicalAs(currentOwner(), n);
        }
    }
}
