//! The gate-constraint evaluator contract: one Yul function per gate of the circuit, each writing
//! its constraints at ζ (plonky2's `eval_unfiltered`, over the quadratic extension) to a buffer,
//! folded with powers of each α. Also plonky2's native Poseidon (`hash_no_pad`), which the
//! verifier needs for the public-input hash and which shares the Poseidon gate's constant tables.
//!
//! Its calldata is raw 32-byte words, no ABI:
//! - **hash mode** (exactly `num_public_inputs` words): the public inputs; returns their Poseidon
//!   `hash_no_pad` (4 words).
//! - **gate mode**: α per challenge round, the constants' openings (2 words each), the wires'
//!   openings (2 words each), the public-input hash (4 words); returns, for each gate in the
//!   circuit's order and each α, `Σ_j c_j α^j` over the gate's constraints `c_j` (2 words). The
//!   verifier applies the selector filters.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plonky2::field::extension::Extendable;
use plonky2::field::types::{Field, PrimeField64};
use plonky2::gates::arithmetic_base::ArithmeticGate;
use plonky2::gates::arithmetic_extension::ArithmeticExtensionGate;
use plonky2::gates::coset_interpolation::CosetInterpolationGate;
use plonky2::gates::exponentiation::ExponentiationGate;
use plonky2::gates::gate::{Gate, GateRef};
use plonky2::gates::multiplication_extension::MulExtensionGate;
use plonky2::gates::random_access::RandomAccessGate;
use plonky2::gates::reducing::ReducingGate;
use plonky2::gates::reducing_extension::ReducingExtensionGate;
use plonky2::hash::poseidon::{ALL_ROUND_CONSTANTS, HALF_N_FULL_ROUNDS, N_PARTIAL_ROUNDS, Poseidon};
use plonky2::plonk::circuit_data::CommonCircuitData;
use plonky2::util::serialization::Buffer;
use zkcrowd_ledger::F;

use super::yul::{Memory, P, Table, fill, indent};
use crate::D;

/// A gate the generator knows, with its parameters (named as in plonky2's gate structs).
#[allow(missing_docs, reason = "the fields are plonky2's gate parameters, documented there")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateKind {
    /// No constraints.
    Noop,
    /// `constant_i - wire_i`.
    Constant { num_consts: usize },
    /// The public-input hash in wires 0..4.
    PublicInput,
    /// `out - (c0·m0·m1 + c1·addend)` over the base field's ops.
    Arithmetic { num_ops: usize },
    /// The same over the extension algebra.
    ArithmeticExtension { num_ops: usize },
    /// `out - c0·m0·m1` over the extension algebra.
    MulExtension { num_ops: usize },
    /// A base-`base` decomposition into limbs.
    BaseSum { num_limbs: usize, base: usize },
    /// Horner steps with base-field coefficients.
    Reducing { num_coeffs: usize },
    /// Horner steps with extension coefficients.
    ReducingExtension { num_coeffs: usize },
    /// Selects list items by bits.
    RandomAccess { bits: usize, num_copies: usize, num_extra_constants: usize },
    /// `base^bits` by square and multiply.
    Exponentiation { num_power_bits: usize },
    /// Barycentric interpolation over a coset, in chunks of `degree - 1` points.
    CosetInterpolation { subgroup_bits: usize, degree: usize, weights: Vec<u64> },
    /// One Poseidon permutation (with the Merkle swap).
    Poseidon,
    /// One Poseidon MDS layer over the extension algebra.
    PoseidonMds,
}

impl GateKind {
    /// The kind of a circuit's gate; fails on gates the generator does not support.
    pub fn of(gate: &GateRef<F, D>, common: &CommonCircuitData<F, D>) -> anyhow::Result<Self> {
        let id = gate.0.id();
        let name: String = id.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        let mut bytes = Vec::new();
        gate.0.serialize(&mut bytes, common).map_err(|error| anyhow::anyhow!("serializing {id}: {error:?}"))?;
        let mut buffer = Buffer::new(&bytes);
        let unreadable = |error| anyhow::anyhow!("reading {id}: {error:?}");
        let kind = match name.as_str() {
            "NoopGate" => Self::Noop,
            "PublicInputGate" => Self::PublicInput,
            "PoseidonGate" => Self::Poseidon,
            "PoseidonMdsGate" => Self::PoseidonMds,
            "ConstantGate" => {
                // `ConstantGate::num_consts` is private: read its serialization (one usize).
                let num_consts = plonky2::util::serialization::Read::read_usize(&mut buffer).map_err(unreadable)?;
                Self::Constant { num_consts }
            }
            "ArithmeticGate" => {
                let gate = <ArithmeticGate as Gate<F, D>>::deserialize(&mut buffer, common).map_err(unreadable)?;
                Self::Arithmetic { num_ops: gate.num_ops }
            }
            "ArithmeticExtensionGate" => {
                let gate =
                    <ArithmeticExtensionGate<D> as Gate<F, D>>::deserialize(&mut buffer, common).map_err(unreadable)?;
                Self::ArithmeticExtension { num_ops: gate.num_ops }
            }
            "MulExtensionGate" => {
                let gate = <MulExtensionGate<D> as Gate<F, D>>::deserialize(&mut buffer, common).map_err(unreadable)?;
                Self::MulExtension { num_ops: gate.num_ops }
            }
            "BaseSumGate" => {
                let base: usize = id
                    .rsplit("Base: ")
                    .next()
                    .and_then(|b| b.trim().parse().ok())
                    .ok_or_else(|| anyhow::anyhow!("no base in {id}"))?;
                let num_limbs = plonky2::util::serialization::Read::read_usize(&mut buffer).map_err(unreadable)?;
                Self::BaseSum { num_limbs, base }
            }
            "ReducingGate" => {
                let gate = <ReducingGate<D> as Gate<F, D>>::deserialize(&mut buffer, common).map_err(unreadable)?;
                Self::Reducing { num_coeffs: gate.num_coeffs }
            }
            "ReducingExtensionGate" => {
                let gate =
                    <ReducingExtensionGate<D> as Gate<F, D>>::deserialize(&mut buffer, common).map_err(unreadable)?;
                Self::ReducingExtension { num_coeffs: gate.num_coeffs }
            }
            "RandomAccessGate" => {
                let gate =
                    <RandomAccessGate<F, D> as Gate<F, D>>::deserialize(&mut buffer, common).map_err(unreadable)?;
                Self::RandomAccess {
                    bits: gate.bits,
                    num_copies: gate.num_copies,
                    num_extra_constants: gate.num_extra_constants,
                }
            }
            "ExponentiationGate" => {
                let gate =
                    <ExponentiationGate<F, D> as Gate<F, D>>::deserialize(&mut buffer, common).map_err(unreadable)?;
                Self::Exponentiation { num_power_bits: gate.num_power_bits }
            }
            "CosetInterpolationGate" => {
                let gate = <CosetInterpolationGate<F, D> as Gate<F, D>>::deserialize(&mut buffer, common)
                    .map_err(unreadable)?;
                Self::CosetInterpolation {
                    subgroup_bits: gate.subgroup_bits,
                    degree: gate.degree,
                    weights: gate.barycentric_weights.iter().map(|w| w.to_canonical_u64()).collect(),
                }
            }
            _ => anyhow::bail!("the generator has no Solidity for {id}"),
        };
        let generated = kind.num_constraints();
        anyhow::ensure!(
            generated == gate.0.num_constraints(),
            "{id}: {generated} constraints generated, plonky2 has {}",
            gate.0.num_constraints()
        );
        Ok(kind)
    }

