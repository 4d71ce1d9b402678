//! The documented maximum (and minimum) of every scenario quantity, checked when a scenario is
//! loaded. docs/scenarios.md lists them in its "Limits" table; a test keeps the two in step.
//!
//! Chain and market bounds live with their types (`zkcrowd_chain::VALIDATORS_MAX`,
//! `zkcrowd_market::WINDOW_BLOCKS_MAX`, …) because a genesis file checks them too; durations and
//! rates are also bounded when parsed (`DURATION_PARSE_MAX`, `RATE_PER_SECOND_MAX`), so no
//! arithmetic on them can overflow whatever a field's own maximum.

use zkcrowd_primitives::{WEI_PER_ZKPOW, Zkpow};

use super::SimDuration;

/// Longest fault phase (`duration`): 12 hours of simulated time. The baseline (one hour, 10 tx/s,
/// 5,000 plugins) takes 87 s of wall time and 1.24 GB (docs/benchmarks.md), so 12 hours is ~20
/// minutes of wall time; longer studies are several runs.
pub const DURATION_MAX: SimDuration = SimDuration::from_secs(12 * 3_600);

/// Longest healed phase (`drain`), also the longest liveness bound: 12 hours, as `duration`.
pub const DRAIN_MAX: SimDuration = SimDuration::from_secs(12 * 3_600);

/// Shortest block time: 100 ms, below any BFT chain's and the network's latencies.
pub const BLOCK_TIME_MIN: SimDuration = SimDuration::from_millis(100);

/// Longest block time: one minute (Ethereum-like chains use 2 to 12 s; a 12-hour run at one
/// minute still has 720 blocks).
pub const BLOCK_TIME_MAX: SimDuration = SimDuration::from_secs(60);

/// Longest link latency and jitter: 10 seconds, an order of magnitude above a satellite link
/// (~600 ms); beyond it no consensus round completes within its timeouts.
pub const LATENCY_MAX: SimDuration = SimDuration::from_secs(10);

/// Fewest users: a transfer needs a sender and another recipient.
pub const USERS_MIN: u64 = 2;

/// Most users: 100,000. Each is a key derivation (~50 µs) and a genesis account in every
/// validator's state trie and ledger; user keys `dev:0..users` must stay below the plugins'
/// keys (`setup::PLUGIN_KEY_BASE`).
pub const USERS_MAX: u64 = 100_000;

/// Most transactions a run may expect (`tx_rate × duration`): 500,000. The baseline keeps ~20 KB
/// per transaction across its 4 validators, jobs, event log and tables (its 1.24 GB less ~0.5 GB
/// for the plugins, over 36,000 transactions), so ~10 GB at the maximum, on a 24 GB machine.
pub const TXS_EXPECTED_MAX: f64 = 500_000.0;

/// Largest mempool per validator: 1,000,000 transactions (~300 bytes each pooled: ~300 MB per
/// validator when full).
pub const MEMPOOL_MAX: usize = 1_000_000;

/// Most plugin identities: 100,000. A plugin costs ~106 KB over an hour (baseline-10k against the
/// baseline: +0.53 GB for +5,000 plugins, docs/benchmarks.md), so ~11 GB at the maximum; plugin
/// keys run from `setup::PLUGIN_KEY_BASE` and must stay below the validators'.
pub const PLUGINS_MAX: u64 = 100_000;

/// Most device classes.
pub const DEVICES_MAX: usize = 16;

/// Slowest device: 1/100 of the reference device (a proof that takes the reference 0.4 s takes 40 s).
pub const DEVICE_SPEED_MIN: f64 = 0.01;

/// Fastest device: 100 times the reference device.
pub const DEVICE_SPEED_MAX: f64 = 100.0;

/// Shortest session median or mean: one second (a session spans at least a heartbeat).
pub const SESSION_MIN: SimDuration = SimDuration::from_secs(1);

/// Largest log-normal session sigma: 3 puts the 99th percentile a thousand times above the median.
pub const SESSION_SIGMA_MAX: f64 = 3.0;

/// Largest proving-time jitter sigma: 2 already spreads the middle 95% of times over a factor of 2,500.
pub const PROOF_JITTER_SIGMA_MAX: f64 = 2.0;

/// Largest `withhold_until_factor`: the largest bounty factor (`zkcrowd_market::FACTOR_MAX`).
pub const WITHHOLD_FACTOR_MAX: f64 = 1_000_000.0;

/// Largest genesis balance of a user or plugin: 10^12 ZKPOW. With every user and plugin at the
/// maximum the supply stays below 2^127 wei (checked below at compile time).
pub const ACCOUNT_BALANCE_WEI_MAX: u128 = 1_000_000_000_000 * WEI_PER_ZKPOW;

/// Most fault entries: each is a task and a window in the report.
pub const FAULTS_MAX: usize = 1_000;

/// Most crashes of one `random_crashes` entry (drawn up front).
pub const RANDOM_CRASHES_MAX: u32 = 1_000;

