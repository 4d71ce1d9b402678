// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, console} from "forge-std/Test.sol";
import {WrapperVerifier} from "../src/generated/WrapperVerifier.sol";

/// @title WrapperVerifierTest
/// @notice The generated verifier against the Rust side: wrapped proofs written by
///         `zkcrowd-verifier-gen --fixtures` (test/fixtures/wrapper/, never edited by hand) verify; on
///         every fixture and on mutated copies, the contract's verdict equals plonky2's (recorded by the
///         generator); mutations of every calldata section and public input are rejected, counted per
///         section; the gates contract matches plonky2's `eval_unfiltered` on random openings.
contract WrapperVerifierTest is Test {
    string internal constant PROOFS = "test/fixtures/wrapper/proofs.json";
    string internal constant GATES = "test/fixtures/wrapper/gates.json";

    WrapperVerifier internal verifier;
    string internal fixtures;
    uint256 internal proofCount;

    function setUp() public {
        verifier = new WrapperVerifier();
        fixtures = vm.readFile(PROOFS);
        proofCount = vm.parseJsonUint(fixtures, ".proofCount");
    }

    function _key(string memory array, uint256 i, string memory field) internal pure returns (string memory) {
        return string.concat(".", array, "[", vm.toString(i), "].", field);
    }

    function _fixture(uint256 i) internal view returns (bytes memory proof, bytes32[] memory inputs) {
        proof = vm.parseJsonBytes(fixtures, _key("proofs", i, "proof"));
        inputs = vm.parseJsonBytes32Array(fixtures, _key("proofs", i, "inputs"));
    }

    /// Every fixture verifies: real wrapped proofs of four kinds of range roots under several range records.
    function test_verify_acceptsEveryFixture() public view {
        assertGe(proofCount, 20, "at least 20 distinct proofs");
        for (uint256 i = 0; i < proofCount; i++) {
            (bytes memory proof, bytes32[] memory inputs) = _fixture(i);
            assertEq(proof.length, vm.parseJsonUint(fixtures, ".proofBytes"), "calldata length");
            assertTrue(verifier.verify(proof, inputs), string.concat("fixture ", vm.toString(i), " verifies"));
        }
    }

    /// Differential: the contract's verdict equals plonky2's on every fixture (valid) and every mutated
    /// copy the generator judged (a byte of a section, or of a public input).
    function test_verify_agreesWithPlonky2() public view {
        uint256 count = vm.parseJsonUint(fixtures, ".mutationCount");
        assertGe(count, 20, "mutated cases");
        uint256 rejected;
        for (uint256 m = 0; m < count; m++) {
            uint256 index = vm.parseJsonUint(fixtures, _key("mutations", m, "proof"));
            uint256 offset = vm.parseJsonUint(fixtures, _key("mutations", m, "offset"));
            uint8 xorByte = uint8(vm.parseJsonUint(fixtures, _key("mutations", m, "xor")));
            int256 input = vm.parseJsonInt(fixtures, _key("mutations", m, "input"));
            bool expected = vm.parseJsonBool(fixtures, _key("mutations", m, "valid"));
            (bytes memory proof, bytes32[] memory inputs) = _fixture(index);
            if (input < 0) {
                proof[offset] = bytes1(uint8(proof[offset]) ^ xorByte);
            } else {
                inputs[uint256(input)] = inputs[uint256(input)] ^ bytes32(uint256(xorByte) << (8 * (31 - offset % 32)));
            }
            bool verdict = verifier.verify(proof, inputs);
            assertEq(verdict, expected, string.concat("mutation ", vm.toString(m), " verdict equals plonky2's"));
            if (!verdict) rejected++;
        }
        console.log("differential: %d valid fixtures and %d mutated copies agree with plonky2", proofCount, count);
        console.log("  (plonky2 rejected %d of the mutated copies)", rejected);
    }

    /// The gates contract matches plonky2's `eval_unfiltered` (folded by powers of α) on random openings.
    function test_gates_matchPlonky2() public {
        string memory vectors = vm.readFile(GATES);
        uint256 count = vm.parseJsonUint(vectors, ".vectorCount");
        for (uint256 i = 0; i < count; i++) {
            bytes memory input = vm.parseJsonBytes(vectors, _key("vectors", i, "input"));
            bytes memory output = vm.parseJsonBytes(vectors, _key("vectors", i, "output"));
            (bool ok, bytes memory answer) = verifier.gates().call(input);
            assertTrue(ok, "gate mode answers");
            assertEq(answer, output, string.concat("gate vector ", vm.toString(i)));
        }
        count = vm.parseJsonUint(vectors, ".hashCount");
        for (uint256 i = 0; i < count; i++) {
            bytes memory input = vm.parseJsonBytes(vectors, _key("hashes", i, "input"));
            bytes memory output = vm.parseJsonBytes(vectors, _key("hashes", i, "output"));
            (bool ok, bytes memory answer) = verifier.gates().call(input);
            assertTrue(ok, "hash mode answers");
            assertEq(answer, output, string.concat("hash vector ", vm.toString(i)));
        }
    }

    /// A wrong number of public inputs, a truncated or extended proof, and an empty proof are refused.
    function test_verify_refusesWrongLengths() public view {
        (bytes memory proof, bytes32[] memory inputs) = _fixture(0);
        bytes32[] memory three = new bytes32[](3);
        for (uint256 i = 0; i < 3; i++) three[i] = inputs[i];
        assertFalse(verifier.verify(proof, three), "three public inputs");
        bytes memory shorter = new bytes(proof.length - 1);
        for (uint256 i = 0; i < shorter.length; i++) shorter[i] = proof[i];
        assertFalse(verifier.verify(shorter, inputs), "a byte short");
        assertFalse(verifier.verify(bytes.concat(proof, hex"00"), inputs), "a byte long");
        assertFalse(verifier.verify("", inputs), "empty");
    }

    /// A public-input word that is not four canonical field elements is refused (p itself in one lane).
    function test_verify_refusesNonCanonicalInput() public view {
        (bytes memory proof, bytes32[] memory inputs) = _fixture(0);
        inputs[3] = bytes32((uint256(inputs[3]) & ~uint256(0xffffffffffffffff)) | 0xffffffff00000001);
        assertFalse(verifier.verify(proof, inputs), "p in the last lane");
    }

    // ---- Mutation fuzzing: one byte of a section, xor a non-zero byte, must be rejected ----

    /// Deterministic choices: the k-th draw below `bound` for section `s`.
    function _draw(uint256 s, uint256 k, uint256 salt, uint256 bound) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(s, k, salt))) % bound;
    }

    /// Mutates `perSection` bytes in each listed section (of fixtures chosen round-robin) and requires
    /// every copy to be rejected; logs the count per section. Returns the number of mutations.
    function _mutateSections(uint256 first, uint256 last, uint256 perSection) internal view returns (uint256 total) {
        for (uint256 s = first; s < last; s++) {
            string memory name = vm.parseJsonString(fixtures, _key("sections", s, "name"));
            uint256 start = vm.parseJsonUint(fixtures, _key("sections", s, "start"));
            uint256 size = vm.parseJsonUint(fixtures, _key("sections", s, "bytes"));
            uint256 repetitions = vm.parseJsonUint(fixtures, _key("sections", s, "repetitions"));
            uint256 stride = vm.parseJsonUint(fixtures, _key("sections", s, "stride"));
            uint256 rejected;
            for (uint256 k = 0; k < perSection; k++) {
                (bytes memory proof, bytes32[] memory inputs) = _fixture(k % proofCount);
                uint256 offset = start + stride * _draw(s, k, 1, repetitions) + _draw(s, k, 2, size);
                uint8 xorByte = uint8(1 + _draw(s, k, 3, 255));
                proof[offset] = bytes1(uint8(proof[offset]) ^ xorByte);
                assertFalse(verifier.verify(proof, inputs), string.concat(name, ": a mutation verified"));
                rejected++;
            }
            console.log("  %s: %d of %d mutations rejected", name, rejected, perSection);
            total += perSection;
        }
    }

    /// Header sections (caps, openings, FRI commit caps, final polynomial, proof of work) and the
    /// public inputs.
    function test_mutations_headerAndInputs() public view {
        uint256 perSection = 60;
        console.log("mutation fuzzing, header sections and public inputs:");
        uint256 total = _mutateSections(0, 7, perSection);
        uint256 rejected;
        for (uint256 k = 0; k < 4 * perSection; k++) {
            (bytes memory proof, bytes32[] memory inputs) = _fixture(k % proofCount);
            uint256 word = k % 4;
            uint256 bit = _draw(100, k, 1, 256);
            inputs[word] = inputs[word] ^ bytes32(uint256(1) << bit);
            assertFalse(verifier.verify(proof, inputs), "a mutated public input verified");
            rejected++;
        }
        console.log("  public inputs (one bit of one word): %d of %d mutations rejected", rejected, 4 * perSection);
        console.log("  total: %d", total + 4 * perSection);
    }

    /// The four initial leaves and their Merkle paths, in every query.
    function test_mutations_initialTrees() public view {
        console.log("mutation fuzzing, query rounds' initial trees:");
        uint256 total = _mutateSections(7, 15, 60);
        console.log("  total: %d", total);
    }

    /// The FRI steps' evaluations and Merkle paths, in every query.
    function test_mutations_friSteps() public view {
        uint256 count = vm.parseJsonUint(fixtures, ".sectionCount");
        console.log("mutation fuzzing, query rounds' FRI steps:");
        uint256 total = _mutateSections(15, count, 60);
        console.log("  total: %d", total);
    }
}
