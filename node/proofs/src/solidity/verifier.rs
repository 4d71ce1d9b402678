//! The verifier contract: plonky2's `verify` for one circuit under `KeccakGoldilocksConfig`, in
//! Yul: public inputs, the Keccak transcript, the vanishing-polynomial identity at ζ (gate
//! constraints from the gates contract, see [`super::gates`]), and FRI (Merkle openings against the
//! caps, the batched opening combination, folding, the final polynomial, proof of work).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plonky2::field::types::{Field, PrimeField64};
use plonky2::plonk::circuit_data::{CommonCircuitData, VerifierOnlyCircuitData};
use zkcrowd_ledger::F;

use super::gates::GatesContract;
use super::layout::{EXT_BYTES, FIELD_BYTES, HASH_BYTES, Layout, Shape};
use super::transcript::prefix;
use super::yul::{Memory, P, Table, fill, indent};
use crate::D;
use crate::wrap::KeccakC;

/// `n`'s lowest `bits` bits in reverse order.
fn reverse_bits(n: usize, bits: usize) -> usize {
    if bits == 0 { 0 } else { n.reverse_bits() >> (usize::BITS as usize - bits) }
}

/// plonky2's marker for "no gate" in a selector group (`gates::selectors::UNUSED_SELECTOR`, not
/// exported): a selector polynomial takes this value on rows whose gate is in no group of it.
const UNUSED_SELECTOR: u64 = u32::MAX as u64;