    /// Constraints the generated function writes.
    pub fn num_constraints(&self) -> usize {
        match self {
            Self::Noop => 0,
            Self::Constant { num_consts } => *num_consts,
            Self::PublicInput => 4,
            Self::Arithmetic { num_ops } => *num_ops,
            Self::ArithmeticExtension { num_ops } | Self::MulExtension { num_ops } => 2 * num_ops,
            Self::BaseSum { num_limbs, .. } => 1 + num_limbs,
            Self::Reducing { num_coeffs } | Self::ReducingExtension { num_coeffs } => 2 * num_coeffs,
            Self::RandomAccess { bits, num_copies, num_extra_constants } => {
                num_copies * (bits + 2) + num_extra_constants
            }
            Self::Exponentiation { num_power_bits } => num_power_bits + 1,
            Self::CosetInterpolation { subgroup_bits, degree, .. } => {
                let intermediates = ((1 << subgroup_bits) - 2) / (degree - 1);
                2 + 4 * intermediates + 2
            }
            Self::Poseidon => 1 + 4 + 12 * (HALF_N_FULL_ROUNDS - 1) + N_PARTIAL_ROUNDS + 12 * HALF_N_FULL_ROUNDS + 12,
            Self::PoseidonMds => 24,
        }
    }

    /// Whether this gate needs the Poseidon tables.
    fn uses_poseidon(&self) -> bool {
        matches!(self, Self::Poseidon | Self::PoseidonMds)
    }
}

/// Where each Poseidon table starts in the contract's table (entry indices).
struct PoseidonTables {
    /// Round constants of the full rounds, in round order (rounds 0..4, then 26..30).
    full_rounds: usize,
    first_partial: usize,
    partial_constants: usize,
    vs: usize,
    w_hats: usize,
}

fn poseidon_tables(table: &mut Table) -> PoseidonTables {
    let width = 12;
    let mut full = Vec::new();
    for round in
        (0..HALF_N_FULL_ROUNDS).chain(HALF_N_FULL_ROUNDS + N_PARTIAL_ROUNDS..2 * HALF_N_FULL_ROUNDS + N_PARTIAL_ROUNDS)
    {
        full.extend_from_slice(&ALL_ROUND_CONSTANTS[width * round..width * (round + 1)]);
    }
    let full_rounds = table.push(&full);
    let first_partial = table.push(&<F as Poseidon>::FAST_PARTIAL_FIRST_ROUND_CONSTANT);
    let partial_constants = table.push(&<F as Poseidon>::FAST_PARTIAL_ROUND_CONSTANTS);
    let vs = table.push(&<F as Poseidon>::FAST_PARTIAL_ROUND_VS.concat());
    let w_hats = table.push(&<F as Poseidon>::FAST_PARTIAL_ROUND_W_HATS.concat());
    PoseidonTables { full_rounds, first_partial, partial_constants, vs, w_hats }
}

/// The MDS circulant's first row as a 32-byte Yul literal (`byte(i, ...)` reads entry `i`).
fn mds_circulant_word() -> String {
    let mut out = String::from("0x");
    for i in 0..32 {
        let entry = if i < 12 { <F as Poseidon>::MDS_MATRIX_CIRC[i] } else { 0 };
        assert!(entry < 256, "MDS entries fit a byte");
        write!(out, "{entry:02x}").expect("writing to a string");
    }
    out
}

/// The generated gates contract and what the verifier needs to call it.
#[derive(Debug, Clone)]
pub(crate) struct GatesContract {
    /// Solidity source.
    pub source: String,
    /// Each gate's kind, in the circuit's order.
    pub kinds: Vec<GateKind>,
    /// Words of gate-mode calldata.
    pub input_words: usize,
}

