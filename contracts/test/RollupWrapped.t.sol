// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, console} from "forge-std/Test.sol";
import {Rollup} from "../src/Rollup.sol";
import {WrapperVerifier} from "../src/generated/WrapperVerifier.sol";

/// @title RollupWrappedTest
/// @notice The Rollup over the generated verifier with real wrapped proofs (a chain of three ranges,
///         [1, 1], [2, 2], [3, 4], written by `zkcrowd-verifier-gen --fixtures` for L2 chain 7777 and one
///         submitter): every range is accepted in order; a proof submitted by another agent, with other
///         block numbers, or with another post root is refused; gas per range is logged.
contract RollupWrappedTest is Test {
    string internal constant DIRECTORY = "test/fixtures/wrapper/";

    WrapperVerifier internal verifier;
    Rollup internal rollup;
    address internal submitter;
    address internal other;
    string internal manifest;

    struct Range {
        uint64 first;
        uint64 last;
        bytes32 preRoot;
        bytes32 postRoot;
        bytes32 txCommitment;
        bytes proof;
    }

    function setUp() public {
        manifest = vm.readFile(string.concat(DIRECTORY, "proofs.json"));
        submitter = vm.parseJsonAddress(manifest, ".rollup.submitter");
        other = makeAddr("other agent");
        address[] memory agents = new address[](2);
        agents[0] = submitter;
        agents[1] = other;
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
        range.proof = vm.readFileBinary(string.concat(DIRECTORY, vm.parseJsonString(manifest, string.concat(key, "file"))));
    }

    function _submit(address sender, Range memory range) internal {
        vm.prank(sender);
        rollup.submitRange(range.first, range.last, range.preRoot, range.postRoot, range.txCommitment, range.proof);
    }

    /// The three ranges are accepted in order (the submitter owns slot 0); the head ends at block 4 with
    /// the last range's post root, and each range's record hash is stored.
    function test_submitRange_acceptsRealProofs() public {
        for (uint256 i = 0; i < 3; i++) {
            Range memory range = _range(i);
            uint256 before = gasleft();
            _submit(submitter, range);
            // Under --gas-report forge runs each call as its own transaction, and this includes the
            // base cost and the calldata; otherwise it is the execution alone.
            console.log("range [%d, %d]: submitRange used %d gas", range.first, range.last, before - gasleft());
            assertTrue(rollup.rangeRecordHash(range.first) != bytes32(0), "record hash stored");
        }
        (uint64 head, bytes32 headRoot) = rollup.provenHead();
        assertEq(head, 4, "head after [3, 4]");
        assertEq(headRoot, _range(2).postRoot, "head root");
    }

    /// Another agent, in its own slot, cannot submit the proof: it binds the first submitter.
    function test_submitRange_refusesAProofOfAnotherSubmitter() public {
        vm.warp(block.timestamp + 12);
        assertEq(rollup.slotOwner(rollup.currentSlot()), other, "the other agent's slot");
        vm.expectRevert(Rollup.InvalidProof.selector);
        _submit(other, _range(0));
    }

    /// The proof of [1, 1] does not pass as [1, 2], nor with another post root.
    function test_submitRange_refusesRelabelledProofs() public {
        Range memory range = _range(0);
        range.last = 2;
        vm.expectRevert(Rollup.InvalidProof.selector);
        _submit(submitter, range);
        range = _range(0);
        range.postRoot = _range(1).postRoot;
        vm.expectRevert(Rollup.InvalidProof.selector);
        _submit(submitter, range);
        _submit(submitter, _range(0));
        (uint64 head,) = rollup.provenHead();
        assertEq(head, 1, "the honest submission is accepted");
    }
}
