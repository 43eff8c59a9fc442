//! The result table: throughput, p50/p99 latency, and each target's ratio to the floor
//! measured in the same round (absolute numbers vary between machines and with whatever else
//! runs on them; ratios travel). With several rounds, each column is the median over rounds.

use std::fmt::Write;

use crate::{orchestrate::Measurement, targets::Target};

/// Renders the table; `conditions` is printed above it.
pub fn table(conditions: &str, measurements: &[Measurement]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{conditions}");
    let _ = writeln!(
        out,
        "{:<18} {:>10} {:>9} {:>9} {:>9} {:>13} {:>7}",
        "target", "req/s", "p50 ms", "p99 ms", "vs floor", "(min–max)", "errors"
    );
    let mut targets: Vec<Target> = Vec::new();
    for m in measurements {
        if !targets.contains(&m.target) {
            targets.push(m.target);
        }
    }
    for target in targets {
        let runs: Vec<&Measurement> = measurements.iter().filter(|m| m.target == target).collect();
        let rps = median(runs.iter().map(|m| m.report.requests_per_second()));
        let p50 = median(runs.iter().map(|m| f64::from(m.report.p50_us) / 1000.0));
        let p99 = median(runs.iter().map(|m| f64::from(m.report.p99_us) / 1000.0));
        let ratios: Vec<f64> = runs
            .iter()
            .filter_map(|m| {
                let floor = floor_of_round(measurements, m.round)?;
                Some(m.report.requests_per_second() / floor)
            })
            .collect();
        let (ratio, spread) = match (
            ratios.iter().copied().reduce(f64::min),
            ratios.iter().copied().reduce(f64::max),
        ) {
            (Some(low), Some(high)) => (
                format!("{:.2}×", median(ratios.iter().copied())),
                format!("{low:.2}–{high:.2}"),
            ),
            _ => ("-".to_owned(), "-".to_owned()),
        };
        let errors: u64 = runs.iter().map(|m| m.report.errors).sum();
        let _ = writeln!(
            out,
            "{:<18} {rps:>10.0} {p50:>9.3} {p99:>9.3} {ratio:>9} {spread:>13} {errors:>7}",
            target.name(),
        );
    }
    out
}

/// The floor's throughput in `round`, if it was measured and answered anything.
fn floor_of_round(measurements: &[Measurement], round: usize) -> Option<f64> {
    measurements
        .iter()
        .find(|m| m.round == round && m.target == Target::Floor)
        .map(|m| m.report.requests_per_second())
        .filter(|floor| *floor > 0.0)
}

/// The median (the mean of the middle two for an even count); 0 for none.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadReport;

    fn measured(round: usize, target: Target, requests: u64) -> Measurement {
        Measurement {
            round,
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
    fn ratios_are_relative_to_the_floor_of_the_same_round() {
        let text = table(
            "conditions",
            &[
                measured(0, Target::Floor, 40_000),
                measured(0, Target::Outpost, 30_000),
                measured(1, Target::Floor, 20_000),
                measured(1, Target::Outpost, 16_000),
                measured(2, Target::Floor, 40_000),
                measured(2, Target::Outpost, 20_000),
            ],
        );
        assert!(text.contains("1.00×"), "{text}");
        // per-round ratios 0.75, 0.80, 0.50: median 0.75, spread 0.50–0.80
        assert!(text.contains("0.75×"), "{text}");
        assert!(text.contains("0.50–0.80"), "{text}");
        assert!(text.contains("0.500"), "{text}");
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0].into_iter()), 2.5);
        assert_eq!(median(std::iter::empty()), 0.0);
    }
}
