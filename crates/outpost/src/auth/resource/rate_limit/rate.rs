//! [`Rate`]: a request rate as an operator writes it (`50/s`, `3000/m`, `100000/h`).

use std::{fmt, num::NonZeroU32, str::FromStr, time::Duration};

use crate::store::Budget;

/// At most so many requests per second, minute or hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    requests: NonZeroU32,
    per: Per,
}

/// The window of a [`Rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Per {
    Second,
    Minute,
    Hour,
}

impl Per {
    fn seconds(self) -> u32 {
        match self {
            Per::Second => 1,
            Per::Minute => 60,
            Per::Hour => 3600,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Per::Second => "s",
            Per::Minute => "m",
            Per::Hour => "h",
        }
    }
}

/// Why a text is not a [`Rate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// No `/` between the count and the unit.
    #[error("expected REQUESTS/UNIT, e.g. 50/s, 3000/m or 100000/h")]
    Shape,
    /// The count is not a whole number above zero.
    #[error("the number of requests must be a whole number above 0")]
    Requests,
    /// The unit is none of `s`, `m`, `h`.
    #[error("unknown unit {0:?}: s, m or h")]
    Unit(String),
}

impl Rate {
    /// `requests` per second.
    pub const fn per_second(requests: NonZeroU32) -> Self {
        Self {
            requests,
            per: Per::Second,
        }
    }

    /// `requests` per minute.
    pub const fn per_minute(requests: NonZeroU32) -> Self {
        Self {
            requests,
            per: Per::Minute,
        }
    }

    /// `requests` per hour.
    pub const fn per_hour(requests: NonZeroU32) -> Self {
        Self {
            requests,
            per: Per::Hour,
        }
    }

    /// How many requests the window allows.
    pub fn requests(&self) -> u32 {
        self.requests.get()
    }

    /// The window.
    pub fn window(&self) -> Duration {
        Duration::from_secs(u64::from(self.per.seconds()))
    }

    /// The store's budget for this rate.
    pub(crate) fn budget(&self) -> Budget {
        Budget::new(self.requests(), self.window())
    }

    /// The most permits one instance takes from the store at once: a tenth of the rate per
    /// second, at least one. A local allowance lives one clock second, so this bounds what an
    /// instance may hold back from the others.
    pub(crate) fn largest_batch(&self) -> u32 {
        (self.requests() / self.per.seconds() / 10).max(1)
    }
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(text: &str) -> Result<Self, RateError> {
        let (requests, unit) = text.trim().split_once('/').ok_or(RateError::Shape)?;
        let requests = requests
            .trim()
            .parse::<NonZeroU32>()
            .map_err(|_| RateError::Requests)?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Per::Second,
            "m" | "min" | "minute" => Per::Minute,
            "h" | "hour" => Per::Hour,
            other => return Err(RateError::Unit(other.to_owned())),
        };
        Ok(Self { requests, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.requests, self.per.symbol())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_show_as_written() {
        for (text, shown, window, batch) in [
            ("50/s", "50/s", 1, 5),
            (" 3000 / min ", "3000/m", 60, 5),
            ("100000/h", "100000/h", 3600, 2),
            ("3/s", "3/s", 1, 1),
        ] {
            let rate: Rate = text.parse().expect(text);
            assert_eq!(rate.to_string(), shown);
            assert_eq!(rate.window(), Duration::from_secs(window));
            assert_eq!(rate.largest_batch(), batch, "{text}");
        }
    }

    #[test]
    fn bad_rates_say_what_is_wrong() {
        assert_eq!("50".parse::<Rate>(), Err(RateError::Shape));
        assert_eq!("0/s".parse::<Rate>(), Err(RateError::Requests));
        assert_eq!("-1/s".parse::<Rate>(), Err(RateError::Requests));
        assert_eq!("5/d".parse::<Rate>(), Err(RateError::Unit("d".into())));
    }
}
