//! [`FailureStreak`]: one log line per store outage for a task that reads or purges the store
//! every minute (key reloads, purges), not one per tick. Shared by the authorization server's
//! and the MCP side's maintenance.

use std::fmt::Display;

/// Logs a recurring task's failures once per streak: the first as a warning, those that
/// follow at debug level, and the first success after them at info level.
#[derive(Debug)]
pub struct FailureStreak {
    task: &'static str,
    failing: bool,
}

impl FailureStreak {
    /// A streak for `task` (named in the log lines), not failing.
    pub fn new(task: &'static str) -> Self {
        Self {
            task,
            failing: false,
        }
    }

    /// The task failed with `error`.
    pub fn failed(&mut self, error: &dyn Display) {
        if self.failing {
            tracing::debug!(%error, task = self.task, "still failing");
        } else {
            tracing::warn!(
                %error,
                task = self.task,
                "failing; keeping what was loaded last and retrying at every tick (logged once \
                 until it recovers)"
            );
        }
        self.failing = true;
    }

    /// The task succeeded.
    pub fn succeeded(&mut self) {
        if self.failing {
            tracing::info!(task = self.task, "recovered");
        }
        self.failing = false;
    }
}