/// The Solidity contract `name` evaluating `common`'s gates.
pub(crate) fn generate(common: &CommonCircuitData<F, D>, name: &str, header: &str) -> anyhow::Result<GatesContract> {
    let kinds: Vec<GateKind> = common.gates.iter().map(|gate| GateKind::of(gate, common)).collect::<Result<_, _>>()?;
    let num_challenges = common.config.num_challenges;
    let num_selectors = common.selectors_info.num_selectors();
    let max_constraints = common.num_gate_constraints.max(1);
    let num_constants = common.num_constants;
    let num_wires = common.config.num_wires;
    anyhow::ensure!(common.num_public_inputs > 0, "a circuit without public inputs");
    anyhow::ensure!(
        kinds.iter().any(GateKind::uses_poseidon),
        "the circuit has no Poseidon gate (its tables serve the public-input hash too)"
    );

    let mut table = Table::default();
    let poseidon = poseidon_tables(&mut table);
    let mut functions = String::new();
    let mut calls = String::new();
    let mut interpolation_tables = Vec::new();
    for kind in &kinds {
        if let GateKind::CosetInterpolation { subgroup_bits, weights, .. } = kind {
            let domain: Vec<u64> =
                F::two_adic_subgroup(*subgroup_bits).iter().map(PrimeField64::to_canonical_u64).collect();
            interpolation_tables.push((table.push(&domain), table.push(weights)));
        } else {
            interpolation_tables.push((0, 0));
        }
    }

    // Memory: the table lands at 0x80 (Solidity's first allocation), its data at 0xa0.
    let table_data = 0xa0;
    let mut memory = Memory::new(table_data + table.bytes().div_ceil(32) * 32 + 32);
    let input_words = num_challenges + 2 * num_constants + 2 * num_wires + 4;
    let input = memory.alloc("IN", 32 * input_words.max(common.num_public_inputs), "calldata copy");
    let alphas = input;
    let constants = alphas + 32 * num_challenges;
    let wires = constants + 64 * num_constants;
    let public_inputs_hash = wires + 64 * num_wires;
    memory.alloc("APOW", 32 * num_challenges * max_constraints, "α_i^j, row i");
    memory.alloc("CB", 64 * max_constraints, "one gate's constraints (extension elements)");
    memory.alloc("ST", 2 * 64 * 12, "Poseidon state (extension), twice over (the MDS rows read it cyclically)");
    memory.alloc("ST2", 64 * 12, "Poseidon MDS output");
    memory.alloc("T0", 128, "algebra temporary");
    memory.alloc("T1", 128, "algebra temporary");
    memory.alloc("T2", 128, "algebra temporary");
    memory.alloc("EVB", 128, "interpolation: running evaluation");
    memory.alloc("PRB", 128, "interpolation: running product");
    memory.alloc("TERM", 128, "interpolation: x - domain point");
    memory.alloc("LIST", 64 * 64, "random access: the list being folded");
    memory.alloc("HS", 2 * 32 * 12, "native Poseidon state, twice over");
    memory.alloc("HS2", 32 * 12, "native Poseidon MDS output");
    let output = memory.alloc("OUT", 64 * num_challenges * kinds.len(), "per gate, per α: Σ c_j α^j");

    for (index, kind) in kinds.iter().enumerate() {
        let body = gate_function(kind, index, &poseidon, interpolation_tables[index])?;
        writeln!(functions, "// Gate {index}: {}", common.gates[index].0.id().chars().take(100).collect::<String>())?;
        functions.push_str(&body);
        writeln!(calls, "gate_{index}()")?;
        writeln!(calls, "fold({}, {:#x})", kind.num_constraints(), output + 64 * num_challenges * index)?;
    }

    let mut values = BTreeMap::new();
    memory.substitutions(&mut values);
    for (key, value) in [
        ("P", P.to_owned()),
        ("TB", format!("{table_data:#x}")),
        ("W", format!("{wires:#x}")),
        ("K", format!("{:#x}", constants + 64 * num_selectors)),
        ("PIH", format!("{public_inputs_hash:#x}")),
        ("NC", num_challenges.to_string()),
        ("MAXC", max_constraints.to_string()),
        ("INPUT_BYTES", (32 * input_words).to_string()),
        ("HASH_BYTES", (32 * common.num_public_inputs).to_string()),
        ("OUT_BYTES", (64 * num_challenges * kinds.len()).to_string()),
        ("RCF", poseidon.full_rounds.to_string()),
        ("FPC", poseidon.first_partial.to_string()),
        ("FPR", poseidon.partial_constants.to_string()),
        ("FVS", poseidon.vs.to_string()),
        ("FWH", poseidon.w_hats.to_string()),
        ("CIRC", mds_circulant_word()),
        ("DIAG0", <F as Poseidon>::MDS_MATRIX_DIAG[0].to_string()),
        ("MDS00", (<F as Poseidon>::MDS_MATRIX_CIRC[0] + <F as Poseidon>::MDS_MATRIX_DIAG[0]).to_string()),
        ("NPART", N_PARTIAL_ROUNDS.to_string()),
        ("TABLE_BYTES", table.bytes().to_string()),
    ] {
        values.insert(key.to_owned(), value);
    }
    anyhow::ensure!(
        <F as Poseidon>::MDS_MATRIX_DIAG[1..].iter().all(|&d| d == 0),
        "the MDS diagonal has entries past the first"
    );
    let helpers = fill(
        &HELPERS.replace("// @POSEIDON@\n", &poseidon_helpers()).replace("// @FOLD@\n", &fold_function(num_challenges)),
        &values,
    )?;
    let functions = fill(&functions, &values)?;
    let calls = fill(&calls, &values)?;
    let body = fill(BODY, &values)?;
    let source = format!(
        "{header}\n/// @title {name}\n/// @notice The circuit's gate constraints at ζ and plonky2's native Poseidon hash, for the\n///         generated verifier (see its documentation). Raw calldata, no ABI:\n///         - {npi} words (public inputs): returns their Poseidon `hash_no_pad` (4 words);\n///         - {input_words} words (α per round, constants' and wires' openings, public-input hash):\n///           returns Σ_j c_j α^j per gate and α (2 words each), the selector filters not applied.\ncontract {name} {{\n    /// @dev 64-bit constants: Poseidon's full-round constants and fast partial-round tables, and\n    ///      each interpolation gate's domain and barycentric weights.\n    bytes internal constant TABLE =\n        hex\"{table}\";\n\n    fallback(bytes calldata) external returns (bytes memory) {{\n        bytes memory table = TABLE;\n        assembly {{\n            // Memory map (the table's data is at $TB$ = 0xa0, behind Solidity's first allocation):\n{map}{helpers}{functions}\n{body}{calls}\n            return($OUT$, {out_bytes})\n        }}\n    }}\n}}\n",
        npi = common.num_public_inputs,
        table = table.hex(),
        map = memory.comment("            "),
        helpers = indent(&helpers, "            "),
        functions = indent(&functions, "            "),
        body = indent(&body, "            "),
        calls = indent(&calls, "            "),
        out_bytes = 64 * num_challenges * kinds.len(),
    );
    let source = fill(&source.replace("$TB$ = 0xa0", "TB = 0xa0"), &values)?;
    Ok(GatesContract { source, kinds, input_words })
}

/// Shared Yul: extension and algebra arithmetic, table reads, constraint output, Poseidon layers.
const HELPERS: &str = r#"
// ---- Goldilocks (p = 2^64 - 2^32 + 1) and its quadratic extension F[u]/(u^2 - 7) ----
// Values are canonical (< p). Products of two values are below 2^128, so a few of them are summed
// before one `mod`.
function em(a0, a1, b0, b1) -> c0, c1 {
    c0 := mod(add(mul(a0, b0), mul(7, mul(a1, b1))), $P$)
    c1 := mod(add(mul(a0, b1), mul(a1, b0)), $P$)
}
function esq(a0, a1) -> c0, c1 {
    c0 := mod(add(mul(a0, a0), mul(7, mul(a1, a1))), $P$)
    c1 := mulmod(add(a0, a0), a1, $P$)
}
function es(a0, a1, b0, b1) -> c0, c1 {
    c0 := addmod(a0, sub($P$, b0), $P$)
    c1 := addmod(a1, sub($P$, b1), $P$)
}
// x^7 (Poseidon's S-box).
function sbox(a0, a1) -> c0, c1 {
    let x20, x21 := esq(a0, a1)
    let x40, x41 := esq(x20, x21)
    let x30, x31 := em(a0, a1, x20, x21)
    c0, c1 := em(x30, x31, x40, x41)
}
// Table entry k (64 bits).
function tb(k) -> v {
    v := shr(192, mload(add($TB$, shl(3, k))))
}
// Wire i's opening (constants: `konst`), extension coordinates.
function wire(i) -> a0, a1 {
    let p := add($W$, shl(6, i))
    a0 := mload(p)
    a1 := mload(add(p, 32))
}
function konst(i) -> a0, a1 {
    let p := add($K$, shl(6, i))
    a0 := mload(p)
    a1 := mload(add(p, 32))
}
// Constraint j of the current gate.
function put(j, c0, c1) {
    let p := add($CB$, shl(6, j))
    mstore(p, c0)
    mstore(add(p, 32), c1)
}
// Constraint j := a - b for extension values at pointers a, b.
function putsub(j, a, b) {
    put(j, addmod(mload(a), sub($P$, mload(b)), $P$), addmod(mload(add(a, 32)), sub($P$, mload(add(b, 32))), $P$))
}

