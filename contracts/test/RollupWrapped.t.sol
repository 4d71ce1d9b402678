// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, console} from "forge-std/Test.sol";
import {Rollup} from "../src/Rollup.sol";
import {WrapperVerifier} from "../src/generated/WrapperVerifier.sol";

/// @title RollupWrappedTest
/// @notice The Rollup over the generated verifier with real wrapped proofs (a chain of three ranges,
///         [1, 1], [2, 2], [3, 4], written by `zkcrowd-verifier-gen --fixtures` for L2 chain 7777 and one
///         prover, the manifest's `submitter`): every range is accepted in order, from either slot owner;
///         the proof with another prover, other block numbers, or another post root is refused; gas per
///         range is logged.
/// @dev The fixtures' binding is (chain id, first, last, prover): it does not depend on the agents, so
///      the agents here are two addresses other than the prover.
contract RollupWrappedTest is Test {
    string internal constant DIRECTORY = "test/fixtures/wrapper/";

    WrapperVerifier internal verifier;
    Rollup internal rollup;
    /// @dev The address the fixtures' proofs bind (the manifest's `submitter`).
    address internal prover;
    address internal agent0;
    address internal agent1;
    string internal manifest;

    struct Range {
        uint64 first;
        uint64 last;
        bytes32 preRoot;
        bytes32 postRoot;
        bytes32 txCommitment;
        bytes32 binding;
        bytes proof;
    }

    function setUp() public {
        manifest = vm.readFile(string.concat(DIRECTORY, "proofs.json"));
        prover = vm.parseJsonAddress(manifest, ".rollup.submitter");
        agent0 = makeAddr("agent0");
        agent1 = makeAddr("agent1");
        address[] memory agents = new address[](2);
        agents[0] = agent0;
        agents[1] = agent1;
        verifier = new WrapperVerifier();
        Range memory first = _range(0);
        uint64 chainId = uint64(vm.parseJsonUint(manifest, ".rollup.chainId"));
        rollup = new Rollup(verifier, agents, 12, first.preRoot, chainId);
    }

    function _range(uint256 i) internal view returns (Range memory range) {
        string memory key = string.concat(".rollup.ranges[", vm.toString(i), "].");
        range.first = uint64(vm.parseJsonUint(manifest, string.concat(key, "first")));
        range.last = uint64(vm.parseJsonUint(manifest, string.concat(key, "last")));
        range.preRoot = vm.parseJsonBytes32(manifest, string.concat(key, "preRoot"));
        range.postRoot = vm.parseJsonBytes32(manifest, string.concat(key, "postRoot"));
        range.txCommitment = vm.parseJsonBytes32(manifest, string.concat(key, "txCommitment"));
        range.binding = vm.parseJsonBytes32(manifest, string.concat(key, "binding"));
        range.proof = vm.readFileBinary(string.concat(DIRECTORY, vm.parseJsonString(manifest, string.concat(key, "file"))));
    }

    /// Submits `range` as `sender` (pranked), naming `prover_` as its prover.
    function _submit(address sender, address prover_, Range memory range) internal {
        vm.prank(sender);
        rollup.submitRange(
            range.first, range.last, range.preRoot, range.postRoot, range.txCommitment, prover_, range.proof
        );
    }

    /// The record hash the Rollup must store for `range` posted by `agent` in `slot` now.
    function _recordHash(Range memory range, address agent, uint64 slot) internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                Rollup.RangeRecord(
                    range.first,
                    range.last,
                    range.preRoot,
                    range.postRoot,
                    range.txCommitment,
                    prover,
                    agent,
                    slot,
                    uint64(block.timestamp)
                )
            )
        );
    }

    /// The three ranges are accepted in order (agent0 owns slot 0); each fixture's binding is the Rollup's
    /// binding of its prover; the head ends at block 4 with the last range's post root, and each range's
    /// record hash (prover and agent included) is stored.
    function test_submitRange_acceptsRealProofs() public {
        for (uint256 i = 0; i < 3; i++) {
            Range memory range = _range(i);
            assertEq(rollup.rangeBinding(range.first, range.last, prover), range.binding, "the fixture binds the prover");
            uint256 before = gasleft();
            _submit(agent0, prover, range);
            // Under --gas-report forge runs each call as its own transaction, and this includes the
            // base cost and the calldata; otherwise it is the execution alone.
            console.log("range [%d, %d]: submitRange used %d gas", range.first, range.last, before - gasleft());
            assertEq(rollup.rangeRecordHash(range.first), _recordHash(range, agent0, 0), "record hash stored");
        }
        (uint64 head, bytes32 headRoot) = rollup.provenHead();
        assertEq(head, 4, "head after [3, 4]");
        assertEq(headRoot, _range(2).postRoot, "head root");
    }

    /// Another slot owner may submit the proof with the right prover: agent1, in its own slot (agent0's
    /// passed without a submission), posts [1, 1]; agent0 then posts [2, 2] in the next slot.
    function test_submitRange_anotherSlotOwnerMaySubmitIt() public {
        vm.warp(block.timestamp + 12);
        assertEq(rollup.slotOwner(rollup.currentSlot()), agent1, "agent1's slot");
        _submit(agent1, prover, _range(0));
        assertEq(rollup.rangeRecordHash(1), _recordHash(_range(0), agent1, 1), "posted by agent1");
        vm.warp(block.timestamp + 12);
        _submit(agent0, prover, _range(1));
        (uint64 head,) = rollup.provenHead();
        assertEq(head, 2, "head after [2, 2]");
    }

    /// The same proof with a different prover argument is refused, whoever posts it: the proof binds its
    /// prover (a copier naming itself, or another agent, gains nothing).
    function test_submitRange_refusesTheProofWithAnotherProver() public {
        address[3] memory others = [agent0, agent1, makeAddr("copier")];
        for (uint256 i = 0; i < others.length; i++) {
            vm.expectRevert(Rollup.InvalidProof.selector);
            _submit(agent0, others[i], _range(0));
        }
        vm.warp(block.timestamp + 12);
        vm.expectRevert(Rollup.InvalidProof.selector);
        _submit(agent1, agent1, _range(0));
        _submit(agent1, prover, _range(0));
        (uint64 head,) = rollup.provenHead();
        assertEq(head, 1, "the right prover is accepted");
    }

    /// The proof of [1, 1] does not pass as [1, 2], nor with another post root.
    function test_submitRange_refusesRelabelledProofs() public {
        Range memory range = _range(0);
        range.last = 2;
        vm.expectRevert(Rollup.InvalidProof.selector);
        _submit(agent0, prover, range);
        range = _range(0);
        range.postRoot = _range(1).postRoot;
        vm.expectRevert(Rollup.InvalidProof.selector);
        _submit(agent0, prover, range);
        _submit(agent0, prover, _range(0));
        (uint64 head,) = rollup.provenHead();
        assertEq(head, 1, "the honest submission is accepted");
    }
}
