// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IVerifier} from "../IVerifier.sol";

/// @title ModeledProofVerifier — SIMULATION ONLY
/// @notice Accepts the *modeled proof record* of a range: 32 bytes equal to
///         keccak256(abi.encode(MODELED_PROOF_TAG, publicInputs)). It proves nothing: a modeled proof
///         stands for a proof whose cost and validity the simulator models (docs/protocol.md §2). It exists so
///         that scenarios with modeled proofs can run the real Rollup contract on anvil.
/// @dev Never deploy it outside a simulation: script/Deploy.s.sol refuses any verifier answering
///      SIMULATION_ONLY() with true. The real plonky2 verifier replaces it for fully real scenarios.
contract ModeledProofVerifier is IVerifier {
    /// @notice Domain tag of a modeled proof record.
    bytes32 public constant MODELED_PROOF_TAG = keccak256("zkcrowd.modeled-proof.v1");

    /// @notice Marks this verifier as unfit for production deployments.
    function SIMULATION_ONLY() external pure returns (bool) {
        return true;
    }

    /// @notice The modeled proof record of `publicInputs`.
    function recordOf(bytes32[] calldata publicInputs) public pure returns (bytes32) {
        return keccak256(abi.encode(MODELED_PROOF_TAG, publicInputs));
    }

    /// @inheritdoc IVerifier
    function verify(bytes calldata proof, bytes32[] calldata publicInputs) external pure returns (bool) {
        return proof.length == 32 && bytes32(proof) == recordOf(publicInputs);
    }
}
