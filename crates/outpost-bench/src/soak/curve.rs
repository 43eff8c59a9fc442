//! The memory curve of a soak: one row per sample (time, resident memory, requests and errors
//! so far), printed as a table or written as CSV, and the verdict on whether memory stayed
//! flat after the warm-up.
//!
//! Flat means: the highest sample of the last third of the run is within `tolerance` of the
//! first sample after the warm-up (the baseline). Caches fill and allocators settle during the
//! warm-up; a leak keeps growing after it, so the last third ends above the baseline by more
//! than noise.

use std::fmt::Write as _;

use super::traffic::{Counters, Kind};

/// One sample.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds since the traffic started.
    pub seconds: u64,
    /// The server's `VmRSS`, KiB.
    pub rss_kib: u64,
    /// Successes so far, per [`Kind::ALL`].
    pub ok: [u64; 5],
    /// Errors so far, per [`Kind::ALL`].
    pub errors: [u64; 5],
}

impl Sample {
    /// A sample at `seconds` with `rss_kib` and what `counters` say now.
    pub fn take(seconds: u64, rss_kib: u64, counters: &Counters) -> Self {
        Self {
            seconds,
            rss_kib,
            ok: Kind::ALL.map(|kind| counters.ok(kind)),
            errors: Kind::ALL.map(|kind| counters.errors(kind)),
        }
    }

    /// Errors of every kind.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// The header line of the table.
pub fn table_header() -> String {
    let mut line = format!("{:>7} {:>9}", "time_s", "rss_mib");
    for kind in Kind::ALL {
        let _ = write!(line, " {:>10}", kind.name());
    }
    line.push_str("     errors");
    line
}

/// One table line.
pub fn table_row(sample: &Sample) -> String {
    let mut line = format!(
        "{:>7} {:>9.1}",
        sample.seconds,
        sample.rss_kib as f64 / 1024.0
    );
    for ok in sample.ok {
        let _ = write!(line, " {ok:>10}");
    }
    let _ = write!(line, " {:>10}", sample.total_errors());
    line
}

/// The curve as CSV: `seconds,rss_kib`, then `KIND_ok,KIND_errors` per kind.
pub fn csv(samples: &[Sample]) -> String {
    let mut out = String::from("seconds,rss_kib");
    for kind in Kind::ALL {
        let _ = write!(out, ",{0}_ok,{0}_errors", kind.name());
    }
    out.push('\n');
    for sample in samples {
        let _ = write!(out, "{},{}", sample.seconds, sample.rss_kib);
        for (ok, errors) in sample.ok.iter().zip(sample.errors) {
            let _ = write!(out, ",{ok},{errors}");
        }
        out.push('\n');
    }
    out
}

/// Whether memory stayed flat after the warm-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Flatness {
    /// The first sample at or after the warm-up: (seconds, KiB).
    pub baseline: (u64, u64),
    /// The highest sample of the last third: (seconds, KiB).
    pub last_third_max: (u64, u64),
    /// Growth of the one over the other, percent.
    pub growth_percent: f64,
    /// Whether the growth is within the tolerance.
    pub flat: bool,
}

/// Judges `samples` (in time order) with a warm-up of `warmup_seconds` and a tolerance of
/// `tolerance_percent`; `None` when no sample follows the warm-up.
pub fn flatness(
    samples: &[Sample],
    warmup_seconds: u64,
    tolerance_percent: f64,
) -> Option<Flatness> {
    let baseline = samples.iter().find(|s| s.seconds >= warmup_seconds)?;
    let end = samples.last()?.seconds;
    let last_third_from = end - (end - baseline.seconds) / 3;
    let peak = samples
        .iter()
        .filter(|s| s.seconds >= last_third_from)
        .max_by_key(|s| s.rss_kib)?;
    let growth_percent =
        (peak.rss_kib as f64 - baseline.rss_kib as f64) * 100.0 / baseline.rss_kib.max(1) as f64;
    Some(Flatness {
        baseline: (baseline.seconds, baseline.rss_kib),
        last_third_max: (peak.seconds, peak.rss_kib),
        growth_percent,
        flat: growth_percent <= tolerance_percent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(rss: &[u64]) -> Vec<Sample> {
        rss.iter()
            .enumerate()
            .map(|(i, &rss_kib)| Sample {
                seconds: i as u64 * 10,
                rss_kib,
                ok: [0; 5],
                errors: [0; 5],
            })
            .collect()
    }

    #[test]
    fn growth_during_the_warm_up_does_not_count() {
        let samples = curve(&[10_000, 30_000, 40_000, 40_500, 40_200, 41_000, 40_800]);
        let verdict = flatness(&samples, 20, 10.0).unwrap();
        assert_eq!(verdict.baseline, (20, 40_000));
        assert_eq!(verdict.last_third_max, (50, 41_000));
        assert!(verdict.flat, "{verdict:?}");
    }

    #[test]
    fn steady_growth_after_the_warm_up_is_not_flat() {
        let samples = curve(&[40_000, 44_000, 48_000, 52_000, 56_000, 60_000, 64_000]);
        let verdict = flatness(&samples, 10, 10.0).unwrap();
        assert_eq!(verdict.baseline, (10, 44_000));
        assert!(!verdict.flat);
        assert!(verdict.growth_percent > 40.0, "{verdict:?}");
        assert!(
            flatness(&samples, 1000, 10.0).is_none(),
            "no sample after the warm-up"
        );
    }

    #[test]
    fn csv_has_a_column_per_kind() {
        let text = csv(&curve(&[1, 2]));
        let header = text.lines().next().unwrap();
        assert_eq!(header.split(',').count(), 2 + 2 * Kind::ALL.len());
        assert_eq!(text.lines().count(), 3);
    }
}