/// The Solidity of the verifier contract `name`, which deploys the gates contract `gates_name`.
pub(crate) fn generate(
    common: &CommonCircuitData<F, D>,
    verifier_data: &VerifierOnlyCircuitData<KeccakC, D>,
    gates: &GatesContract,
    name: &str,
    gates_name: &str,
    header: &str,
) -> anyhow::Result<String> {
    let shape = Shape::of(common)?;
    let layout = Layout::of(&shape);
    anyhow::ensure!(shape.num_public_inputs % 4 == 0, "public inputs come in words of four elements");
    anyhow::ensure!(
        shape.num_routed_wires % shape.quotient_degree_factor == 0,
        "the partial products' chunks split the routed wires evenly"
    );
    let num_challenges = shape.num_challenges;
    let open_zeta = shape.open_zeta();
    let open_next = shape.open_next();
    let open_total = open_zeta + open_next;
    let steps = shape.reduction_arity_bits.len();

    // ---- Constant tables ----
    let mut table = Table::default();
    let cap_table = {
        let mut first = None;
        for hash in &verifier_data.constants_sigmas_cap.0 {
            let mut word = [0u8; 32];
            word[..HASH_BYTES].copy_from_slice(&hash.0);
            let at = table.push_word(word);
            first.get_or_insert(at);
        }
        first.expect("a cap has digests")
    };
    anyhow::ensure!(cap_table % 4 == 0, "the cap table is word-aligned");
    let lde_bits = shape.lde_bits();
    let omega = F::primitive_root_of_unity(lde_bits);
    // x = g·ω^rev(i): bit j of the index contributes ω^(2^(lde_bits - 1 - j)).
    let omega_powers: Vec<u64> =
        (0..lde_bits).map(|j| omega.exp_power_of_2(lde_bits - 1 - j).to_canonical_u64()).collect();
    let omega_inverse_powers: Vec<u64> =
        (0..lde_bits).map(|j| omega.exp_power_of_2(lde_bits - 1 - j).inverse().to_canonical_u64()).collect();
    let omega_table = table.push(&omega_powers);
    let omega_inverse_table = table.push(&omega_inverse_powers);
    let k_table = table.push(&common.k_is.iter().map(PrimeField64::to_canonical_u64).collect::<Vec<_>>());
    // Per FRI step: g^(-rev_{a-1}(m)) for the pairs' points, g^rev_a(t) for the coset's start, and
    // 2^-a (the folds' halvings, applied once).
    let mut fold_tables = Vec::new();
    for &arity_bits in &shape.reduction_arity_bits {
        let g = F::primitive_root_of_unity(arity_bits);
        let pair: Vec<u64> = (0..1usize << (arity_bits - 1))
            .map(|m| g.exp_u64(reverse_bits(m, arity_bits - 1) as u64).inverse().to_canonical_u64())
            .collect();
        let start: Vec<u64> = (0..1usize << arity_bits)
            .map(|t| g.exp_u64(reverse_bits(t, arity_bits) as u64).to_canonical_u64())
            .collect();
        let halving = F::TWO.inverse().exp_u64(arity_bits as u64).to_canonical_u64();
        fold_tables.push((table.push(&pair), table.push(&start), halving));
    }
    // Per FRI step, six entries: arity bits, path length, offset in the query of the evaluations and
    // of the path, commit cap offset in the proof, and the three fold tables' positions/halving.
    let step_paths = shape.step_path_lengths();
    let mut step_params = Vec::new();
    for (step, &arity_bits) in shape.reduction_arity_bits.iter().enumerate() {
        let (pair_table, start_table, halving) = fold_tables[step];
        let (evals, path) = layout.steps[step];
        let params = [
            arity_bits as u64,
            step_paths[step] as u64,
            evals as u64,
            path as u64,
            (layout.commit_caps + step * shape.cap_len() * HASH_BYTES) as u64,
            pair_table as u64,
            start_table as u64,
            halving,
        ];
        step_params.push(table.push(&params));
    }

    // ---- Memory ----
    let table_data = 0xa0;
    let mut memory = Memory::new(table_data + table.bytes().div_ceil(32) * 32 + 32);
    memory.alloc("PF", 32, "calldata offset of the proof");
    memory.alloc("SP", 128, "sponge: 12 little-endian u64 (96 bytes), then spill space");
    memory.alloc("SPOS", 32, "sponge: elements absorbed since the last permutation");
    memory.alloc("SOUT", 32, "sponge: unread outputs");
    memory.alloc("TMP", 64, "absorb buffer");
    memory.alloc("MODX", 192, "modexp precompile input");
    memory.alloc("PI", 32 * shape.num_public_inputs, "public inputs (the gates contract's hash-mode calldata)");
    memory.alloc("PIH", 128, "public-input hash");
    memory.alloc("BETA", 32 * num_challenges, "β per round");
    memory.alloc("GAMMA", 32 * num_challenges, "γ per round");
    memory.alloc("ALPHA", 32 * num_challenges, "α per round");
    memory.alloc("ZETA", 64, "ζ");
    memory.alloc("ZETAN", 64, "ζ^n");
    memory.alloc("ZH", 64, "Z_H(ζ) = ζ^n - 1");
    memory.alloc("FILTER", 64, "a gate's selector filter");
    memory.alloc("NUM", 64, "partial products: chunk numerator; then the quotient sum");
    memory.alloc("DEN", 64, "partial products: chunk denominator");
    memory.alloc("GZETA", 64, "g·ζ");
    memory.alloc("FALPHA", 64, "FRI batching α");
    memory.alloc("FBETA", 64 * steps, "FRI folding β per step");
    memory.alloc("QIDX", 32 * shape.num_queries, "query indices");
    memory.alloc("OPEN", 64 * open_total, "openings at ζ then gζ (extension, canonical)");
    memory.alloc("FINAL", 64 * shape.final_poly_len(), "final polynomial coefficients");
    memory.alloc("CALLBUF", 32 * gates.input_words, "gates contract calldata");
    memory.alloc("GOUT", 64 * num_challenges * gates.kinds.len(), "gates contract output");
    memory.alloc("GSUM", 64 * num_challenges, "Σ_gates filter·constraints per α");
    let num_terms = num_challenges * (2 + shape.num_partial_products);
    memory.alloc("TERMS", 64 * num_terms, "vanishing terms before the gates: L0·(Z - 1), partial products");
    memory.alloc("APW", 64 * open_zeta, "FRI α^k");
    memory.alloc("PZ", 64, "Σ α^k·opening at ζ");
    memory.alloc("PN", 64, "Σ α^k·opening at gζ");
    memory.alloc("LEAFS", FIELD_BYTES * open_zeta + 32, "one query's initial leaves, as in calldata");
    memory.alloc("X", 32, "the query's point x (then x^arity after each step)");
    memory.alloc("XINV", 32, "1/x");
    memory.alloc("PREV", 64, "the evaluation the next FRI step must hold");
    memory.alloc(
        "EVALS",
        64 * (1 << shape.reduction_arity_bits.iter().copied().max().unwrap_or(1)),
        "one FRI step's coset (then its folds)",
    );

    // ---- Generated fragments ----
    // The sponge after the constant prefix of the transcript.
    let sponge = prefix(common, &verifier_data.circuit_digest);
    let mut sponge_words = [[0u8; 32]; 3];
    for (i, element) in sponge.state.iter().enumerate() {
        sponge_words[i / 4][8 * (i % 4)..8 * (i % 4) + 8].copy_from_slice(&element.to_canonical_u64().to_le_bytes());
    }
    let hex = |bytes: &[u8]| format!("0x{}", alloy::hex::encode(bytes));

    // Filters: Π_{k ∈ group, k ≠ gate} (k - s)·(UNUSED - s if several selectors), s = constants[selector].
    let (selector_indices, groups) = selectors(common)?;
    let many = u64::from(groups.len() > 1);
    let mut filters = String::new();
    for (gate, &selector) in selector_indices.iter().enumerate() {
        let group = &groups[selector];
        anyhow::ensure!(group.contains(&gate), "gate {gate} outside its selector group");
        writeln!(filters, "gate_sum({gate}, {selector}, {}, {}, {many})", group.start, group.end)?;
    }

    // Per arity: the coset's decoding, its check against the previous evaluation and its fold,
    // unrolled with the fold constants inlined.
    let mut arities: Vec<usize> = shape.reduction_arity_bits.clone();
    arities.sort_unstable();
    arities.dedup();
    let mut cosets = String::new();
    let mut cosets_switch = String::from("switch arity_bits\n");
    for &arity_bits in &arities {
        cosets.push_str(&coset_function(arity_bits));
        writeln!(
            cosets_switch,
            "case {arity_bits} {{ coset_{arity_bits}(and(idx, {}), step, tb(add(params, 6))) }}",
            (1usize << arity_bits) - 1
        )?;
    }
    cosets_switch.push_str("default { revert(0, 0) }\n");

    // Per-step FRI calls (the parameters are in the table).
    let mut fri_steps = String::new();
    for (step, &arity_bits) in shape.reduction_arity_bits.iter().enumerate() {
        writeln!(
            fri_steps,
            "// FRI step {step}: a coset of {arity} evaluations, path of {path_length}.\nidx := fri_step(q, idx, {step}, {params})",
            arity = 1usize << arity_bits,
            path_length = step_paths[step],
            params = step_params[step],
        )?;
    }

    // The combination's loop over the leaves: eight elements per iteration, then the rest.
    let combine = {
        let lane = |word_lane: usize, power: usize| {
            let value = match word_lane {
                0 => "shr(192, w)".to_owned(),
                1 => "and(shr(128, w), 0xffffffffffffffff)".to_owned(),
                2 => "and(shr(64, w), 0xffffffffffffffff)".to_owned(),
                _ => "and(w, 0xffffffffffffffff)".to_owned(),
            };
            format!(
                "    v := {value}\n    r0 := add(r0, mul(v, mload(add(pw, {a}))))\n    r1 := add(r1, mul(v, mload(add(pw, {b}))))\n",
                a = 64 * power,
                b = 64 * power + 32
            )
        };
        let full = open_zeta / 8 * 8;
        let mut code = format!(
            "for {{ let at := $LEAFS$ }} lt(at, add($LEAFS$, {})) {{ at := add(at, 64) }} {{\n    let v := 0\n",
            8 * full
        );
        for half in 0..2 {
            write!(code, "    let w{half} := mload(add(at, {}))\n    bad := or(bad, high_ones(w{half}))\n", 32 * half)?;
        }
        for half in 0..2 {
            // The first half declares `w`, the second reuses it.
            let declare = if half == 0 { "let " } else { "" };
            writeln!(code, "    {declare}w := bswap4(w{half})")?;
            for l in 0..4 {
                code.push_str(&lane(l, 4 * half + l));
            }
        }
        code.push_str("    pw := add(pw, 512)\n}\n");
        if full < open_zeta {
            code.push_str("{\n    let v := 0\n    let w := 0\n");
            for k in full..open_zeta {
                if k % 4 == 0 || k == full {
                    write!(
                        code,
                        "    w := mload(add($LEAFS$, {}))\n    bad := or(bad, high_ones(w))\n    w := bswap4(w)\n",
                        8 * (k / 4 * 4)
                    )?;
                }
                code.push_str(&lane(k % 4, k - full));
            }
            code.push_str("}\n");
        }
        indent(&code, "        ")
    };

    let oracle_sizes = shape.oracle_sizes();
    let mut initial = String::new();
    let mut leaf_offset = 0;
    for (oracle, &size) in oracle_sizes.iter().enumerate() {
        let (leaf, path) = layout.initial[oracle];
        let cap = match oracle {
            0 => "0".to_owned(),
            _ => format!("add(pf, {})", layout.caps[oracle - 1]),
        };
        writeln!(
            initial,
            "// Oracle {oracle}: {size} elements.\ncalldatacopy(add($LEAFS$, {at}), add(q, {leaf}), {bytes})\nif iszero(merkle(and(keccak256(add($LEAFS$, {at}), {bytes}), $MASK25$), idx, add(q, {path}), $IPATH$, {cap})) {{ fail() }}",
            at = FIELD_BYTES * leaf_offset,
            bytes = FIELD_BYTES * size,
        )?;
        leaf_offset += size;
    }

    let degree = 1u64 << shape.degree_bits;
    let g = F::primitive_root_of_unity(shape.degree_bits);
    let mut values = BTreeMap::new();
    memory.substitutions(&mut values);
    let pairs: Vec<(&str, String)> = vec![
        ("P", P.to_owned()),
        ("TB", format!("{table_data:#x}")),
        ("MASK25", format!("0x{}{}", "ff".repeat(HASH_BYTES), "00".repeat(32 - HASH_BYTES))),
        ("PROOF_BYTES", layout.total.to_string()),
        ("NPI", shape.num_public_inputs.to_string()),
        ("NPI_WORDS", (shape.num_public_inputs / 4).to_string()),
        ("NC", num_challenges.to_string()),
        ("NK", shape.num_constants.to_string()),
        ("NR", shape.num_routed_wires.to_string()),
        ("NW", shape.num_wires.to_string()),
        ("NPP", shape.num_partial_products.to_string()),
        ("QF", shape.quotient_degree_factor.to_string()),
        ("NTERMS", num_terms.to_string()),
        ("OPEN_ZETA", open_zeta.to_string()),
        ("OPEN_NEXT", open_next.to_string()),
        ("OPEN_TOTAL", open_total.to_string()),
        ("ZS_AT", (shape.num_constants + shape.num_routed_wires + shape.num_wires).to_string()),
        ("PP_AT", (shape.num_constants + shape.num_routed_wires + shape.num_wires + num_challenges).to_string()),
        ("QUOTIENT_AT", (open_zeta - num_challenges * shape.quotient_degree_factor).to_string()),
        ("SIGMA_AT", shape.num_constants.to_string()),
        ("WIRES_AT", (shape.num_constants + shape.num_routed_wires).to_string()),
        ("CAP_BYTES", (shape.cap_len() * HASH_BYTES).to_string()),
        ("CAP_LEN", shape.cap_len().to_string()),
        ("CAPS0", layout.caps[0].to_string()),
        ("CAPS1", layout.caps[1].to_string()),
        ("CAPS2", layout.caps[2].to_string()),
        ("OPENINGS", layout.openings.to_string()),
        ("COMMIT", layout.commit_caps.to_string()),
        ("FINAL_AT", layout.final_poly.to_string()),
        ("FINAL_LEN", shape.final_poly_len().to_string()),
        ("POW_AT", layout.pow_witness.to_string()),
        ("POW_SHIFT", (64 - shape.proof_of_work_bits).to_string()),
        ("QUERIES", layout.queries.to_string()),
        ("QUERY_BYTES", layout.query_bytes.to_string()),
        ("NQ", shape.num_queries.to_string()),
        ("STEPS", steps.to_string()),
        ("LDE_BITS", lde_bits.to_string()),
        ("LDE_MASK", ((1u64 << lde_bits) - 1).to_string()),
        ("IPATH", shape.initial_path_length().to_string()),
        ("DEGREE_BITS", shape.degree_bits.to_string()),
        ("N", degree.to_string()),
        ("G", g.to_canonical_u64().to_string()),
        ("SHIFT", F::MULTIPLICATIVE_GROUP_GENERATOR.to_canonical_u64().to_string()),
        ("SHIFT_INV", F::MULTIPLICATIVE_GROUP_GENERATOR.inverse().to_canonical_u64().to_string()),
        ("UNUSED", UNUSED_SELECTOR.to_string()),
        ("CAP_TABLE", cap_table.to_string()),
        ("OMEGA", omega_table.to_string()),
        ("OMEGA_INV", omega_inverse_table.to_string()),
        ("KIS", k_table.to_string()),
        ("SPONGE0", hex(&sponge_words[0])),
        ("SPONGE1", hex(&sponge_words[1])),
        ("SPONGE2", hex(&sponge_words[2])),
        ("SPONGE_POS", sponge.position.to_string()),
        ("SPONGE_OUT", sponge.outputs.to_string()),
        ("GATES_IN", (32 * gates.input_words).to_string()),
        ("GATES_OUT", (64 * num_challenges * gates.kinds.len()).to_string()),
        ("NGATES", gates.kinds.len().to_string()),
        ("ZS_LEAF", layout.initial[2].0.to_string()),
    ];
    for (key, value) in pairs {
        values.insert(key.to_owned(), value);
    }
    let helpers = fill(HELPERS, &values)?;
    let body = fill(BODY, &values)?;
    let filters = fill(&filters, &values)?;
    let initial = fill(&initial, &values)?;
    let fri_steps = fill(&fri_steps, &values)?;
    let body = body
        .replace("// @FILTERS@\n", &filters)
        .replace("// @INITIAL@\n", &indent(&initial, "    "))
        .replace("// @STEPS@\n", &indent(&fri_steps, "    "))
        .replace("// @COMBINE@\n", &fill(&combine, &values)?);
    let helpers = helpers
        .replace("// @COSETS_SWITCH@\n", &fill(&indent(&cosets_switch, "    "), &values)?)
        .replace("// @COSETS@\n", &fill(&cosets, &values)?);

    let layout_doc = format!(
        "///      Calldata layout of `proof` ({total} bytes; field elements 8 bytes little-endian, hashes 25 bytes):\n///      wires, Z/partial-product and quotient caps at 0, {c1}, {c2}; openings at {o} ({open_total} extension\n///      elements: constants, σs, wires, Zs, partial products, quotient chunks at ζ, then Zs at gζ); FRI commit caps at\n///      {commit}; final polynomial ({final_len} coefficients) at {final_at}; proof-of-work witness at {pow}; {nq} query\n///      rounds of {qb} bytes from {queries} (per round: four leaves with their {ipath}-sibling paths, then per\n///      FRI step the coset's evaluations and its path).\n",
        total = layout.total,
        c1 = layout.caps[1],
        c2 = layout.caps[2],
        o = layout.openings,
        commit = layout.commit_caps,
        final_len = shape.final_poly_len(),
        final_at = layout.final_poly,
        pow = layout.pow_witness,
        nq = shape.num_queries,
        qb = layout.query_bytes,
        queries = layout.queries,
        ipath = shape.initial_path_length(),
    );
    let source = format!(
        "{header}
import {{IVerifier}} from \"../IVerifier.sol\";
import {{{gates_name}}} from \"./{gates_name}.sol\";

/// @title {name}
/// @notice Verifies a wrapped zkcrowd range proof: plonky2 (Goldilocks, quadratic extension,
///         `KeccakGoldilocksConfig`), {rows} rows, {nq} FRI queries at rate 1/2^{rate}, {pow} bits of proof of work
///         ({security} bits of conjectured security).
/// @dev `publicInputs` are {npi_words} words, each four big-endian 64-bit field elements (canonical, below p):
///      pre ledger root, post ledger root, tx commitment, range binding (see docs/protocol.md). The verifier:
///      1. reads the public inputs; their Poseidon hash comes from the gates contract;
///      2. replays plonky2's Keccak transcript (the FRI parameters and circuit digest are absorbed in the
///         constant starting state) for β, γ, α, ζ, FRI's α and βs, the proof-of-work response and the
///         query indices;
///      3. checks the vanishing identity at ζ: Σ α^k·term_k = Z_H(ζ)·Σ ζ^(n·j)·quotient_j(ζ), where the
///         terms are L0(ζ)·(Z(ζ) - 1), the permutation's partial-product checks and the gates' constraints
///         (the gates contract) under their selector filters;
///      4. runs FRI: for each query, the four leaves against their caps (the constants/σ cap is built
///         in), their α-combination against the openings, each folding step against its commit cap,
///         and the final polynomial.
///      Any failure returns false.
{layout_doc}contract {name} is IVerifier {{
    /// @notice The gate-constraint evaluator, deployed with this verifier (it would not fit in one
    ///         contract's code).
    address public immutable gates;

    /// @dev 64-bit constants: the constants/σ Merkle cap, ω^(2^j) and inverses, the permutation's
    ///      coset shifts k_i, the FRI fold tables.
    bytes internal constant TABLE =
        hex\"{table}\";

    constructor() {{
        gates = address(new {gates_name}());
    }}

    /// @inheritdoc IVerifier
    function verify(bytes calldata proof, bytes32[] calldata publicInputs) external view returns (bool) {{
        bytes memory table = TABLE;
        address gatesAddress = gates;
        assembly {{
            // Memory map (the table's data is at 0xa0, behind Solidity's first allocation):
{map}{helpers}{body}        }}
    }}
}}
",
        rows = degree,
        nq = shape.num_queries,
        rate = shape.rate_bits,
        pow = shape.proof_of_work_bits,
        security = shape.conjectured_security_bits(),
        npi_words = shape.num_public_inputs / 4,
        table = table.hex(),
        map = memory.comment("            "),
        helpers = indent(&helpers, "            "),
        body = indent(&body, "            "),
    );
    debug_assert_eq!(EXT_BYTES, 16);
    Ok(source)
}