// ---- The extension algebra over F[u]/(u^2 - 7), X^2 = 7: elements are two extension values
// (4 words) at a pointer ----
// d := a · b; d must not overlap a or b.
function amul(a, b, d) {
    let x0, x1 := em(mload(a), mload(add(a, 32)), mload(b), mload(add(b, 32)))
    let y0, y1 := em(mload(add(a, 64)), mload(add(a, 96)), mload(add(b, 64)), mload(add(b, 96)))
    mstore(d, addmod(x0, mulmod(7, y0, $P$), $P$))
    mstore(add(d, 32), addmod(x1, mulmod(7, y1, $P$), $P$))
    x0, x1 := em(mload(a), mload(add(a, 32)), mload(add(b, 64)), mload(add(b, 96)))
    y0, y1 := em(mload(add(a, 64)), mload(add(a, 96)), mload(b), mload(add(b, 32)))
    mstore(add(d, 64), addmod(x0, y0, $P$))
    mstore(add(d, 96), addmod(x1, y1, $P$))
}
// d := a · (s0 + s1 u) (a scalar of the extension); d may be a.
function ascale(a, s0, s1, d) {
    let x0, x1 := em(mload(a), mload(add(a, 32)), s0, s1)
    let y0, y1 := em(mload(add(a, 64)), mload(add(a, 96)), s0, s1)
    mstore(d, x0)
    mstore(add(d, 32), x1)
    mstore(add(d, 64), y0)
    mstore(add(d, 96), y1)
}
// d := a + b; d may be a or b.
function aadd(a, b, d) {
    for { let k := 0 } lt(k, 128) { k := add(k, 32) } {
        mstore(add(d, k), addmod(mload(add(a, k)), mload(add(b, k)), $P$))
    }
}
// Constraints j, j + 1 := the two coordinates of a - b.
function aputsub(j, a, b) {
    putsub(j, a, b)
    putsub(add(j, 1), add(a, 64), add(b, 64))
}

// @POSEIDON@

// @FOLD@
"#;

/// The contract's entry: checks, hash mode, then the powers of each α for gate mode.
const BODY: &str = r#"
// The table must sit where the map says (it is Solidity's first allocation).
if iszero(eq(table, 0x80)) { revert(0, 0) }
if eq(calldatasize(), $HASH_BYTES$) {
    // plonky2's `hash_no_pad`: overwrite the first (up to) 8 state words with each chunk, permute.
    calldatacopy($IN$, 0, calldatasize())
    for { let at := 0 } lt(at, $HASH_BYTES$) { at := add(at, 256) } {
        let end := add(at, 256)
        if gt(end, $HASH_BYTES$) { end := $HASH_BYTES$ }
        for { let k := at } lt(k, end) { k := add(k, 32) } {
            let value := mload(add($IN$, k))
            if iszero(lt(value, $P$)) { revert(0, 0) }
            mstore(add($HS$, sub(k, at)), value)
        }
        native_permute()
    }
    return($HS$, 128)
}
if iszero(eq(calldatasize(), $INPUT_BYTES$)) { revert(0, 0) }
calldatacopy($IN$, 0, calldatasize())
// α_i^j at APOW + 32·(NC·j + i): the fold reads one row j for every α.
for { let i := 0 } lt(i, $NC$) { i := add(i, 1) } {
    let alpha := mload(add($IN$, shl(5, i)))
    let w := 1
    for { let j := 0 } lt(j, $MAXC$) { j := add(j, 1) } {
        mstore(add($APOW$, shl(5, add(mul(j, $NC$), i))), w)
        w := mulmod(w, alpha, $P$)
    }
}
"#;

