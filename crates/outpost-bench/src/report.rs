//! The result table: throughput, p50/p99 latency, and each target's ratio to the floor
//! measured in the same run (absolute numbers vary between machines; ratios travel).

use std::fmt::Write;

use crate::{orchestrate::Measurement, targets::Target};

/// Renders the table; `conditions` is printed above it.
pub fn table(conditions: &str, measurements: &[Measurement]) -> String {
    let floor = measurements
        .iter()
        .find(|m| m.target == Target::Floor)
        .map(|m| m.report.requests_per_second());
    let mut out = String::new();
    let _ = writeln!(out, "{conditions}");
    let _ = writeln!(
        out,
        "{:<16} {:>10} {:>9} {:>9} {:>9} {:>7}",
        "target", "req/s", "p50 ms", "p99 ms", "vs floor", "errors"
    );
    for m in measurements {
        let rps = m.report.requests_per_second();
        let ratio = floor
            .filter(|floor| *floor > 0.0)
            .map_or_else(|| "-".to_owned(), |floor| format!("{:.2}×", rps / floor));
        let _ = writeln!(
            out,
            "{:<16} {:>10.0} {:>9.3} {:>9.3} {:>9} {:>7}",
            m.target.name(),
            rps,
            f64::from(m.report.p50_us) / 1000.0,
            f64::from(m.report.p99_us) / 1000.0,
            ratio,
            m.report.errors,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadReport;

    fn measured(target: Target, requests: u64) -> Measurement {
        Measurement {
            target,
            report: LoadReport {
                requests,
                errors: 0,
                seconds: 1.0,
                p50_us: 500,
                p99_us: 1500,
            },
        }
    }

    #[test]
    fn ratios_are_relative_to_the_floor_of_the_same_run() {
        let text = table(
            "conditions",
            &[
                measured(Target::Floor, 40_000),
                measured(Target::Outpost, 30_000),
            ],
        );
        assert!(text.contains("1.00×"), "{text}");
        assert!(text.contains("0.75×"), "{text}");
        assert!(text.contains("0.500"), "{text}");
    }
}
