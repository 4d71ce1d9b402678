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
/// @dev The proofs are ~67 KB each: they are loaded once per test and mutated in place (and restored),
///      and every call restores the free memory pointer, so memory (whose cost is quadratic) stays small.
contract WrapperVerifierTest is Test {
    string internal constant DIRECTORY = "test/fixtures/wrapper/";

    WrapperVerifier internal verifier;

    struct Fixtures {
        string manifest;
        bytes[] proofs;
        bytes32[][] inputs;
    }

    function setUp() public {
        verifier = new WrapperVerifier();
    }

    function _key(string memory array, uint256 i, string memory field) internal pure returns (string memory) {
        return string.concat(".", array, "[", vm.toString(i), "].", field);
    }

    /// A manifest number, without keeping the cheatcode call's copy of the manifest in memory.
    function _uint(string memory json, string memory key) internal pure returns (uint256 value) {
        uint256 free;
        assembly {
            free := mload(0x40)
        }
        value = vm.parseJsonUint(json, key);
        assembly {
            mstore(0x40, free)
        }
    }

    /// The verifier's verdict, without keeping the call's copy of the proof in memory.
    function _verify(bytes memory proof, bytes32[] memory inputs) internal view returns (bool valid) {
        uint256 free;
        assembly {
            free := mload(0x40)
        }
        valid = verifier.verify(proof, inputs);
        assembly {
            mstore(0x40, free)
        }
    }

    /// Every fixture's calldata (binary files) and public inputs, and the manifest.
    function _load() internal view returns (Fixtures memory fixtures) {
        fixtures.manifest = vm.readFile(string.concat(DIRECTORY, "proofs.json"));
        uint256 count = _uint(fixtures.manifest, ".proofCount");
        fixtures.proofs = new bytes[](count);
        fixtures.inputs = new bytes32[][](count);
        for (uint256 i = 0; i < count; i++) {
            string memory file = vm.parseJsonString(fixtures.manifest, _key("proofs", i, "file"));
            fixtures.proofs[i] = vm.readFileBinary(string.concat(DIRECTORY, file));
            fixtures.inputs[i] = vm.parseJsonBytes32Array(fixtures.manifest, _key("proofs", i, "inputs"));
        }
    }

    /// Every fixture verifies: real wrapped proofs of four kinds of range roots under five range records.
    function test_verify_acceptsEveryFixture() public view {
        Fixtures memory fixtures = _load();
        assertGe(fixtures.proofs.length, 20, "at least 20 distinct proofs");
        uint256 length = _uint(fixtures.manifest, ".proofBytes");
        for (uint256 i = 0; i < fixtures.proofs.length; i++) {
            assertEq(fixtures.proofs[i].length, length, "calldata length");
            assertTrue(_verify(fixtures.proofs[i], fixtures.inputs[i]), string.concat("fixture ", vm.toString(i)));
        }
    }

    /// Differential: the contract's verdict equals plonky2's on every fixture (valid) and every mutated
    /// copy the generator judged (a byte of a calldata section, or of a public input).
    function test_verify_agreesWithPlonky2() public view {
        Fixtures memory fixtures = _load();
        uint256 count = _uint(fixtures.manifest, ".mutationCount");
        assertGe(count, 20, "mutated cases");
        uint256 rejected;
        for (uint256 m = 0; m < count; m++) {
            uint256 index = _uint(fixtures.manifest, _key("mutations", m, "proof"));
            uint256 offset = _uint(fixtures.manifest, _key("mutations", m, "offset"));
            bytes1 flip = bytes1(uint8(_uint(fixtures.manifest, _key("mutations", m, "xor"))));
            bool expected = vm.parseJsonBool(fixtures.manifest, _key("mutations", m, "valid"));
            bool inInputs = vm.parseJsonInt(fixtures.manifest, _key("mutations", m, "input")) >= 0;
            bytes memory proof = fixtures.proofs[index];
            bytes32[] memory inputs = fixtures.inputs[index];
            bytes32 word;
            if (inInputs) {
                word = inputs[offset / 32];
                inputs[offset / 32] = word ^ (bytes32(flip) >> (8 * (offset % 32)));
            } else {
                proof[offset] ^= flip;
            }
            bool verdict = _verify(proof, inputs);
            if (inInputs) inputs[offset / 32] = word;
            else proof[offset] ^= flip;
            assertEq(verdict, expected, string.concat("mutation ", vm.toString(m), ": verdict differs from plonky2's"));
            if (!verdict) rejected++;
        }
        for (uint256 i = 0; i < fixtures.proofs.length; i++) {
            assertTrue(_verify(fixtures.proofs[i], fixtures.inputs[i]), "plonky2 accepts every fixture");
        }
        console.log("differential: %d fixtures (valid) and %d mutated copies agree with plonky2", fixtures.proofs.length, count);
        console.log("  plonky2 and the contract rejected %d of the mutated copies", rejected);
    }

    /// The gates contract matches plonky2's `eval_unfiltered` (folded by powers of α) on random openings,
    /// and its hash mode matches plonky2's Poseidon `hash_no_pad`.
    function test_gates_matchPlonky2() public {
        string memory vectors = vm.readFile(string.concat(DIRECTORY, "gates.json"));
        uint256 count = _uint(vectors, ".vectorCount");
        assertGe(count, 1, "gate vectors");
        for (uint256 i = 0; i < count; i++) {
            bytes memory input = vm.parseJsonBytes(vectors, _key("vectors", i, "input"));
            bytes memory output = vm.parseJsonBytes(vectors, _key("vectors", i, "output"));
            (bool ok, bytes memory answer) = verifier.gates().call(input);
            assertTrue(ok, "gate mode answers");
            assertEq(answer, output, string.concat("gate vector ", vm.toString(i)));
        }
        count = _uint(vectors, ".hashCount");
        assertGe(count, 1, "hash vectors");
        for (uint256 i = 0; i < count; i++) {
            bytes memory input = vm.parseJsonBytes(vectors, _key("hashes", i, "input"));
            bytes memory output = vm.parseJsonBytes(vectors, _key("hashes", i, "output"));
            (bool ok, bytes memory answer) = verifier.gates().call(input);
            assertTrue(ok, "hash mode answers");
            assertEq(answer, output, string.concat("hash vector ", vm.toString(i)));
        }
    }

    /// A wrong number of public inputs, a proof a byte short or long, and an empty proof are refused.
    function test_verify_refusesWrongLengths() public view {
        Fixtures memory fixtures = _load();
        bytes memory proof = fixtures.proofs[0];
        bytes32[] memory inputs = fixtures.inputs[0];
        bytes32[] memory three = new bytes32[](3);
        for (uint256 i = 0; i < 3; i++) {
            three[i] = inputs[i];
        }
        assertFalse(_verify(proof, three), "three public inputs");
        bytes memory shorter = new bytes(proof.length - 1);
        for (uint256 i = 0; i < shorter.length; i++) {
            shorter[i] = proof[i];
        }
        assertFalse(_verify(shorter, inputs), "a byte short");
        assertFalse(_verify(bytes.concat(proof, hex"00"), inputs), "a byte long");
        assertFalse(_verify("", inputs), "empty");
        assertTrue(_verify(proof, inputs), "the unmodified fixture");
    }

    /// A public-input word that is not four canonical field elements is refused (p itself in one lane).
    function test_verify_refusesNonCanonicalInput() public view {
        Fixtures memory fixtures = _load();
        bytes32[] memory inputs = fixtures.inputs[0];
        inputs[3] = bytes32((uint256(inputs[3]) & ~uint256(0xffffffffffffffff)) | 0xffffffff00000001);
        assertFalse(_verify(fixtures.proofs[0], inputs), "p in the last lane");
    }

    // ---- Mutation fuzzing: one byte of a section, xor a non-zero byte, must be rejected ----

    /// Deterministic choices: a draw below `bound` for mutation k of section s.
    function _draw(uint256 s, uint256 k, uint256 salt, uint256 bound) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(s, k, salt))) % bound;
    }

    /// Mutates `perSection` bytes in every `step`-th section of [first, last) (of fixtures taken round-robin); every
    /// copy must be rejected (an accepted one fails the test, so the logged count is the full count).
    function _mutateSections(Fixtures memory fixtures, uint256 first, uint256 last, uint256 step, uint256 perSection)
        internal
        view
        returns (uint256 total)
    {
        for (uint256 s = first; s < last; s += step) {
            string memory name = vm.parseJsonString(fixtures.manifest, _key("sections", s, "name"));
            // start, bytes, repetitions, stride
            uint256[4] memory section = [
                _uint(fixtures.manifest, _key("sections", s, "start")),
                _uint(fixtures.manifest, _key("sections", s, "bytes")),
                _uint(fixtures.manifest, _key("sections", s, "repetitions")),
                _uint(fixtures.manifest, _key("sections", s, "stride"))
            ];
            for (uint256 k = 0; k < perSection; k++) {
                assertFalse(_mutated(fixtures, k % fixtures.proofs.length, _offset(section, s, k), s, k), name);
            }
            console.log("  %s: %d of %d mutations rejected", name, perSection, perSection);
            total += perSection;
        }
    }

    /// Mutation k's byte offset in section s: a repetition (query), then a byte within it.
    function _offset(uint256[4] memory section, uint256 s, uint256 k) internal pure returns (uint256) {
        return section[0] + section[3] * _draw(s, k, 1, section[2]) + _draw(s, k, 2, section[1]);
    }

    /// The verdict on fixture `index` with the byte at `offset` xored with a non-zero byte (restored after).
    function _mutated(Fixtures memory fixtures, uint256 index, uint256 offset, uint256 s, uint256 k)
        internal
        view
        returns (bool verdict)
    {
        bytes memory proof = fixtures.proofs[index];
        bytes1 flip = bytes1(uint8(1 + _draw(s, k, 3, 255)));
        proof[offset] ^= flip;
        verdict = _verify(proof, fixtures.inputs[index]);
        proof[offset] ^= flip;
    }

    /// Header sections (caps, openings, FRI commit caps, final polynomial, proof of work) and the public
    /// inputs (one bit of one word).
    function test_mutations_headerAndInputs() public view {
        Fixtures memory fixtures = _load();
        uint256 perSection = 50;
        console.log("mutation fuzzing, header sections and public inputs:");
        uint256 total = _mutateSections(fixtures, 0, 7, 1, perSection);
        uint256 rejected;
        for (uint256 k = 0; k < 4 * perSection; k++) {
            uint256 index = k % fixtures.proofs.length;
            bytes32[] memory inputs = fixtures.inputs[index];
            uint256 word = k % 4;
            bytes32 flip = bytes32(uint256(1) << _draw(100, k, 1, 256));
            inputs[word] ^= flip;
            bool verdict = _verify(fixtures.proofs[index], inputs);
            inputs[word] ^= flip;
            assertFalse(verdict, "a mutated public input verified");
            rejected++;
        }
        console.log("  public inputs: %d of %d mutations rejected", rejected, 4 * perSection);
        console.log("  total: %d", total + 4 * perSection);
    }

    /// The four initial leaves, in every query.
    function test_mutations_initialLeaves() public view {
        Fixtures memory fixtures = _load();
        console.log("mutation fuzzing, query rounds' initial leaves:");
        uint256 total = _mutateSections(fixtures, 7, 15, 2, 50);
        console.log("  total: %d", total);
    }

    /// The four initial leaves' Merkle paths, in every query.
    function test_mutations_initialPaths() public view {
        Fixtures memory fixtures = _load();
        console.log("mutation fuzzing, query rounds' initial Merkle paths:");
        uint256 total = _mutateSections(fixtures, 8, 15, 2, 50);
        console.log("  total: %d", total);
    }

    /// The FRI steps' evaluations and Merkle paths, in every query.
    function test_mutations_friSteps() public view {
        Fixtures memory fixtures = _load();
        uint256 count = _uint(fixtures.manifest, ".sectionCount");
        console.log("mutation fuzzing, query rounds' FRI steps:");
        uint256 total = _mutateSections(fixtures, 15, count, 1, 60);
        console.log("  total: %d", total);
    }
}