/// plonky2's selector groups (not exported): read back from the common data's serialization.
fn selectors(common: &CommonCircuitData<F, D>) -> anyhow::Result<(Vec<usize>, Vec<std::ops::Range<usize>>)> {
    use plonky2::util::serialization::{Buffer, Read, Write};
    let mut bytes = Vec::new();
    bytes.write_selectors_info(&common.selectors_info).map_err(|error| anyhow::anyhow!("{error:?}"))?;
    let mut buffer = Buffer::new(&bytes);
    let unreadable = |error| anyhow::anyhow!("reading the selectors: {error:?}");
    let indices = buffer.read_usize_vec().map_err(unreadable)?;
    let count = buffer.read_usize().map_err(unreadable)?;
    let mut groups = Vec::with_capacity(count);
    for _ in 0..count {
        let start = buffer.read_usize().map_err(unreadable)?;
        let end = buffer.read_usize().map_err(unreadable)?;
        groups.push(start..end);
    }
    anyhow::ensure!(indices.len() == common.gates.len(), "a selector index per gate");
    anyhow::ensure!(groups.len() == common.selectors_info.num_selectors(), "the selector groups");
    Ok((indices, groups))
}

/// Helpers: failure, field and extension arithmetic, byte order, the sponge, Merkle paths, FRI.
const HELPERS: &str = r#"
// ---- Failure: `verify` returns false ----
function fail() {
    mstore(0, 0)
    return(0, 32)
}

