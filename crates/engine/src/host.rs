//! The deterministic [`Host`] an execution's expressions see: a seeded
//! random generator and the injected clock.

use std::cell::Cell;

use windlass_asl::Host;

pub struct SeededHost {
    state: Cell<u64>,
    now: i64,
}

impl SeededHost {
    pub fn new(seed: u64, now: i64) -> Self {
        SeededHost {
            state: Cell::new(seed),
            now,
        }
    }

    /// The generator state to store back into the execution.
    pub fn seed(&self) -> u64 {
        self.state.get()
    }

    /// splitmix64: small, fast and good enough for ids and jitter.
    pub fn next_u64(&self) -> u64 {
        let next = self.state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Host for SeededHost {
    fn uuid(&self) -> String {
        let high = self.next_u64();
        let low = self.next_u64();
        let bytes = ((u128::from(high) << 64) | u128::from(low)).to_be_bytes();
        let mut b = bytes;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        format!(
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
        )
    }

    fn random(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn now_millis(&self) -> i64 {
        self.now
    }
}
