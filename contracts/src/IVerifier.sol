// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IVerifier
/// @notice What the Rollup contract asks of a proof verifier: does `proof` prove `publicInputs`?
/// @dev Public inputs of a range proof (Rollup.rangeInputs, the WrapperVerifier's order): the range's pre
///      ledger root, its post ledger root, the commitment to its transactions and the range binding
///      (Rollup.rangeBinding: the L2 chain id, the first and last block and the prover).
interface IVerifier {
    /// @return valid true if `proof` is a valid proof of `publicInputs`.
    function verify(bytes calldata proof, bytes32[] calldata publicInputs) external view returns (bool valid);
}