// ---- Goldilocks and its quadratic extension F[u]/(u^2 - 7); values canonical (< p) ----
function em(a0, a1, b0, b1) -> c0, c1 {
    c0 := mod(add(mul(a0, b0), mul(7, mul(a1, b1))), $P$)
    c1 := mod(add(mul(a0, b1), mul(a1, b0)), $P$)
}
function es(a0, a1, b0, b1) -> c0, c1 {
    c0 := addmod(a0, sub($P$, b0), $P$)
    c1 := addmod(a1, sub($P$, b1), $P$)
}
// 1/x for x ≠ 0 by Fermat (x^(p-2)), with the modexp precompile.
function finv(x) -> y {
    mstore($MODX$, 32)
    mstore(add($MODX$, 32), 32)
    mstore(add($MODX$, 64), 32)
    mstore(add($MODX$, 96), x)
    mstore(add($MODX$, 128), sub($P$, 2))
    mstore(add($MODX$, 160), $P$)
    if iszero(staticcall(gas(), 5, $MODX$, 192, $MODX$, 32)) { revert(0, 0) }
    y := mload($MODX$)
}
// 1/(a0 + a1 u) = (a0 - a1 u)/(a0^2 - 7 a1^2); the norm is zero only at zero (7 is not a square).
function einv(a0, a1) -> c0, c1 {
    let n := addmod(mulmod(a0, a0, $P$), sub($P$, mulmod(7, mulmod(a1, a1, $P$), $P$)), $P$)
    n := finv(n)
    c0 := mulmod(a0, n, $P$)
    c1 := mulmod(sub($P$, a1), n, $P$)
}
function fpow2k(x, k) -> y {
    y := x
    for { } k { k := sub(k, 1) } { y := mulmod(y, y, $P$) }
}
function tb(k) -> v {
    v := shr(192, mload(add($TB$, shl(3, k))))
}

// ---- Byte order: plonky2 serializes field elements little-endian ----
// Reverses the bytes of each 64-bit lane of a word.
function bswap4(x) -> y {
    y := or(shr(8, and(x, 0xff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00)),
            shl(8, and(x, 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff)))
    y := or(shr(16, and(y, 0xffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000)),
            shl(16, and(y, 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff)))
    y := or(shr(32, and(y, 0xffffffff00000000ffffffff00000000ffffffff00000000ffffffff00000000)),
            shl(32, and(y, 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff)))
}
function bswap64(x) -> y {
    y := shr(192, bswap4(shl(192, x)))
}
// The little-endian field element at calldata offset `at` (not checked canonical).
function cd64(at) -> v {
    v := bswap64(shr(192, calldataload(at)))
}