fn gate_function(
    kind: &GateKind,
    index: usize,
    poseidon: &PoseidonTables,
    interpolation: (usize, usize),
) -> anyhow::Result<String> {
    let _ = poseidon;
    let body = match kind {
        GateKind::Noop => "// No constraints.\n".to_owned(),
        GateKind::Constant { num_consts } => format!(
            "// constant_i - wire_i\nfor {{ let i := 0 }} lt(i, {num_consts}) {{ i := add(i, 1) }} {{\n    let a0, a1 := konst(i)\n    let b0, b1 := wire(i)\n    a0, a1 := es(a0, a1, b0, b1)\n    put(i, a0, a1)\n}}\n"
        ),
        GateKind::PublicInput => "// wire_i - public-input hash_i\nfor { let i := 0 } lt(i, 4) { i := add(i, 1) } {\n    let a0, a1 := wire(i)\n    put(i, addmod(a0, sub($P$, mload(add($PIH$, shl(5, i)))), $P$), a1)\n}\n".to_owned(),
        GateKind::Arithmetic { num_ops } => format!(
            "// Op i on wires 4i..4i+4: out - (c0·m0·m1 + c1·addend).\nfor {{ let i := 0 }} lt(i, {num_ops}) {{ i := add(i, 1) }} {{\n    let b := add($W$, shl(8, i))\n    let m0, m1 := em(mload(b), mload(add(b, 32)), mload(add(b, 64)), mload(add(b, 96)))\n    let k0, k1 := konst(0)\n    m0, m1 := em(m0, m1, k0, k1)\n    k0, k1 := konst(1)\n    let a0, a1 := em(mload(add(b, 128)), mload(add(b, 160)), k0, k1)\n    put(i, addmod(mload(add(b, 192)), sub($P$, addmod(m0, a0, $P$)), $P$), addmod(mload(add(b, 224)), sub($P$, addmod(m1, a1, $P$)), $P$))\n}}\n"
        ),
        GateKind::ArithmeticExtension { num_ops } => format!(
            "// Op i on wires 8i..8i+8 (algebra elements m0, m1, addend, out): out - (c0·m0·m1 + c1·addend).\nfor {{ let i := 0 }} lt(i, {num_ops}) {{ i := add(i, 1) }} {{\n    let b := add($W$, shl(9, i))\n    amul(b, add(b, 128), $T0$)\n    let k0, k1 := konst(0)\n    ascale($T0$, k0, k1, $T0$)\n    k0, k1 := konst(1)\n    ascale(add(b, 256), k0, k1, $T1$)\n    aadd($T0$, $T1$, $T0$)\n    aputsub(shl(1, i), add(b, 384), $T0$)\n}}\n"
        ),
        GateKind::MulExtension { num_ops } => format!(
            "// Op i on wires 6i..6i+6 (algebra elements m0, m1, out): out - c0·m0·m1.\nfor {{ let i := 0 }} lt(i, {num_ops}) {{ i := add(i, 1) }} {{\n    let b := add($W$, mul(i, 384))\n    amul(b, add(b, 128), $T0$)\n    let k0, k1 := konst(0)\n    ascale($T0$, k0, k1, $T0$)\n    aputsub(shl(1, i), add(b, 256), $T0$)\n}}\n"
        ),
        GateKind::BaseSum { num_limbs, base } => format!(
            "// Σ limb_i·{base}^i - sum (limbs in wires 1..={num_limbs}, sum in wire 0), then Π_k (limb - k) per limb.\nlet s0 := 0\nlet s1 := 0\nfor {{ let i := {num_limbs} }} i {{ i := sub(i, 1) }} {{\n    let l0, l1 := wire(i)\n    s0 := addmod(mulmod(s0, {base}, $P$), l0, $P$)\n    s1 := addmod(mulmod(s1, {base}, $P$), l1, $P$)\n}}\nlet w0, w1 := wire(0)\ns0, s1 := es(s0, s1, w0, w1)\nput(0, s0, s1)\nfor {{ let i := 1 }} lt(i, {limbs_end}) {{ i := add(i, 1) }} {{\n    let l0, l1 := wire(i)\n    let p0 := l0\n    let p1 := l1\n    for {{ let k := 1 }} lt(k, {base}) {{ k := add(k, 1) }} {{\n        p0, p1 := em(p0, p1, addmod(l0, sub($P$, k), $P$), l1)\n    }}\n    put(i, p0, p1)\n}}\n",
            limbs_end = num_limbs + 1
        ),
        GateKind::Reducing { num_coeffs } => format!(
            "// acc·alpha + coeff_i - acc_i (algebra; base-field coefficients in wires 6..), acc from old_acc.\nlet acc := add($W$, 256)\nfor {{ let i := 0 }} lt(i, {num_coeffs}) {{ i := add(i, 1) }} {{\n    amul(acc, add($W$, 128), $T0$)\n    let c := add($W$, shl(6, add(6, i)))\n    mstore($T0$, addmod(mload($T0$), mload(c), $P$))\n    mstore(add($T0$, 32), addmod(mload(add($T0$, 32)), mload(add(c, 32)), $P$))\n    let next := $W$\n    if lt(i, {last}) {{ next := add($W$, shl(6, add({start_accs}, shl(1, i)))) }}\n    aputsub(shl(1, i), $T0$, next)\n    acc := next\n}}\n",
            last = num_coeffs - 1,
            start_accs = 6 + num_coeffs
        ),
        GateKind::ReducingExtension { num_coeffs } => format!(
            "// acc·alpha + coeff_i - acc_i (algebra; algebra coefficients at wires 6 + 2i), acc from old_acc.\nlet acc := add($W$, 256)\nfor {{ let i := 0 }} lt(i, {num_coeffs}) {{ i := add(i, 1) }} {{\n    amul(acc, add($W$, 128), $T0$)\n    aadd($T0$, add($W$, shl(6, add(6, shl(1, i)))), $T0$)\n    let next := $W$\n    if lt(i, {last}) {{ next := add($W$, shl(6, add({start_accs}, shl(1, i)))) }}\n    aputsub(shl(1, i), $T0$, next)\n    acc := next\n}}\n",
            last = num_coeffs - 1,
            start_accs = 6 + 2 * num_coeffs
        ),
        GateKind::RandomAccess { bits, num_copies, num_extra_constants } => {
            let vec_size = 1usize << bits;
            anyhow::ensure!(vec_size <= 64, "random access over more than 64 items");
            let routed = (2 + vec_size) * num_copies + num_extra_constants;
            format!(
                "// Per copy: bits boolean, index = Σ bit_i 2^i, the list folded by the bits equals the claimed item;\n// then the extra constants.\nlet j := 0\nfor {{ let copy := 0 }} lt(copy, {num_copies}) {{ copy := add(copy, 1) }} {{\n    let first := mul(copy, {stride})\n    let bit0 := add({routed}, mul(copy, {bits}))\n    for {{ let i := 0 }} lt(i, {bits}) {{ i := add(i, 1) }} {{\n        let b0, b1 := wire(add(bit0, i))\n        b0, b1 := em(b0, b1, addmod(b0, sub($P$, 1), $P$), b1)\n        put(j, b0, b1)\n        j := add(j, 1)\n    }}\n    let r0 := 0\n    let r1 := 0\n    for {{ let i := {bits} }} i {{ i := sub(i, 1) }} {{\n        let b0, b1 := wire(add(bit0, sub(i, 1)))\n        r0 := addmod(addmod(r0, r0, $P$), b0, $P$)\n        r1 := addmod(addmod(r1, r1, $P$), b1, $P$)\n    }}\n    let x0, x1 := wire(first)\n    r0, r1 := es(r0, r1, x0, x1)\n    put(j, r0, r1)\n    j := add(j, 1)\n    mcopy($LIST$, add($W$, shl(6, add(first, 2))), {list_bytes})\n    let size := {vec_size}\n    for {{ let i := 0 }} lt(i, {bits}) {{ i := add(i, 1) }} {{\n        let b0, b1 := wire(add(bit0, i))\n        size := shr(1, size)\n        for {{ let t := 0 }} lt(t, size) {{ t := add(t, 1) }} {{\n            let p := add($LIST$, shl(7, t))\n            let y0, y1 := es(mload(add(p, 64)), mload(add(p, 96)), mload(p), mload(add(p, 32)))\n            y0, y1 := em(y0, y1, b0, b1)\n            let q := add($LIST$, shl(6, t))\n            mstore(q, addmod(mload(p), y0, $P$))\n            mstore(add(q, 32), addmod(mload(add(p, 32)), y1, $P$))\n        }}\n    }}\n    putsub(j, $LIST$, add($W$, shl(6, add(first, 1))))\n    j := add(j, 1)\n}}\nfor {{ let i := 0 }} lt(i, {num_extra_constants}) {{ i := add(i, 1) }} {{\n    let a0, a1 := konst(i)\n    let b0, b1 := wire(add({extra0}, i))\n    a0, a1 := es(a0, a1, b0, b1)\n    put(add(j, i), a0, a1)\n}}\n",
                stride = 2 + vec_size,
                list_bytes = 64 * vec_size,
                extra0 = (2 + vec_size) * num_copies,
            )
        }
        GateKind::Exponentiation { num_power_bits } => format!(
            "// prev·(bit·base + 1 - bit) - intermediate_i, bits from the most significant; then output - last.\nlet g0, g1 := wire(0)\nlet p0 := 1\nlet p1 := 0\nfor {{ let i := 0 }} lt(i, {n}) {{ i := add(i, 1) }} {{\n    if i {{\n        p0, p1 := wire(add({inter0}, sub(i, 1)))\n        p0, p1 := esq(p0, p1)\n    }}\n    let b0, b1 := wire(add(1, sub({last}, i)))\n    let t0, t1 := em(b0, b1, g0, g1)\n    t0, t1 := es(addmod(t0, 1, $P$), t1, b0, b1)\n    p0, p1 := em(p0, p1, t0, t1)\n    let v0, v1 := wire(add({inter0}, i))\n    p0, p1 := es(p0, p1, v0, v1)\n    put(i, p0, p1)\n}}\nputsub({n}, add($W$, shl(6, {output})), add($W$, shl(6, add({inter0}, {last}))))\n",
            n = num_power_bits,
            last = num_power_bits - 1,
            inter0 = 2 + num_power_bits,
            output = 1 + num_power_bits
        ),
        GateKind::CosetInterpolation { subgroup_bits, degree, .. } => {
            coset_interpolation(*subgroup_bits, *degree, interpolation)
        }
        GateKind::Poseidon => POSEIDON_GATE.to_owned(),
        GateKind::PoseidonMds => "// out_r - Σ_i in_{(i + r) % 12}·circ[i] - diag[r]·in_r over the algebra (inputs: wires 2i, 2i + 1;\n// outputs: wires 24 + 2r, 25 + 2r); coordinates are summed unreduced (entries < 2^6).\nfor { let r := 0 } lt(r, 12) { r := add(r, 1) } {\n    let s0 := 0\n    let s1 := 0\n    let s2 := 0\n    let s3 := 0\n    for { let i := 0 } lt(i, 12) { i := add(i, 1) } {\n        let c := byte(i, $CIRC$)\n        if iszero(or(r, i)) { c := add(c, $DIAG0$) }\n        let p := add($W$, shl(7, mod(add(i, r), 12)))\n        s0 := add(s0, mul(mload(p), c))\n        s1 := add(s1, mul(mload(add(p, 32)), c))\n        s2 := add(s2, mul(mload(add(p, 64)), c))\n        s3 := add(s3, mul(mload(add(p, 96)), c))\n    }\n    let o := add($W$, shl(7, add(12, r)))\n    put(shl(1, r), addmod(mload(o), sub($P$, mod(s0, $P$)), $P$), addmod(mload(add(o, 32)), sub($P$, mod(s1, $P$)), $P$))\n    put(add(shl(1, r), 1), addmod(mload(add(o, 64)), sub($P$, mod(s2, $P$)), $P$), addmod(mload(add(o, 96)), sub($P$, mod(s3, $P$)), $P$))\n}\n".to_owned(),
    };
    Ok(format!("function gate_{index}() {{\n{}}}\n", indent(&body, "    ")))
}

