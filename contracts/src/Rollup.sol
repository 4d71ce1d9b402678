// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IVerifier} from "./IVerifier.sol";

/// @title Rollup
/// @notice zkcrowd's L1 contract: the chain of fully proven L2 blocks (docs/protocol.md §1, steps 9-10).
/// @dev A block is accepted only
///      1. from the submission agent that owns the current time slot: slot = (now - genesisTime) /
///         slotSeconds, owner = agents[slot % agents.length] (a missed slot passes to the next agent);
///      2. if it is the next block (number = provenHead + 1) and its pre ledger root equals the last
///         accepted post ledger root (the accepted chain is contiguous);
///      3. if the verifier accepts its proof of (preRoot, postRoot, txCommitment, aggregator).
///      The agents are the validator set registered at deployment. A proven validator-set change
///      (BFT consensus, a later issue) will replace them through the verifier; until then they are fixed.
contract Rollup {
    /// @notice An accepted L2 block.
    struct BlockRecord {
        bytes32 preRoot;
        bytes32 postRoot;
        bytes32 txCommitment;
        address aggregator;
        address agent;
        uint64 slot;
        uint64 acceptedAt;
    }

    /// @notice The proof verifier.
    IVerifier public immutable verifier;
    /// @notice L1 timestamp of slot 0 (the deployment block's timestamp).
    uint64 public immutable genesisTime;
    /// @notice Length of a slot, seconds.
    uint64 public immutable slotSeconds;
    /// @notice The L2 genesis ledger root (the post root of block 0).
    bytes32 public immutable genesisRoot;

    address[] private _agents;
    uint64 private _provenHead;
    bytes32 private _lastPostRoot;
    mapping(uint64 number => BlockRecord) private _blocks;

    /// @notice An L2 block was accepted.
    event BlockAccepted(
        uint64 indexed number,
        bytes32 preRoot,
        bytes32 postRoot,
        bytes32 txCommitment,
        address aggregator,
        address indexed agent,
        uint64 slot
    );

    /// @notice No agent, or a zero-length slot, at deployment.
    error InvalidConfig(string what);
    /// @notice The sender does not own the current slot.
    error NotSlotOwner(address sender, address owner, uint64 slot);
    /// @notice The block is not the next one.
    error WrongBlockNumber(uint64 expected, uint64 got);
    /// @notice The block's pre root is not the last accepted post root.
    error WrongPreRoot(bytes32 expected, bytes32 got);
    /// @notice The verifier rejected the proof.
    error InvalidProof();
    /// @notice No accepted block has this number.
    error UnknownBlock(uint64 number);

    constructor(IVerifier verifier_, address[] memory agents_, uint64 slotSeconds_, bytes32 genesisRoot_) {
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
        _agents = agents_;
        _lastPostRoot = genesisRoot_;
    }

    /// @notice Submits the next fully proven L2 block.
    function submitBlock(
        uint64 number,
        bytes32 preRoot,
        bytes32 postRoot,
        bytes32 txCommitment,
        address aggregator,
        bytes calldata proof
    ) external {
        uint64 slot = currentSlot();
        address owner = _agents[slot % _agents.length];
        if (msg.sender != owner) revert NotSlotOwner(msg.sender, owner, slot);
        if (number != _provenHead + 1) revert WrongBlockNumber(_provenHead + 1, number);
        if (preRoot != _lastPostRoot) revert WrongPreRoot(_lastPostRoot, preRoot);
        if (!verifier.verify(proof, publicInputs(preRoot, postRoot, txCommitment, aggregator))) revert InvalidProof();
        _blocks[number] = BlockRecord(preRoot, postRoot, txCommitment, aggregator, msg.sender, slot, uint64(block.timestamp));
        _provenHead = number;
        _lastPostRoot = postRoot;
        emit BlockAccepted(number, preRoot, postRoot, txCommitment, aggregator, msg.sender, slot);
    }

    /// @notice The public inputs a block proof must prove (IVerifier's order).
    function publicInputs(bytes32 preRoot, bytes32 postRoot, bytes32 txCommitment, address aggregator)
        public
        pure
        returns (bytes32[] memory inputs)
    {
        inputs = new bytes32[](4);
        inputs[0] = preRoot;
        inputs[1] = postRoot;
        inputs[2] = txCommitment;
        inputs[3] = bytes32(uint256(uint160(aggregator)));
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

    /// @notice The last accepted L2 block (0 before any) and its post ledger root.
    function provenHead() external view returns (uint64 number, bytes32 postRoot) {
        return (_provenHead, _lastPostRoot);
    }

    /// @notice An accepted block.
    function blockAt(uint64 number) external view returns (BlockRecord memory) {
        if (number == 0 || number > _provenHead) revert UnknownBlock(number);
        return _blocks[number];
    }
}
