// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IVerifier} from "./IVerifier.sol";

/// @title Rollup
/// @notice zkcrowd's L1 contract: the chain of fully proven L2 blocks (docs/protocol.md §1, steps 9-10).
/// @dev Blocks arrive only in **ranges** (`submitRange`): the blocks [first, last] with one proof of the
///      whole range (a wrapped plonky2 proof: the generated WrapperVerifier; or a modeled record in
///      simulations). A range is accepted only
///      1. from a submission agent that owns the current time slot: slot = (now - genesisTime) /
///         slotSeconds, owner = agents[slot % agents.length] (a missed slot passes to the next agent);
///      2. if it starts at the next block (first = provenHead + 1, last ≥ first) and its pre ledger root
///         equals the last accepted post ledger root (the accepted chain is contiguous);
///      3. if the verifier accepts its proof of (preRoot, postRoot, txCommitment, rangeBinding(first,
///         last, prover)): the binding ties the proof to this L2 chain, these block numbers and the
///         prover, the plugin that proved the wrap.
///      The binding names the **prover, not the L1 sender**. The L2 market assigns the wrap of a range
///      as a job before anyone knows in which agent's slot the range will land on the L1, and the L2
///      does not observe the L1; a proof bound to one sender could only ever be posted by that agent,
///      so an agent that misses its slots (crashed, or adversarial) would stall the L1 forever. Bound
///      to the prover, the proof can be posted by whichever agent owns the slot, while a copied proof
///      stays worthless to a copier: the accepted record names who proved it, not who copied it.
///      Only a hash of the range record (with both the prover and the posting agent) is stored; the
///      record itself is in the event and the calldata.
///      The agents are the validator set registered at deployment. A proven validator-set change
///      (BFT consensus, a later issue) will replace them through the verifier; until then they are fixed.
contract Rollup {
    /// @notice An accepted range of L2 blocks; only `keccak256(abi.encode(record))` is stored.
    /// @dev `prover` is the plugin that proved the wrap (bound by the proof); `agent` posted it.
    struct RangeRecord {
        uint64 first;
        uint64 last;
        bytes32 preRoot;
        bytes32 postRoot;
        bytes32 txCommitment;
        address prover;
        address agent;
        uint64 slot;
        uint64 acceptedAt;
    }

    /// @notice Each 8-byte word's top bit cleared: the binding is four canonical Goldilocks elements.
    bytes32 public constant BINDING_MASK = 0x7fffffffffffffff7fffffffffffffff7fffffffffffffff7fffffffffffffff;

    /// @notice The proof verifier.
    IVerifier public immutable verifier;
    /// @notice L1 timestamp of slot 0 (the deployment block's timestamp).
    uint64 public immutable genesisTime;
    /// @notice Length of a slot, seconds.
    uint64 public immutable slotSeconds;
    /// @notice The L2 genesis ledger root (the post root of block 0).
    bytes32 public immutable genesisRoot;
    /// @notice The L2 chain's id, bound by every range proof.
    uint64 public immutable l2ChainId;

    address[] private _agents;
    uint64 private _provenHead;
    bytes32 private _lastPostRoot;
    /// @dev Range record hashes by the range's first block.
    mapping(uint64 first => bytes32) private _ranges;

    /// @notice A range of L2 blocks was accepted; `recordHash` is what `rangeRecordHash(first)` returns.
    event RangeAccepted(
        uint64 indexed first,
        uint64 last,
        bytes32 preRoot,
        bytes32 postRoot,
        bytes32 txCommitment,
        address prover,
        address indexed agent,
        uint64 slot,
        bytes32 recordHash
    );

    /// @notice No agent, or a zero-length slot, at deployment.
    error InvalidConfig(string what);
    /// @notice The sender does not own the current slot.
    error NotSlotOwner(address sender, address owner, uint64 slot);
    /// @notice The range's first block is not the next one.
    error WrongBlockNumber(uint64 expected, uint64 got);
    /// @notice A range whose last block is before its first.
    error EmptyRange(uint64 first, uint64 last);
    /// @notice The pre root is not the last accepted post root.
    error WrongPreRoot(bytes32 expected, bytes32 got);
    /// @notice The verifier rejected the proof.
    error InvalidProof();

    constructor(IVerifier verifier_, address[] memory agents_, uint64 slotSeconds_, bytes32 genesisRoot_, uint64 l2ChainId_) {
        if (address(verifier_) == address(0)) revert InvalidConfig("verifier is the zero address");
        if (agents_.length == 0) revert InvalidConfig("no submission agent");
        if (slotSeconds_ == 0) revert InvalidConfig("slot of zero seconds");
        for (uint256 i = 0; i < agents_.length; i++) {
            if (agents_[i] == address(0)) revert InvalidConfig("agent is the zero address");
        }
        verifier = verifier_;
        genesisTime = uint64(block.timestamp);
        slotSeconds = slotSeconds_;
        genesisRoot = genesisRoot_;
        l2ChainId = l2ChainId_;
        _agents = agents_;
        _lastPostRoot = genesisRoot_;
    }

    /// @notice Submits the next range [first, last] of fully proven L2 blocks with one proof of it,
    ///         proved by `prover` (bound by the proof). Any owner of the current slot may submit it.
    function submitRange(
        uint64 first,
        uint64 last,
        bytes32 preRoot,
        bytes32 postRoot,
        bytes32 txCommitment,
        address prover,
        bytes calldata proof
    ) external {
        uint64 slot = _checkSubmitter();
        if (first != _provenHead + 1) revert WrongBlockNumber(_provenHead + 1, first);
        if (last < first) revert EmptyRange(first, last);
        if (preRoot != _lastPostRoot) revert WrongPreRoot(_lastPostRoot, preRoot);
        bytes32[] memory inputs = rangeInputs(first, last, preRoot, postRoot, txCommitment, prover);
        if (!verifier.verify(proof, inputs)) revert InvalidProof();
        bytes32 recordHash = keccak256(
            abi.encode(
                RangeRecord(
                    first, last, preRoot, postRoot, txCommitment, prover, msg.sender, slot, uint64(block.timestamp)
                )
            )
        );
        _ranges[first] = recordHash;
        _provenHead = last;
        _lastPostRoot = postRoot;
        emit RangeAccepted(first, last, preRoot, postRoot, txCommitment, prover, msg.sender, slot, recordHash);
    }

    /// @dev Reverts unless the sender owns the current slot; returns the slot.
    function _checkSubmitter() private view returns (uint64 slot) {
        slot = currentSlot();
        address owner = _agents[slot % _agents.length];
        if (msg.sender != owner) revert NotSlotOwner(msg.sender, owner, slot);
    }

    /// @notice What a range proof binds besides the roots and the commitment:
    ///         keccak256(abi.encode(l2ChainId, first, last, prover)) with each 8-byte word's top bit
    ///         cleared (four canonical field elements; 252 bits of keccak). The prover, not the L1
    ///         sender: see the contract notes.
    function rangeBinding(uint64 first, uint64 last, address prover) public view returns (bytes32) {
        return keccak256(abi.encode(l2ChainId, first, last, prover)) & BINDING_MASK;
    }

    /// @notice The public inputs a range proof must prove (the WrapperVerifier's order).
    function rangeInputs(
        uint64 first,
        uint64 last,
        bytes32 preRoot,
        bytes32 postRoot,
        bytes32 txCommitment,
        address prover
    ) public view returns (bytes32[] memory inputs) {
        inputs = new bytes32[](4);
        inputs[0] = preRoot;
        inputs[1] = postRoot;
        inputs[2] = txCommitment;
        inputs[3] = rangeBinding(first, last, prover);
    }

    /// @notice The slot of the current block's timestamp.
    function currentSlot() public view returns (uint64) {
        return (uint64(block.timestamp) - genesisTime) / slotSeconds;
    }

    /// @notice The agent owning `slot`.
    function slotOwner(uint64 slot) external view returns (address) {
        return _agents[slot % _agents.length];
    }

    /// @notice The submission agents, in schedule order.
    function agents() external view returns (address[] memory) {
        return _agents;
    }

    /// @notice The last accepted L2 block (0 before any) and its post root.
    function provenHead() external view returns (uint64 number, bytes32 postRoot) {
        return (_provenHead, _lastPostRoot);
    }

    /// @notice The stored hash of the range starting at `first` (zero if none): compare it with
    ///         `keccak256(abi.encode(record))` of a record read from the RangeAccepted event.
    function rangeRecordHash(uint64 first) external view returns (bytes32) {
        return _ranges[first];
    }
}
