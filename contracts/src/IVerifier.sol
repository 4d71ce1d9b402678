// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IVerifier
/// @notice What the Rollup contract asks of a proof verifier: does `proof` prove `publicInputs`?
/// @dev Public inputs of a block proof (docs/protocol.md §2): the block's first pre ledger root, its last
///      post ledger root, the commitment to its transactions and the aggregator's address.
interface IVerifier {
    /// @return valid true if `proof` is a valid proof of `publicInputs`.
    function verify(bytes calldata proof, bytes32[] calldata publicInputs) external view returns (bool valid);
}