// ---- plonky2's duplex sponge over the Keccak pseudo-permutation (see `KeccakPermutation`) ----
// The state is 12 little-endian u64 at SP; absorbed elements are written in place (overwrite mode).
// Whether any 64-bit lane of a word holds a value ≥ 2^64 - 2^32 (its last four bytes all 0xff): the
// only lanes that can be non-canonical.
function high_ones(h) -> r {
    let x := and(h, 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff)
    r := and(add(x, 0x0000000000000001000000000000000100000000000000010000000000000001),
             0x0000000100000000000000010000000000000001000000000000000100000000)
}
// state := the first 12 canonical lanes of H(state) ‖ H(H(state)) ‖ ... (plonky2 drops lanes ≥ p).
function sponge_permute() {
    let h1 := keccak256($SP$, 96)
    mstore($SP$, h1)
    let h2 := keccak256($SP$, 32)
    mstore(add($SP$, 32), h2)
    let h3 := keccak256(add($SP$, 32), 32)
    mstore(add($SP$, 64), h3)
    if or(or(high_ones(h1), high_ones(h2)), high_ones(h3)) { sponge_permute_slow(h1) }
}
// The rejection path (probability about 12·2^-32): rebuild the state lane by lane.
function sponge_permute_slow(h) {
    let count := 0
    for { } lt(count, 12) { } {
        for { let l := 0 } and(lt(l, 4), lt(count, 12)) { l := add(l, 1) } {
            let lane := and(shr(sub(192, shl(6, l)), h), 0xffffffffffffffff)
            if lt(bswap64(lane), $P$) {
                mstore(add($SP$, shl(3, count)), shl(192, lane))
                count := add(count, 1)
            }
        }
        mstore(0, h)
        h := keccak256(0, 32)
    }
}
// Absorbs n little-endian elements from calldata at `at` (plonky2's `observe_elements`).
function absorb_calldata(at, n) {
    let p := mload($SPOS$)
    for { } n { } {
        let k := sub(8, p)
        if lt(n, k) { k := n }
        calldatacopy(add($SP$, shl(3, p)), at, shl(3, k))
        at := add(at, shl(3, k))
        n := sub(n, k)
        p := add(p, k)
        if eq(p, 8) {
            sponge_permute()
            p := 0
        }
    }
    mstore($SPOS$, p)
    mstore($SOUT$, mul(iszero(p), 8))
}
// The same from memory.
function absorb_memory(at, n) {
    let p := mload($SPOS$)
    for { } n { } {
        let k := sub(8, p)
        if lt(n, k) { k := n }
        mcopy(add($SP$, shl(3, p)), at, shl(3, k))
        at := add(at, shl(3, k))
        n := sub(n, k)
        p := add(p, k)
        if eq(p, 8) {
            sponge_permute()
            p := 0
        }
    }
    mstore($SPOS$, p)
    mstore($SOUT$, mul(iszero(p), 8))
}
// Absorbs a cap of 25-byte digests at calldata `at`: each digest is four elements, its bytes in
// chunks of 7, 7, 7 and 4, zero-padded to 8 (plonky2's `BytesHash::to_vec`).
function absorb_cap(at) {
    for { let i := 0 } lt(i, $CAP_LEN$) { i := add(i, 1) } {
        let h := calldataload(add(at, mul(i, 25)))
        let w := or(or(and(h, 0xffffffffffffff00000000000000000000000000000000000000000000000000),
                       and(shr(8, h), 0x0000000000000000ffffffffffffff0000000000000000000000000000000000)),
                    or(and(shr(16, h), 0x00000000000000000000000000000000ffffffffffffff000000000000000000),
                       and(shr(24, h), 0x000000000000000000000000000000000000000000000000ffffffff00000000)))
        mstore($TMP$, w)
        absorb_memory($TMP$, 4)
    }
}
// plonky2's `get_challenge`: permute if inputs are pending or outputs are spent, then take the last
// unread output.
function challenge() -> c {
    let outs := mload($SOUT$)
    if or(mload($SPOS$), iszero(outs)) {
        sponge_permute()
        mstore($SPOS$, 0)
        outs := 8
    }
    outs := sub(outs, 1)
    mstore($SOUT$, outs)
    c := bswap64(shr(192, mload(add($SP$, shl(3, outs)))))
}

// ---- Merkle paths (Keccak, 25-byte digests): the leaf digest `h` (top 25 bytes) at `index`,
// siblings from calldata `at`, up to a cap entry: calldata `cap`, or the built-in constants/σ cap
// when `cap` is 0 ----
function merkle(h, index, at, length, cap) -> ok {
    for { let end := add(at, mul(length, 25)) } lt(at, end) { at := add(at, 25) } {
        let sibling := and(calldataload(at), $MASK25$)
        switch and(index, 1)
        case 0 {
            mstore(0, h)
            mstore(25, sibling)
        }
        default {
            mstore(0, sibling)
            mstore(25, h)
        }
        h := and(keccak256(0, 50), $MASK25$)
        index := shr(1, index)
    }
    let expected := 0
    switch cap
    case 0 { expected := mload(add($TB$, shl(5, add(shr(2, $CAP_TABLE$), index)))) }
    default { expected := and(calldataload(add(cap, mul(index, 25))), $MASK25$) }
    ok := eq(h, expected)
}

// ---- Gate constraints: filter · Σ_j c_j α^j from the gates contract, summed into GSUM ----
// filter = Π_{k ∈ [start, end), k ≠ gate} (k - s) · (UNUSED - s if `many`), s the selector's opening.
function gate_sum(gate, selector, start, end, many) {
    let p := add($OPEN$, shl(6, selector))
    mstore($FILTER$, 1)
    mstore(add($FILTER$, 32), 0)
    for { let k := start } lt(k, end) { k := add(k, 1) } {
        if iszero(eq(k, gate)) { emul_into($FILTER$, addmod(k, sub($P$, mload(p)), $P$), mod(sub($P$, mload(add(p, 32))), $P$)) }
    }
    if many { emul_into($FILTER$, addmod($UNUSED$, sub($P$, mload(p)), $P$), mod(sub($P$, mload(add(p, 32))), $P$)) }
    for { let i := 0 } lt(i, $NC$) { i := add(i, 1) } {
        let o := add($GOUT$, shl(6, add(mul(gate, $NC$), i)))
        let t0, t1 := em(mload($FILTER$), mload(add($FILTER$, 32)), mload(o), mload(add(o, 32)))
        let g := add($GSUM$, shl(6, i))
        mstore(g, addmod(mload(g), t0, $P$))
        mstore(add(g, 32), addmod(mload(add(g, 32)), t1, $P$))
    }
}
// The memory extension value at `at` times (b0 + b1 u), in place.
function emul_into(at, b0, b1) {
    let c0, c1 := em(mload(at), mload(add(at, 32)), b0, b1)
    mstore(at, c0)
    mstore(add(at, 32), c1)
}
// Partial-product chunk c of round i: NUM := Π_j (w_j + β·k_j·ζ + γ), DEN := Π_j (w_j + β·σ_j + γ)
// over the chunk's routed wires j.
function pp_chunk(i, c) {
    mstore($NUM$, 1)
    mstore(add($NUM$, 32), 0)
    mstore($DEN$, 1)
    mstore(add($DEN$, 32), 0)
    for { let j := mul(c, $QF$) } lt(j, add(mul(c, $QF$), $QF$)) { j := add(j, 1) } {
        let wp := add($OPEN$, shl(6, add($WIRES_AT$, j)))
        let w0 := addmod(mload(wp), mload(add($GAMMA$, shl(5, i))), $P$)
        let b := mulmod(mload(add($BETA$, shl(5, i))), tb(add($KIS$, j)), $P$)
        emul_into($NUM$, addmod(w0, mulmod(mload($ZETA$), b, $P$), $P$), addmod(mload(add(wp, 32)), mulmod(mload(add($ZETA$, 32)), b, $P$), $P$))
        b := mload(add($BETA$, shl(5, i)))
        let sp := add($OPEN$, shl(6, add($SIGMA_AT$, j)))
        emul_into($DEN$, addmod(w0, mulmod(mload(sp), b, $P$), $P$), addmod(mload(add(wp, 32)), mulmod(mload(add(sp, 32)), b, $P$), $P$))
    }
}

// @COSETS@
// ---- FRI ----
// One folding step at query offset `q`: checks the coset's Merkle path (coset index `idx >> arity`),
// that the coset holds the previous evaluation (PREV) at `idx`'s position, and replaces PREV with
// the fold at β: pairs (E[2m], E[2m+1]) are the values at ±z_m, z_m =
// start·g^rev(m), and E'[m] = (E[2m] + E[2m+1]) + β·z_m^-1·(E[2m] - E[2m+1]) (the halvings are
// applied once at the end); each level squares β and the start. Returns the coset index.
function fri_step(q, idx, step, params) -> next {
    // params: arity bits, path length, evaluations and path offsets in the query, commit cap
    // offset in the proof, pair table, start table, 2^-arity_bits.
    let arity_bits := tb(params)
    let arity := shl(arity_bits, 1)
    // The coset's digest, and a canonical decoding of its values.
    calldatacopy($LEAFS$, add(q, tb(add(params, 2))), shl(4, arity))
    next := shr(arity_bits, idx)
    if iszero(merkle(and(keccak256($LEAFS$, shl(4, arity)), $MASK25$), next, add(q, tb(add(params, 3))), tb(add(params, 1)), add(mload($PF$), tb(add(params, 4))))) { fail() }
    // Decode, check against PREV and fold, unrolled for this arity (see `coset_*`).
// @COSETS_SWITCH@
    // x := x^arity, and its inverse.
    mstore($X$, fpow2k(mload($X$), arity_bits))
    mstore($XINV$, fpow2k(mload($XINV$), arity_bits))
}
"#;

