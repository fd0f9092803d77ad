//! Seeded randomness for the tests that pick their actions at random
//! (`clonefd_stress`, `clone4_fuzz`): a small generator, and the seed from
//! `C4_SEED` or the clock, which a test prints so that a run can be
//! replayed.

use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable that gives the seed of a run to replay.
pub(super) const SEED_ENV: &str = "C4_SEED";

/// The number in the environment variable `name`, if it is set and valid.
pub(super) fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// A seed from the clock.
pub(super) fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |since| since.as_nanos() as u64)
}

/// The seed in `C4_SEED`, else one from the clock.
pub(super) fn seed_from_env_or_clock() -> u64 {
    env_number(SEED_ENV).unwrap_or_else(clock_seed)
}

/// splitmix64: small, seedable, good enough to pick plans.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in 0..n.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(super) fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// One of `choices`, each as likely as its weight.
    pub(super) fn pick<T: Copy>(&mut self, choices: &[(u64, T)]) -> T {
        let total: u64 = choices.iter().map(|(weight, _)| weight).sum();
        let mut at = self.below(total);
        for &(weight, choice) in choices {
            if at < weight {
                return choice;
            }
            at -= weight;
        }
        unreachable!("below() gave a number past the weights")
    }

    pub(super) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}