/// Shortest L1 slot and block time: one second (the L1's timestamps are whole seconds).
pub const L1_TIME_MIN: SimDuration = SimDuration::from_secs(1);

/// Longest L1 slot and block time: one hour (Ethereum's blocks are 12 s).
pub const L1_TIME_MAX: SimDuration = SimDuration::from_secs(3_600);

/// Most ranges an agent submits in one L1 block: 4 submissions of a wrapped range (6,000,000 gas
/// limit each, ~3.8M used) fit a 30M-gas L1 block.
pub const L1_RANGES_PER_L1_BLOCK_MAX: u32 = 4;

/// Most attempts to reach the L1 within a slot.
pub const L1_ATTEMPTS_MAX: u32 = 10;

/// Longest wait between attempts: one minute.
pub const L1_RETRY_BACKOFF_MAX: SimDuration = SimDuration::from_secs(60);

/// Longest scenario name: it names output directories and report titles.
pub const NAME_CHARS_MAX: usize = 100;

// Every user and plugin at the maximum balance, plus every validator's stake, stays below the
// ledger's 2^127 wei supply bound.
const _: () = assert!(
    (USERS_MAX + PLUGINS_MAX) as u128 * ACCOUNT_BALANCE_WEI_MAX
        + zkcrowd_chain::VALIDATORS_MAX as u128 * crate::setup::VALIDATOR_STAKE_ZKPOW * WEI_PER_ZKPOW
        < zkcrowd_chain::SUPPLY_WEI_MAX
);

/// Largest cost of proving, per reference proving-second (a median or fixed value): 1,000 ZKPOW.
pub const PROVING_COST_MAX: Zkpow = Zkpow::from_zkpow(1_000);

/// Largest spread of the log-normal proving cost (sigma of the underlying normal).
pub const PROVING_COST_SIGMA_MAX: f64 = 3.0;

/// Shortest interval between a price-driven plugin's decisions (one quote each).
pub const DECISION_INTERVAL_MIN: SimDuration = SimDuration::from_secs(1);

/// Largest margin of the threshold rule (10: a bounty of 11× cost).
pub const DECISION_MARGIN_MAX: f64 = 10.0;

/// Largest switching cost of the smoothed rule: 1,000,000 ZKPOW.
pub const SWITCHING_COST_MAX: Zkpow = Zkpow::from_zkpow(1_000_000);

#[cfg(test)]
mod tests {
    use super::*;