/// The Poseidon gate (plonky2's `PoseidonGate::eval_unfiltered`, step by step).
const POSEIDON_GATE: &str = r#"// Wires: inputs 0..12, outputs 12..24, swap 24, deltas 25..29, S-box inputs of full rounds 1..4
// at 29.., of the partial rounds at 65.., of the second full rounds at 87...
let s0, s1 := wire(24)
let t0, t1 := em(s0, s1, addmod(s0, sub($P$, 1), $P$), s1)
put(0, t0, t1)
for { let i := 0 } lt(i, 4) { i := add(i, 1) } {
    // delta_i = swap·(input_{i+4} - input_i); state_i = input_i + delta_i, state_{i+4} = input_{i+4} - delta_i.
    let l0, l1 := wire(i)
    let r0, r1 := wire(add(i, 4))
    let d0, d1 := wire(add(25, i))
    let x0, x1 := es(r0, r1, l0, l1)
    x0, x1 := em(s0, s1, x0, x1)
    x0, x1 := es(x0, x1, d0, d1)
    put(add(1, i), x0, x1)
    let p := add($ST$, shl(6, i))
    mstore(p, addmod(l0, d0, $P$))
    mstore(add(p, 32), addmod(l1, d1, $P$))
    p := add(p, 256)
    mstore(p, addmod(r0, sub($P$, d0), $P$))
    mstore(add(p, 32), addmod(r1, sub($P$, d1), $P$))
}
mcopy(add($ST$, 512), add($W$, 512), 256)
// Full rounds 0..3 (round 0's S-box inputs are not wires), the partial rounds, full rounds 4..7.
full_round(0, 0, 0)
full_round(1, 29, 5)
full_round(2, 41, 17)
full_round(3, 53, 29)
partial_rounds(41)
full_round(4, 87, 63)
full_round(5, 99, 75)
full_round(6, 111, 87)
full_round(7, 123, 99)
for { let i := 0 } lt(i, 12) { i := add(i, 1) } {
    putsub(add(111, i), add($ST$, shl(6, i)), add($W$, shl(6, add(12, i))))
}
"#;

/// plonky2's `CosetInterpolationGate::eval_unfiltered` for `2^subgroup_bits` points in chunks of
/// `degree - 1`.
fn coset_interpolation(subgroup_bits: usize, degree: usize, (domain, weights): (usize, usize)) -> String {
    let points = 1usize << subgroup_bits;
    let intermediates = (points - 2) / (degree - 1);
    let evaluation_point = 1 + 2 * points;
    let evaluation_value = evaluation_point + 2;
    let start_intermediates = evaluation_value + 2;
    let shifted = start_intermediates + 4 * intermediates;
    let mut out = format!(
        "// Wires: shift 0, values 1 + 2i, evaluation point {evaluation_point}, value {evaluation_value}, intermediate\n// evaluations {start_intermediates} + 2i and products {products} + 2i, shifted point {shifted}.\nlet x := add($W$, shl(6, {shifted}))\nlet h0, h1 := wire(0)\nascale(x, h0, h1, $T0$)\naputsub(0, add($W$, shl(6, {evaluation_point})), $T0$)\nmstore($EVB$, 0)\nmstore(add($EVB$, 32), 0)\nmstore(add($EVB$, 64), 0)\nmstore(add($EVB$, 96), 0)\nmstore($PRB$, 1)\nmstore(add($PRB$, 32), 0)\nmstore(add($PRB$, 64), 0)\nmstore(add($PRB$, 96), 0)\n",
        products = start_intermediates + 2 * intermediates,
    );
    let chunk = |from: usize, to: usize| {
        format!(
            "for {{ let k := {from} }} lt(k, {to}) {{ k := add(k, 1) }} {{\n    // term = x - domain_k; eval := eval·term + weight_k·value_k·prod; prod := prod·term.\n    mcopy($TERM$, x, 128)\n    mstore($TERM$, addmod(mload(x), sub($P$, tb(add({domain}, k))), $P$))\n    amul($EVB$, $TERM$, $T1$)\n    let wk := tb(add({weights}, k))\n    let v := add($W$, shl(6, add(1, shl(1, k))))\n    ascale(v, wk, 0, $T2$)\n    amul($T2$, $PRB$, $T0$)\n    aadd($T1$, $T0$, $EVB$)\n    amul($PRB$, $TERM$, $T1$)\n    mcopy($PRB$, $T1$, 128)\n}}\n"
        )
    };
    out.push_str(&chunk(0, degree));
    for i in 0..intermediates {
        let evaluation = start_intermediates + 2 * i;
        let product = start_intermediates + 2 * intermediates + 2 * i;
        let start = 1 + (degree - 1) * (i + 1);
        let end = (start + degree - 1).min(points);
        write!(
            out,
            "aputsub({}, add($W$, shl(6, {evaluation})), $EVB$)\naputsub({}, add($W$, shl(6, {product})), $PRB$)\nmcopy($EVB$, add($W$, shl(6, {evaluation})), 128)\nmcopy($PRB$, add($W$, shl(6, {product})), 128)\n",
            2 + 4 * i,
            4 + 4 * i
        )
        .expect("writing to a string");
        out.push_str(&chunk(start, end));
    }
    writeln!(out, "aputsub({}, add($W$, shl(6, {evaluation_value})), $EVB$)", 2 + 4 * intermediates)
        .expect("writing to a string");
    out
}

/// A deterministic stream of canonical field elements for test vectors.
pub(crate) struct Stream {
    counter: u64,
    seed: [u8; 32],
}

impl Stream {
    pub(crate) fn new(seed: &str) -> Self {
        Self { counter: 0, seed: alloy::primitives::keccak256(seed.as_bytes()).0 }
    }

