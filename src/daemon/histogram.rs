//! A Prometheus histogram of durations in seconds (cumulative `le`
//! buckets, `_sum`, `_count`): the recovery duration metric
//! (docs/daemon.md "Metrics").

use std::fmt::Write as _;
use std::time::Duration;

/// Upper bounds in seconds: a recovery is a move of one address plus its
/// announcements (milliseconds), up to the probe and lock timeouts
/// (seconds).
pub const RECOVERY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Observations per bucket (not cumulative; `+Inf` is `count`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    below: [u64; RECOVERY_BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = RECOVERY_BUCKETS.iter().position(|&le| secs <= le) {
            self.below[i] += 1;
        }
        self.sum += secs;
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The series of `name` with `labels` (e.g. `tag="web"`, already
    /// escaped), buckets cumulative as the format wants.
    pub fn write(&self, o: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (le, n) in RECOVERY_BUCKETS.iter().zip(self.below) {
            cumulative += n;
            let _ = writeln!(o, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(o, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(o, "{name}_sum{{{labels}}} {:.6}", self.sum);
        let _ = writeln!(o, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_the_slow_ones_only_in_inf() {
        let mut h = Histogram::default();
        for ms in [3, 40, 40, 700, 60_000] {
            h.observe(Duration::from_millis(ms));
        }
        let mut o = String::new();
        h.write(&mut o, "x_seconds", "tag=\"web\"");
        let value = |series: &str| -> f64 {
            let line = o
                .lines()
                .find(|l| l.starts_with(series))
                .unwrap_or_else(|| panic!("{series} in {o}"));
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert_eq!(value("x_seconds_bucket{tag=\"web\",le=\"0.005\"}"), 1.0);
        assert_eq!(value("x_seconds_bucket{tag=\"web\",le=\"0.025\"}"), 1.0);
        assert_eq!(value("x_seconds_bucket{tag=\"web\",le=\"0.05\"}"), 3.0);
        assert_eq!(value("x_seconds_bucket{tag=\"web\",le=\"1\"}"), 4.0);
        assert_eq!(value("x_seconds_bucket{tag=\"web\",le=\"30\"}"), 4.0);
        assert_eq!(value("x_seconds_bucket{tag=\"web\",le=\"+Inf\"}"), 5.0);
        assert_eq!(value("x_seconds_count{tag=\"web\"}"), 5.0);
        assert!(
            (value("x_seconds_sum{tag=\"web\"}") - 60.783).abs() < 1e-9,
            "{o}"
        );
    }
}