/// The verification, in order.
const BODY: &str = r#"
if iszero(eq(table, 0x80)) { revert(0, 0) }
if iszero(eq(proof.length, $PROOF_BYTES$)) { fail() }
if iszero(eq(publicInputs.length, $NPI_WORDS$)) { fail() }
let pf := proof.offset
mstore($PF$, pf)

// ---- 1. Public inputs: four big-endian 64-bit elements per word, each canonical ----
for { let i := 0 } lt(i, $NPI_WORDS$) { i := add(i, 1) } {
    let word := calldataload(add(publicInputs.offset, shl(5, i)))
    for { let k := 0 } lt(k, 4) { k := add(k, 1) } {
        let v := and(shr(sub(192, shl(6, k)), word), 0xffffffffffffffff)
        if iszero(lt(v, $P$)) { fail() }
        mstore(add($PI$, shl(5, add(shl(2, i), k))), v)
    }
}
// Their Poseidon hash (plonky2's `hash_no_pad`), by the gates contract's hash mode.
if iszero(staticcall(gas(), gatesAddress, $PI$, mul($NPI$, 32), $PIH$, 128)) { fail() }
if iszero(eq(returndatasize(), 128)) { fail() }

// ---- 2. The transcript ----
// The sponge after the FRI parameters and the circuit digest (computed by the generator).
mstore($SP$, $SPONGE0$)
mstore(add($SP$, 32), $SPONGE1$)
mstore(add($SP$, 64), $SPONGE2$)
mstore($SPOS$, $SPONGE_POS$)
mstore($SOUT$, $SPONGE_OUT$)
mstore($TMP$, or(or(shl(192, bswap64(mload($PIH$))), shl(128, bswap64(mload(add($PIH$, 32))))),
                 or(shl(64, bswap64(mload(add($PIH$, 64)))), bswap64(mload(add($PIH$, 96))))))
absorb_memory($TMP$, 4)
absorb_cap(add(pf, $CAPS0$))
for { let i := 0 } lt(i, $NC$) { i := add(i, 1) } { mstore(add($BETA$, shl(5, i)), challenge()) }
for { let i := 0 } lt(i, $NC$) { i := add(i, 1) } { mstore(add($GAMMA$, shl(5, i)), challenge()) }
absorb_cap(add(pf, $CAPS1$))
for { let i := 0 } lt(i, $NC$) { i := add(i, 1) } { mstore(add($ALPHA$, shl(5, i)), challenge()) }
absorb_cap(add(pf, $CAPS2$))
mstore($ZETA$, challenge())
mstore(add($ZETA$, 32), challenge())
absorb_calldata(add(pf, $OPENINGS$), mul($OPEN_TOTAL$, 2))
mstore($FALPHA$, challenge())
mstore(add($FALPHA$, 32), challenge())
for { let s := 0 } lt(s, $STEPS$) { s := add(s, 1) } {
    absorb_cap(add(pf, add($COMMIT$, mul(s, $CAP_BYTES$))))
    mstore(add($FBETA$, shl(6, s)), challenge())
    mstore(add($FBETA$, add(shl(6, s), 32)), challenge())
}
absorb_calldata(add(pf, $FINAL_AT$), mul($FINAL_LEN$, 2))
absorb_calldata(add(pf, $POW_AT$), 1)
// Proof of work: the response's top bits are zero (plonky2's `fri_verify_proof_of_work`).
if iszero(lt(cd64(add(pf, $POW_AT$)), $P$)) { fail() }
if shr($POW_SHIFT$, challenge()) { fail() }
for { let i := 0 } lt(i, $NQ$) { i := add(i, 1) } { mstore(add($QIDX$, shl(5, i)), and(challenge(), $LDE_MASK$)) }

// ---- 3. Openings and final polynomial, decoded and canonical ----
for { let k := 0 } lt(k, $OPEN_TOTAL$) { k := add(k, 1) } {
    let w := bswap4(calldataload(add(pf, add($OPENINGS$, shl(4, k)))))
    let v0 := shr(192, w)
    let v1 := and(shr(128, w), 0xffffffffffffffff)
    if iszero(and(lt(v0, $P$), lt(v1, $P$))) { fail() }
    mstore(add($OPEN$, shl(6, k)), v0)
    mstore(add($OPEN$, add(shl(6, k), 32)), v1)
}
for { let k := 0 } lt(k, $FINAL_LEN$) { k := add(k, 1) } {
    let w := bswap4(calldataload(add(pf, add($FINAL_AT$, shl(4, k)))))
    let v0 := shr(192, w)
    let v1 := and(shr(128, w), 0xffffffffffffffff)
    if iszero(and(lt(v0, $P$), lt(v1, $P$))) { fail() }
    mstore(add($FINAL$, shl(6, k)), v0)
    mstore(add($FINAL$, add(shl(6, k), 32)), v1)
}