    pub(crate) fn next(&mut self) -> F {
        loop {
            let mut input = self.seed.to_vec();
            input.extend_from_slice(&self.counter.to_be_bytes());
            self.counter += 1;
            let word = u64::from_be_bytes(alloy::primitives::keccak256(&input)[..8].try_into().expect("8 bytes"));
            if word < <F as plonky2::field::types::Field64>::ORDER {
                return F::from_canonical_u64(word);
            }
        }
    }

    pub(crate) fn ext(&mut self) -> <F as Extendable<D>>::Extension {
        super::layout::from_coordinates([self.next(), self.next()])
    }
}

/// One gate-mode test vector: calldata words and the expected return words, from plonky2's
/// `eval_unfiltered` at random openings.
pub fn gate_vector(common: &CommonCircuitData<F, D>, seed: &str) -> (Vec<u64>, Vec<u64>) {
    use plonky2::hash::hash_types::HashOut;
    use plonky2::plonk::vars::EvaluationVars;
    type Ext = <F as Extendable<D>>::Extension;

    let mut stream = Stream::new(seed);
    let alphas: Vec<F> = (0..common.config.num_challenges).map(|_| stream.next()).collect();
    let constants: Vec<Ext> = (0..common.num_constants).map(|_| stream.ext()).collect();
    let wires: Vec<Ext> = (0..common.config.num_wires).map(|_| stream.ext()).collect();
    let hash = HashOut { elements: std::array::from_fn(|_| stream.next()) };
    let mut input: Vec<u64> = alphas.iter().map(|a| a.to_canonical_u64()).collect();
    for value in constants.iter().chain(&wires) {
        input.extend(super::layout::coordinates(*value).map(|c| c.to_canonical_u64()));
    }
    input.extend(hash.elements.map(|c| c.to_canonical_u64()));
    let num_selectors = common.selectors_info.num_selectors();
    let mut output = Vec::new();
    for gate in &common.gates {
        let vars = EvaluationVars {
            local_constants: &constants[num_selectors + common.num_lookup_selectors..],
            local_wires: &wires,
            public_inputs_hash: &hash,
        };
        let values = gate.0.eval_unfiltered(vars);
        for &alpha in &alphas {
            let mut sum = Ext::ZERO;
            let mut power = F::ONE;
            for value in &values {
                sum += *value * super::layout::from_coordinates([power, F::ZERO]);
                power *= alpha;
            }
            output.extend(super::layout::coordinates(sum).map(|c| c.to_canonical_u64()));
        }
    }
    (input, output)
}

/// One hash-mode test vector: `count` random elements and their Poseidon `hash_no_pad`.
pub fn hash_vector(count: usize, seed: &str) -> (Vec<u64>, Vec<u64>) {
    use plonky2::hash::poseidon::PoseidonHash;
    use plonky2::plonk::config::Hasher;
    let mut stream = Stream::new(seed);
    let input: Vec<F> = (0..count).map(|_| stream.next()).collect();
    let output = PoseidonHash::hash_no_pad(&input);
    (
        input.iter().map(PrimeField64::to_canonical_u64).collect(),
        output.elements.iter().map(PrimeField64::to_canonical_u64).collect(),
    )
}

/// The MDS circulant's row `r` as a sum of `terms` (`term(i, circ)` for the state element `i`
/// positions after `r`), plus the diagonal's entry.
fn mds_row(term: impl Fn(usize, u64) -> String) -> String {
    let circ = <F as Poseidon>::MDS_MATRIX_CIRC;
    let mut sum = term(0, circ[0]);
    for (i, &c) in circ.iter().enumerate().skip(1) {
        sum = format!("add({sum}, {})", term(i, c));
    }
    sum
}