    /// The "Limits" table of docs/scenarios.md states the constants: each row's range contains the
    /// value of the constant it documents (so changing a bound without the docs fails here).
    #[test]
    fn docs_table_states_the_constants() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/scenarios.md")).unwrap();
        let row = |first_cell: &str| -> String {
            docs.lines()
                .find(|line| line.starts_with(&format!("| {first_cell} |")))
                .unwrap_or_else(|| panic!("no Limits row `{first_cell}`"))
                .to_owned()
        };
        let cases: Vec<(&str, String)> = vec![
            ("file", zkcrowd_primitives::yaml::FILE_BYTES_MAX.to_string()),
            ("document", zkcrowd_primitives::yaml::NODES_MAX.to_string()),
            ("document", zkcrowd_primitives::yaml::DEPTH_MAX.to_string()),
            ("document", zkcrowd_primitives::yaml::ALIASES_MAX.to_string()),
            ("`name`", NAME_CHARS_MAX.to_string()),
            ("`duration`", DURATION_MAX.to_string()),
            ("`drain`", DRAIN_MAX.to_string()),
            ("any duration", format!("{}d", super::super::DURATION_PARSE_MAX.as_millis() / 86_400_000)),
            ("any rate", format!("{}/s", super::super::RATE_PER_SECOND_MAX)),
            ("`chain.validators`", zkcrowd_chain::VALIDATORS_MAX.to_string()),
            ("`chain.block_time`", format!("{BLOCK_TIME_MIN} to {BLOCK_TIME_MAX}")),
            ("`chain.gas_limit`", format!("{} to {}", zkcrowd_chain::GAS_LIMIT_MIN, zkcrowd_chain::GAS_LIMIT_MAX)),
            ("`chain.chain_id`", zkcrowd_chain::CHAIN_ID_MAX.to_string()),
            ("`chain.base_fee`", zkcrowd_chain::BASE_FEE_WEI_MAX.to_string()),
            ("`chain.mempool_max`", MEMPOOL_MAX.to_string()),
            ("`network.*.latency`, `jitter`", LATENCY_MAX.to_string()),
            ("`load.users`", format!("{USERS_MIN} to {USERS_MAX}")),
            ("`load.tx_rate` × `duration`", TXS_EXPECTED_MAX.to_string()),
            ("`load.balance`, `plugins.balance`", (ACCOUNT_BALANCE_WEI_MAX / WEI_PER_ZKPOW).to_string()),
            ("`plugins.population`", PLUGINS_MAX.to_string()),
            (
                "`plugins.devices`",
                format!("1 to {DEVICES_MAX} classes, speed {DEVICE_SPEED_MIN} to {DEVICE_SPEED_MAX}"),
            ),
            ("`plugins.session`", format!("{SESSION_MIN} to {DURATION_MAX}, sigma 0 to {SESSION_SIGMA_MAX}")),
            ("`plugins.withhold_until_factor`", WITHHOLD_FACTOR_MAX.to_string()),
            ("`proofs.jitter_sigma`", PROOF_JITTER_SIGMA_MAX.to_string()),
            ("`plugins.economics.cost`", format!("at most {PROVING_COST_MAX}, sigma 0 to {PROVING_COST_SIGMA_MAX}")),
            ("`plugins.economics.decision_interval`", format!("{DECISION_INTERVAL_MIN} to {DURATION_MAX}")),
            (
                "`plugins.economics.rule`",
                format!("margin 0 to {DECISION_MARGIN_MAX}, switching_cost at most {SWITCHING_COST_MAX}"),
            ),
            ("`market.exclusion`", format!("misses 1 to {}", zkcrowd_market::EXCLUSION_MISSES_MAX)),
            (
                "`market.gas_scaling`",
                format!(
                    "`bounty_per_mgas` at most {}, `deadline_blocks_per_mgas` at most {}",
                    zkcrowd_market::GAS_BOUNTY_PER_MGAS_MAX,
                    zkcrowd_market::GAS_DEADLINE_BLOCKS_PER_MGAS_MAX
                ),
            ),
            ("`load.heavy_call_gas`", "21000 to `chain.gas_limit`".to_owned()),
            (
                "`market.heartbeat_window_blocks`, `proof_deadline_blocks`",
                zkcrowd_market::WINDOW_BLOCKS_MAX.to_string(),
            ),
            (
                "`market.penalty`, `bounty.base`, `bounty.aggregation_base`, `bounty.wrap_base`, `funding.issuance_per_block`, −`debt_limit`",
                (zkcrowd_market::MARKET_AMOUNT_WEI_MAX / WEI_PER_ZKPOW).to_string(),
            ),
            ("`market.jobs_per_plugin_max`", zkcrowd_market::JOBS_PER_PLUGIN_MAX.to_string()),
            ("`market.system_job_txs_max`", zkcrowd_market::SYSTEM_JOB_TXS_MAX.to_string()),
            ("`market.wrap_range_blocks`", zkcrowd_market::WRAP_RANGE_BLOCKS_MAX.to_string()),
            (
                "bounty factors (`per_block`, `cap`, `max`, `min`, step `factor`)",
                (zkcrowd_market::FACTOR_MAX.ppm() / zkcrowd_market::PPM).to_string(),
            ),
            (
                "curve block counts (`after_blocks`, `delay_blocks`, `ramp_blocks`, `target_blocks`)",
                zkcrowd_market::CURVE_BLOCKS_MAX.to_string(),
            ),
            ("`steps` table", zkcrowd_market::STEPS_MAX.to_string()),
            ("`taiko_adaptive.adjustment_quotient`", zkcrowd_market::ADJUSTMENT_QUOTIENT_MAX.to_string()),
            ("`bounty.supply.target_active`", zkcrowd_market::TARGET_ACTIVE_MAX.to_string()),
            ("`l1.slot`, `l1.block_time`", format!("{L1_TIME_MIN} to {L1_TIME_MAX}")),
            ("`l1.max_ranges_per_l1_block`", L1_RANGES_PER_L1_BLOCK_MAX.to_string()),
            ("`l1.attempts`", L1_ATTEMPTS_MAX.to_string()),
            ("`l1.retry_backoff`", L1_RETRY_BACKOFF_MAX.to_string()),
            ("`faults`", FAULTS_MAX.to_string()),
            ("`random_crashes.count`", RANDOM_CRASHES_MAX.to_string()),
            ("sweep `seeds`", format!("1 to {} per point", crate::sweep::SEEDS_MAX)),
            ("sweep `seeds`", format!("{} points, {} runs", crate::sweep::POINTS_MAX, crate::sweep::RUNS_MAX)),
            ("genesis `accounts`, `dev_accounts.count`", zkcrowd_chain::ACCOUNTS_MAX.to_string()),
            ("genesis `dev_accounts.first`", zkcrowd_chain::DEV_FIRST_MAX.to_string()),
            ("genesis `timestamp`", zkcrowd_chain::TIMESTAMP_MAX.to_string()),
            ("genesis `max_tx_size_bytes`", zkcrowd_chain::TX_SIZE_BYTES_MAX.to_string()),
            ("genesis account `code`", zkcrowd_chain::CODE_BYTES_MAX.to_string()),
            ("genesis account `nonce`", zkcrowd_chain::NONCE_MAX.to_string()),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter(|(first_cell, value)| !row(first_cell).contains(value.as_str()))
            .map(|(first_cell, value)| format!("row {first_cell} lacks {value}: {}", row(first_cell)))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