// ---- 4. The vanishing identity at ζ ----
{
    // Gate constraints, by the gates contract: calldata α, constants, wires, public-input hash.
    mcopy($CALLBUF$, $ALPHA$, mul($NC$, 32))
    mcopy(add($CALLBUF$, mul($NC$, 32)), $OPEN$, mul($NK$, 64))
    mcopy(add($CALLBUF$, add(mul($NC$, 32), mul($NK$, 64))), add($OPEN$, mul($WIRES_AT$, 64)), mul($NW$, 64))
    mcopy(add($CALLBUF$, add(mul($NC$, 32), mul(add($NK$, $NW$), 64))), $PIH$, 128)
    if iszero(staticcall(gas(), gatesAddress, $CALLBUF$, $GATES_IN$, $GOUT$, $GATES_OUT$)) { fail() }
    if iszero(eq(returndatasize(), $GATES_OUT$)) { fail() }
// @FILTERS@
}
{
    // ζ^n and Z_H(ζ) = ζ^n - 1.
    let n0 := mload($ZETA$)
    let n1 := mload(add($ZETA$, 32))
    for { let i := 0 } lt(i, $DEGREE_BITS$) { i := add(i, 1) } { n0, n1 := em(n0, n1, n0, n1) }
    mstore($ZETAN$, n0)
    mstore(add($ZETAN$, 32), n1)
    mstore($ZH$, addmod(n0, sub($P$, 1), $P$))
    mstore(add($ZH$, 32), n1)
}
{
    // L0(ζ) = Z_H(ζ) / (n·(ζ - 1)), 1 at ζ = 1 (plonky2's `eval_l_0`).
    let z0 := mload($ZETA$)
    let z1 := mload(add($ZETA$, 32))
    let l0 := 1
    let l1 := 0
    if iszero(and(eq(z0, 1), iszero(z1))) {
        let d0, d1 := einv(mulmod(addmod(z0, sub($P$, 1), $P$), $N$, $P$), mulmod(z1, $N$, $P$))
        l0, l1 := em(mload($ZH$), mload(add($ZH$, 32)), d0, d1)
    }
    for { let i := 0 } lt(i, $NC$) { i := add(i, 1) } {
        let zp := add($OPEN$, shl(6, add($ZS_AT$, i)))
        let t0, t1 := em(l0, l1, addmod(mload(zp), sub($P$, 1), $P$), mload(add(zp, 32)))
        mstore(add($TERMS$, shl(6, i)), t0)
        mstore(add($TERMS$, add(shl(6, i), 32)), t1)
    }
}
// Partial products: per round i and chunk c of $QF$ routed wires, with the accumulators Z(ζ),
// partial products, Z(gζ): prev·Π(w + β·k·ζ + γ) - next·Π(w + β·σ + γ).
for { let i := 0 } lt(i, $NC$) { i := add(i, 1) } {
    for { let c := 0 } lt(c, add($NPP$, 1)) { c := add(c, 1) } {
        pp_chunk(i, c)
        // prev: Z(ζ) for the first chunk, else partial product c - 1; next: partial product c, or Z(gζ).
        let prev := add($OPEN$, shl(6, add($ZS_AT$, i)))
        if c { prev := add($OPEN$, shl(6, add($PP_AT$, add(mul(i, $NPP$), sub(c, 1))))) }
        let next := add($OPEN$, shl(6, add($OPEN_ZETA$, i)))
        if lt(c, $NPP$) { next := add($OPEN$, shl(6, add($PP_AT$, add(mul(i, $NPP$), c)))) }
        emul_into($NUM$, mload(prev), mload(add(prev, 32)))
        emul_into($DEN$, mload(next), mload(add(next, 32)))
        let t := add($TERMS$, shl(6, add($NC$, add(mul(i, add($NPP$, 1)), c))))
        mstore(t, addmod(mload($NUM$), sub($P$, mload($DEN$)), $P$))
        mstore(add(t, 32), addmod(mload(add($NUM$, 32)), sub($P$, mload(add($DEN$, 32))), $P$))
    }
}
// Per α: Σ_k α^k·term_k with the gates' sum at power $NTERMS$, against Z_H(ζ)·Σ_j ζ^(n·j)·t_j(ζ).
for { let i := 0 } lt(i, $NC$) { i := add(i, 1) } {
    let alpha := mload(add($ALPHA$, shl(5, i)))
    let s0 := 0
    let s1 := 0
    let w := 1
    for { let k := 0 } lt(k, $NTERMS$) { k := add(k, 1) } {
        let t := add($TERMS$, shl(6, k))
        s0 := addmod(s0, mulmod(mload(t), w, $P$), $P$)
        s1 := addmod(s1, mulmod(mload(add(t, 32)), w, $P$), $P$)
        w := mulmod(w, alpha, $P$)
    }
    let g := add($GSUM$, shl(6, i))
    s0 := addmod(s0, mulmod(mload(g), w, $P$), $P$)
    s1 := addmod(s1, mulmod(mload(add(g, 32)), w, $P$), $P$)
    mstore($NUM$, 0)
    mstore(add($NUM$, 32), 0)
    for { let j := $QF$ } j { j := sub(j, 1) } {
        let qp := add($OPEN$, shl(6, add($QUOTIENT_AT$, add(mul(i, $QF$), sub(j, 1)))))
        emul_into($NUM$, mload($ZETAN$), mload(add($ZETAN$, 32)))
        mstore($NUM$, addmod(mload($NUM$), mload(qp), $P$))
        mstore(add($NUM$, 32), addmod(mload(add($NUM$, 32)), mload(add(qp, 32)), $P$))
    }
    emul_into($NUM$, mload($ZH$), mload(add($ZH$, 32)))
    if iszero(and(eq(mload($NUM$), s0), eq(mload(add($NUM$, 32)), s1))) { fail() }
}

// ---- 5. FRI ----
{
    // α^k, and the openings reduced by them: PZ over the ζ batch, PN over the gζ batch.
    let a0 := mload($FALPHA$)
    let a1 := mload(add($FALPHA$, 32))
    let w0 := 1
    let w1 := 0
    let pz0 := 0
    let pz1 := 0
    for { let k := 0 } lt(k, $OPEN_ZETA$) { k := add(k, 1) } {
        let p := add($APW$, shl(6, k))
        mstore(p, w0)
        mstore(add(p, 32), w1)
        let o := add($OPEN$, shl(6, k))
        let t0, t1 := em(w0, w1, mload(o), mload(add(o, 32)))
        pz0 := addmod(pz0, t0, $P$)
        pz1 := addmod(pz1, t1, $P$)
        w0, w1 := em(w0, w1, a0, a1)
    }
    mstore($PZ$, pz0)
    mstore(add($PZ$, 32), pz1)
    pz0 := 0
    pz1 := 0
    for { let k := 0 } lt(k, $OPEN_NEXT$) { k := add(k, 1) } {
        let p := add($APW$, shl(6, k))
        let o := add($OPEN$, shl(6, add($OPEN_ZETA$, k)))
        let t0, t1 := em(mload(p), mload(add(p, 32)), mload(o), mload(add(o, 32)))
        pz0 := addmod(pz0, t0, $P$)
        pz1 := addmod(pz1, t1, $P$)
    }
    mstore($PN$, pz0)
    mstore(add($PN$, 32), pz1)
    mstore($GZETA$, mulmod(mload($ZETA$), $G$, $P$))
    mstore(add($GZETA$, 32), mulmod(mload(add($ZETA$, 32)), $G$, $P$))
}
for { let qi := 0 } lt(qi, $NQ$) { qi := add(qi, 1) } {
    let idx := mload(add($QIDX$, shl(5, qi)))
    let q := add(pf, add($QUERIES$, mul(qi, $QUERY_BYTES$)))
    // The four initial leaves against their caps.
// @INITIAL@
    // x = shift·ω^rev(idx) and its inverse.
    {
        let x := $SHIFT$
        let xi := $SHIFT_INV$
        for { let j := 0 } lt(j, $LDE_BITS$) { j := add(j, 1) } {
            if and(shr(j, idx), 1) {
                x := mulmod(x, tb(add($OMEGA$, j)), $P$)
                xi := mulmod(xi, tb(add($OMEGA_INV$, j)), $P$)
            }
        }
        mstore($X$, x)
        mstore($XINV$, xi)
    }
    // The batched opening at x: α^n1·(Σ α^k v_k - PZ)/(x - ζ) + (Σ_{Z} α^k v_k - PN)/(x - gζ).
    {
        // Σ α^k v_k over the leaves, eight elements per iteration (each lane times a power's two
        // coordinates, summed unreduced: 2^128 per term, fewer than 2^9 terms). A lane whose value has
        // its top 32 bits set (only p - 1 among canonical values) sends every element to an exact check.
        let r0 := 0
        let r1 := 0
        let bad := 0
        let pw := $APW$
// @COMBINE@
        if bad {
            for { let k := 0 } lt(k, $OPEN_ZETA$) { k := add(k, 1) } {
                if iszero(lt(bswap64(shr(192, mload(add($LEAFS$, shl(3, k))))), $P$)) { fail() }
            }
        }
        r0, r1 := es(mod(r0, $P$), mod(r1, $P$), mload($PZ$), mload(add($PZ$, 32)))
        let s0 := 0
        let s1 := 0
        for { let k := 0 } lt(k, $OPEN_NEXT$) { k := add(k, 1) } {
            let v := cd64(add(q, add($ZS_LEAF$, shl(3, k))))
            let p := add($APW$, shl(6, k))
            s0 := addmod(s0, mulmod(v, mload(p), $P$), $P$)
            s1 := addmod(s1, mulmod(v, mload(add(p, 32)), $P$), $P$)
        }
        s0, s1 := es(s0, s1, mload($PN$), mload(add($PN$, 32)))
        let x := mload($X$)
        let d0 := addmod(x, sub($P$, mload($ZETA$)), $P$)
        let d1 := sub($P$, mload(add($ZETA$, 32)))
        if eq(d1, $P$) { d1 := 0 }
        let e0 := addmod(x, sub($P$, mload($GZETA$)), $P$)
        let e1 := sub($P$, mload(add($GZETA$, 32)))
        if eq(e1, $P$) { e1 := 0 }
        // (α^n1·r·e + s·d) / (d·e)
        let p := add($APW$, shl(6, $OPEN_NEXT$))
        r0, r1 := em(r0, r1, mload(p), mload(add(p, 32)))
        r0, r1 := em(r0, r1, e0, e1)
        s0, s1 := em(s0, s1, d0, d1)
        d0, d1 := em(d0, d1, e0, e1)
        d0, d1 := einv(d0, d1)
        r0, r1 := em(addmod(r0, s0, $P$), addmod(r1, s1, $P$), d0, d1)
        mstore($PREV$, r0)
        mstore(add($PREV$, 32), r1)
    }
// @STEPS@
    // The final polynomial at x.
    {
        let x := mload($X$)
        let f0 := 0
        let f1 := 0
        for { let k := $FINAL_LEN$ } k { k := sub(k, 1) } {
            let p := add($FINAL$, shl(6, sub(k, 1)))
            f0 := addmod(mulmod(f0, x, $P$), mload(p), $P$)
            f1 := addmod(mulmod(f1, x, $P$), mload(add(p, 32)), $P$)
        }
        if iszero(and(eq(f0, mload($PREV$)), eq(f1, mload(add($PREV$, 32))))) { fail() }
    }
}
mstore(0, 1)
return(0, 32)
"#;

