//! Retry policies are data (STYLE §17): one named policy per kind of call.

use std::time::Duration;

/// How a step is retried after transient errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the 2nd attempt.
    pub initial: Duration,
    /// Multiplier between delays.
    pub factor: f64,
    /// Upper bound of a delay (Retry-After may still ask for more).
    pub max_delay: Duration,
    /// Attempts in all, the first included; 1 = never retried.
    pub max_attempts: u32,
    /// Fraction of random spread added to each delay (0.0–1.0), so retrying workers do not
    /// hammer an upstream in step.
    pub jitter: f64,
}

impl RetryPolicy {
    /// No retry: validation and other pure steps.
    pub const NONE: RetryPolicy = RetryPolicy {
        initial: Duration::ZERO,
        factor: 1.0,
        max_delay: Duration::ZERO,
        max_attempts: 1,
        jitter: 0.0,
    };
    /// Reads from a shop or the ERP: quick first retry, patient afterwards.
    pub const READ: RetryPolicy = RetryPolicy {
        initial: Duration::from_millis(500),
        factor: 2.0,
        max_delay: Duration::from_secs(60),
        max_attempts: 8,
        jitter: 0.2,
    };
    /// Writes to the ERP (rate-limited to 1 call/s per subscription).
    pub const ERP: RetryPolicy = RetryPolicy {
        initial: Duration::from_secs(1),
        factor: 2.0,
        max_delay: Duration::from_secs(300),
        max_attempts: 10,
        jitter: 0.2,
    };
    /// Status polls of an import the ERP accepted asynchronously (HTTP 202): each poll that
    /// finds it still running parks the run until the next one (persisted `retry_at`, no
    /// worker waits). 40 polls from 2 s growing to 60 s cover about half an hour; past that
    /// the run fails naming the import id, and nothing is uploaded again.
    pub const ERP_IMPORT_STATUS: RetryPolicy = RetryPolicy {
        initial: Duration::from_secs(2),
        factor: 1.5,
        max_delay: Duration::from_secs(60),
        max_attempts: 40,
        jitter: 0.1,
    };
    /// Writes to a shop.
    pub const SHOP: RetryPolicy = RetryPolicy {
        initial: Duration::from_millis(500),
        factor: 2.0,
        max_delay: Duration::from_secs(120),
        max_attempts: 8,
        jitter: 0.2,
    };

    /// The delay after failed attempt `attempt` (1-based), before jitter; `unit` in [0,1)
    /// spreads it by up to `jitter`.
    pub fn delay_after(&self, attempt: u32, unit: f64) -> Duration {
        let exp = self
            .factor
            .powi(attempt.saturating_sub(1).min(64) as i32)
            .max(1.0);
        let base = self.initial.as_secs_f64() * exp;
        let capped = base.min(self.max_delay.as_secs_f64().max(self.initial.as_secs_f64()));
        let spread = capped * self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        Duration::from_secs_f64(capped + spread)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        let p = RetryPolicy {
            initial: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(5),
            max_attempts: 10,
            jitter: 0.5,
        };
        assert_eq!(p.delay_after(1, 0.0), Duration::from_secs(1));
        assert_eq!(p.delay_after(2, 0.0), Duration::from_secs(2));
        assert_eq!(p.delay_after(3, 0.0), Duration::from_secs(4));
        assert_eq!(p.delay_after(4, 0.0), Duration::from_secs(5));
        assert_eq!(p.delay_after(40, 0.0), Duration::from_secs(5));
        assert_eq!(p.delay_after(1, 1.0), Duration::from_millis(1500));
    }
}