/// Yul for the Poseidon permutation over the extension (the gate) and over the base field (the
/// public-input hash): each layer's inner loop unrolled with its constants inlined, outer loops kept
/// (code size); the state sits twice in a row so that MDS row r reads it at r, r + 1, ... r + 11.
fn poseidon_helpers() -> String {
    let width = 12;
    let ext_row0 = mds_row(|i, c| format!("mul(mload(add(b, {})), {c})", 64 * i));
    let ext_row1 = mds_row(|i, c| format!("mul(mload(add(b, {})), {c})", 64 * i + 32));
    let native_row = mds_row(|i, c| format!("mul(mload(add(b, {})), {c})", 32 * i));
    let mut partial_ext = String::new();
    let mut partial_native = String::new();
    for i in 1..width {
        write!(
            partial_ext,
            "        {{\n            let p := add($ST$, {at})\n            let b0 := mload(p)\n            let b1 := mload(add(p, 32))\n            let t := shr(192, mload(add(wh, {k})))\n            s0 := add(s0, mul(b0, t))\n            s1 := add(s1, mul(b1, t))\n            t := shr(192, mload(add(vs, {k})))\n            mstore(p, addmod(mulmod(a0, t, $P$), b0, $P$))\n            mstore(add(p, 32), addmod(mulmod(a1, t, $P$), b1, $P$))\n        }}\n",
            at = 64 * i,
            k = 8 * (i - 1),
        )
        .expect("writing to a string");
        write!(
            partial_native,
            "        {{\n            let p := add($HS$, {at})\n            let b := mload(p)\n            s := add(s, mul(b, shr(192, mload(add(wh, {k})))))\n            mstore(p, addmod(mulmod(a, shr(192, mload(add(vs, {k}))), $P$), b, $P$))\n        }}\n",
            at = 32 * i,
            k = 8 * (i - 1),
        )
        .expect("writing to a string");
    }
    let mut init_ext = String::new();
    let mut init_native = String::new();
    for c in 1..width {
        let column = |component: usize, stride: usize, base: &str| {
            let mut sum = String::new();
            for r in 1..width {
                let entry = <F as Poseidon>::FAST_PARTIAL_ROUND_INITIAL_MATRIX[r - 1][c - 1];
                let term = format!("mul(mload(add({base}, {})), {entry:#x})", stride * r + 32 * component);
                sum = if sum.is_empty() { term } else { format!("add({sum}, {term})") };
            }
            sum
        };
        write!(
            init_ext,
            "mstore(add($ST2$, {a}), mod({}, $P$))\nmstore(add($ST2$, {b}), mod({}, $P$))\n",
            column(0, 64, "$ST$"),
            column(1, 64, "$ST$"),
            a = 64 * c,
            b = 64 * c + 32,
        )
        .expect("writing to a string");
        writeln!(init_native, "mstore(add($HS2$, {a}), mod({}, $P$))", column(0, 32, "$HS$"), a = 32 * c)
            .expect("writing to a string");
    }
    format!(
        r#"// ---- Poseidon over the extension (the gate; state at ST, 12 values of 2 words, then a copy) ----
// Full round r (0..8: rounds 0..3 then 26..29): round constants; if `wires`, the S-box inputs are the
// 12 wires from there (constraints j..j+12: state - wire, then the state continues from the wires);
// S-boxes; MDS.
function full_round(r, wires, j) {{
    let rc := add($TB$, shl(3, add($RCF$, mul(r, 12))))
    for {{ let i := 0 }} lt(i, 12) {{ i := add(i, 1) }} {{
        let p := add($ST$, shl(6, i))
        let x0 := addmod(mload(p), shr(192, mload(add(rc, shl(3, i)))), $P$)
        let x1 := mload(add(p, 32))
        if wires {{
            let w := add($W$, shl(6, add(wires, i)))
            put(add(j, i), addmod(x0, sub($P$, mload(w)), $P$), addmod(x1, sub($P$, mload(add(w, 32))), $P$))
            x0 := mload(w)
            x1 := mload(add(w, 32))
        }}
        x0, x1 := sbox(x0, x1)
        mstore(p, x0)
        mstore(add(p, 32), x1)
    }}
    mds_layer()
}}
// Row r = Σ_i state[(r + i) % 12]·circ[i] (+ diag[0]·state[0] on row 0); entries are below 2^6, so a
// row sums to below 2^74 before its `mod`.
function mds_layer() {{
    mcopy(add($ST$, 768), $ST$, 768)
    for {{ let r := 0 }} lt(r, 12) {{ r := add(r, 1) }} {{
        let b := add($ST$, shl(6, r))
        let q := add($ST2$, shl(6, r))
        mstore(q, mod({ext_row0}, $P$))
        mstore(add(q, 32), mod({ext_row1}, $P$))
    }}
    mstore($ST2$, addmod(mload($ST2$), mulmod(mload($ST$), $DIAG0$, $P$), $P$))
    mstore(add($ST2$, 32), addmod(mload(add($ST2$, 32)), mulmod(mload(add($ST$, 32)), $DIAG0$, $P$), $P$))
    mcopy($ST$, $ST2$, 768)
}}
// The fast partial rounds: first constants, initial matrix, then per round the S-box input wire
// (constraint j + k), its S-box, the round constant (not after the last), and the sparse matrix.
function partial_rounds(j) {{
    for {{ let i := 0 }} lt(i, 12) {{ i := add(i, 1) }} {{
        let p := add($ST$, shl(6, i))
        mstore(p, addmod(mload(p), tb(add($FPC$, i)), $P$))
    }}
    mstore($ST2$, mload($ST$))
    mstore(add($ST2$, 32), mload(add($ST$, 32)))
{init_ext}    mcopy($ST$, $ST2$, 768)
    for {{ let k := 0 }} lt(k, $NPART$) {{ k := add(k, 1) }} {{
        let a0, a1 := wire(add(65, k))
        put(add(j, k), addmod(mload($ST$), sub($P$, a0), $P$), addmod(mload(add($ST$, 32)), sub($P$, a1), $P$))
        a0, a1 := sbox(a0, a1)
        if lt(k, sub($NPART$, 1)) {{ a0 := addmod(a0, tb(add($FPR$, k)), $P$) }}
        let wh := add($TB$, shl(3, add($FWH$, mul(k, 11))))
        let vs := add($TB$, shl(3, add($FVS$, mul(k, 11))))
        let s0 := mul(a0, $MDS00$)
        let s1 := mul(a1, $MDS00$)
{partial_ext}        mstore($ST$, mod(s0, $P$))
        mstore(add($ST$, 32), mod(s1, $P$))
    }}
}}

// ---- Native Poseidon over the base field (state at HS, 12 words, then a copy): plonky2's
// `poseidon` ----
function native_full_round(r) {{
    let rc := add($TB$, shl(3, add($RCF$, mul(r, 12))))
    for {{ let i := 0 }} lt(i, 12) {{ i := add(i, 1) }} {{
        let p := add($HS$, shl(5, i))
        let x := addmod(mload(p), shr(192, mload(add(rc, shl(3, i)))), $P$)
        let x2 := mulmod(x, x, $P$)
        mstore(p, mulmod(mulmod(x, x2, $P$), mulmod(x2, x2, $P$), $P$))
    }}
    mcopy(add($HS$, 384), $HS$, 384)
    for {{ let row := 0 }} lt(row, 12) {{ row := add(row, 1) }} {{
        let b := add($HS$, shl(5, row))
        mstore(add($HS2$, shl(5, row)), mod({native_row}, $P$))
    }}
    mstore($HS2$, addmod(mload($HS2$), mulmod(mload($HS$), $DIAG0$, $P$), $P$))
    mcopy($HS$, $HS2$, 384)
}}
function native_permute() {{
    for {{ let r := 0 }} lt(r, 4) {{ r := add(r, 1) }} {{ native_full_round(r) }}
    for {{ let i := 0 }} lt(i, 12) {{ i := add(i, 1) }} {{
        let p := add($HS$, shl(5, i))
        mstore(p, addmod(mload(p), tb(add($FPC$, i)), $P$))
    }}
    mstore($HS2$, mload($HS$))
{init_native}    mcopy($HS$, $HS2$, 384)
    for {{ let k := 0 }} lt(k, $NPART$) {{ k := add(k, 1) }} {{
        let x := mload($HS$)
        let x2 := mulmod(x, x, $P$)
        let a := addmod(mulmod(mulmod(x, x2, $P$), mulmod(x2, x2, $P$), $P$), tb(add($FPR$, k)), $P$)
        let wh := add($TB$, shl(3, add($FWH$, mul(k, 11))))
        let vs := add($TB$, shl(3, add($FVS$, mul(k, 11))))
        let s := mul(a, $MDS00$)
{partial_native}        mstore($HS$, mod(s, $P$))
    }}
    for {{ let r := 4 }} lt(r, 8) {{ r := add(r, 1) }} {{ native_full_round(r) }}
}}
"#,
        init_ext = indent(&init_ext, "    "),
        init_native = indent(&init_native, "    "),
    )
}

/// `fold(n, out)`: the current gate's n constraints folded with the powers of every α in one pass
/// (each constraint read once), written as two words per α at `out`. Products are below 2^128 and
/// a gate has fewer than 2^10 constraints, so the sums are reduced once.
fn fold_function(num_challenges: usize) -> String {
    let mut declare = String::new();
    let mut body = String::new();
    let mut store = String::new();
    for i in 0..num_challenges {
        write!(declare, "    let s{i}0 := 0\n    let s{i}1 := 0\n").expect("writing to a string");
        write!(
            body,
            "        w := mload(add(row, {at}))\n        s{i}0 := add(s{i}0, mul(c0, w))\n        s{i}1 := add(s{i}1, mul(c1, w))\n",
            at = 32 * i
        )
        .expect("writing to a string");
        write!(
            store,
            "    mstore(add(out, {a}), mod(s{i}0, $P$))\n    mstore(add(out, {b}), mod(s{i}1, $P$))\n",
            a = 64 * i,
            b = 64 * i + 32
        )
        .expect("writing to a string");
    }
    format!(
        "// Folds the current gate's n constraints with the powers of each α into out (2 words per α).\nfunction fold(n, out) {{\n{declare}    for {{ let j := 0 }} lt(j, n) {{ j := add(j, 1) }} {{\n        let c := add($CB$, shl(6, j))\n        let c0 := mload(c)\n        let c1 := mload(add(c, 32))\n        let row := add($APOW$, shl(5, mul(j, $NC$)))\n        let w := 0\n{body}    }}\n{store}}}\n"
    )
}