/// `coset_<a>(within, step, start_table)`: decodes the 2^a evaluations copied to LEAFS (canonical
/// checked), requires the one at `within` to be PREV, and folds them at the step's β into PREV, every
/// loop unrolled: pairs (E[2m], E[2m+1]) are the values at ±z_m with z_m = start·g^rev(m), and E'[m] =
/// (E[2m] + E[2m+1]) + β·z_m^-1·(E[2m] - E[2m+1]); each level squares β and start^-1 and uses the
/// first half of the same constants g^-rev(m); the halvings are one factor 2^-a at the end.
fn coset_function(arity_bits: usize) -> String {
    let arity = 1usize << arity_bits;
    let g = F::primitive_root_of_unity(arity_bits);
    let mut code = format!(
        "function coset_{arity_bits}(within, step, start_table) {{\n    // Decode: two evaluations per word; a lane whose value has its top 32 bits set (only p - 1 among\n    // canonical values) sends the coset to an exact check.\n    let bad := 0\n"
    );
    for word in 0..arity / 2 {
        write!(
            code,
            "    {{\n        let raw := mload(add($LEAFS$, {r}))\n        bad := or(bad, high_ones(raw))\n        let w := bswap4(raw)\n        mstore(add($EVALS$, {a}), shr(192, w))\n        mstore(add($EVALS$, {b}), and(shr(128, w), 0xffffffffffffffff))\n        mstore(add($EVALS$, {c}), and(shr(64, w), 0xffffffffffffffff))\n        mstore(add($EVALS$, {d}), and(w, 0xffffffffffffffff))\n    }}\n",
            r = 32 * word,
            a = 128 * word,
            b = 128 * word + 32,
            c = 128 * word + 64,
            d = 128 * word + 96,
        )
        .expect("writing to a string");
    }
    write!(
        code,
        "    if bad {{\n        for {{ let k := 0 }} lt(k, {values}) {{ k := add(k, 1) }} {{\n            if iszero(lt(mload(add($EVALS$, shl(5, k))), $P$)) {{ fail() }}\n        }}\n    }}\n    let e := add($EVALS$, shl(6, within))\n    if iszero(and(eq(mload(e), mload($PREV$)), eq(mload(add(e, 32)), mload(add($PREV$, 32))))) {{ fail() }}\n    // start^-1 = x^-1·g^rev(within) (the coset's first point is x·g^-rev(within)).\n    let s := mulmod(mload($XINV$), tb(add(start_table, within)), $P$)\n    let b0 := mload(add($FBETA$, shl(6, step)))\n    let b1 := mload(add($FBETA$, add(shl(6, step), 32)))\n",
        values = 2 * arity,
    )
    .expect("writing to a string");
    let mut size = arity / 2;
    while size > 0 {
        for m in 0..size {
            let constant = g.exp_u64(reverse_bits(m, arity_bits - 1) as u64).inverse().to_canonical_u64();
            write!(
                code,
                "    {{\n        let zinv := mulmod(s, {constant:#x}, $P$)\n        let a0 := mload(add($EVALS$, {p0}))\n        let a1 := mload(add($EVALS$, {p1}))\n        let c0 := mload(add($EVALS$, {p2}))\n        let c1 := mload(add($EVALS$, {p3}))\n        let t0, t1 := em(mulmod(b0, zinv, $P$), mulmod(b1, zinv, $P$), addmod(a0, sub($P$, c0), $P$), addmod(a1, sub($P$, c1), $P$))\n        mstore(add($EVALS$, {o0}), addmod(addmod(a0, c0, $P$), t0, $P$))\n        mstore(add($EVALS$, {o1}), addmod(addmod(a1, c1, $P$), t1, $P$))\n    }}\n",
                p0 = 128 * m,
                p1 = 128 * m + 32,
                p2 = 128 * m + 64,
                p3 = 128 * m + 96,
                o0 = 64 * m,
                o1 = 64 * m + 32,
            )
            .expect("writing to a string");
        }
        size /= 2;
        if size > 0 {
            code.push_str("    s := mulmod(s, s, $P$)\n    b0, b1 := em(b0, b1, b0, b1)\n");
        }
    }
    let halving = F::TWO.inverse().exp_u64(arity_bits as u64).to_canonical_u64();
    write!(
        code,
        "    mstore($PREV$, mulmod(mload($EVALS$), {halving:#x}, $P$))\n    mstore(add($PREV$, 32), mulmod(mload(add($EVALS$, 32)), {halving:#x}, $P$))\n}}\n"
    )
    .expect("writing to a string");
    code
}
