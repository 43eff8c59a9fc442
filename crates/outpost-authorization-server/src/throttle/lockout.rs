//! The failed-login policy of [`throttle`](super) (its module docs give the reasoning): which
//! budgets a login attempt reserves, before its password is verified — a trusted device's
//! own, else the account's and the source's.

use super::{
    Attempts, ClientIp, LOGIN_CLEAN_SOURCE_ATTEMPTS, LOGIN_FAILURES_PER_ACCOUNT,
    LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE, LOGIN_FAILURES_PER_DEVICE, LOGIN_FAILURES_PER_SOURCE,
    ThrottleError,
};
use crate::device::TrustedDevice;
use outpost_store::{ThrottleStore, Username};

/// The account name attempts with a username no account can have are counted under (not a
/// valid username, so no account's budget is spent by them), keeping their text out of keys.
const INVALID_USERNAME: &str = "(invalid)";

/// Reserves a login attempt for `username` from `source` at `now`, made by `device` when the
/// browser holds a device token for that account: the attempts to give back if the password
/// is right, or the refusal (every attempt reserved so far given back).
pub async fn admit(
    store: &dyn ThrottleStore,
    username: Option<&Username>,
    source: ClientIp,
    device: Option<&TrustedDevice>,
    now: i64,
) -> Result<Attempts, ThrottleError> {
    if let Some(device) = device {
        let mut attempts = Attempts::default();
        let key = format!("login:device:{}", device.id());
        match attempts
            .reserve(store, &key, LOGIN_FAILURES_PER_DEVICE, now)
            .await
        {
            Ok(_) => return Ok(attempts),
            // A device past its budget is any other browser.
            Err(ThrottleError::Refused { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    let account = username.map_or_else(|| INVALID_USERNAME.to_owned(), Username::key);
    let mut attempts = Attempts::default();
    match reserve(&mut attempts, store, &account, &source.key(), now).await {
        Ok(()) => Ok(attempts),
        Err(refusal) => {
            attempts.give_back(store).await;
            Err(refusal)
        }
    }
}

async fn reserve(
    attempts: &mut Attempts,
    store: &dyn ThrottleStore,
    account: &str,
    source: &str,
    now: i64,
) -> Result<(), ThrottleError> {
    let per_source = format!("login:source:{source}");
    attempts
        .reserve(store, &per_source, LOGIN_FAILURES_PER_SOURCE, now)
        .await?;
    let pair = format!("login:source-account:{source}/{account}");
    let pair = attempts
        .reserve(store, &pair, LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE, now)
        .await?;
    // No other attempt of this source against this account in the window, failed or in flight.
    let clean = pair.remaining + 1 == LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE.attempts;
    let per_account = format!("login:account:{account}");
    let account_retry = match attempts
        .reserve(store, &per_account, LOGIN_FAILURES_PER_ACCOUNT, now)
        .await
    {
        Ok(_) => return Ok(()),
        Err(ThrottleError::Refused { retry_after }) if clean => retry_after,
        Err(other) => return Err(other),
    };
    let lane = format!("login:clean-source:{account}");
    match attempts
        .reserve(store, &lane, LOGIN_CLEAN_SOURCE_ATTEMPTS, now)
        .await
    {
        Err(ThrottleError::Refused { retry_after }) => Err(ThrottleError::Refused {
            retry_after: retry_after.min(account_retry),
        }),
        other => other.map(drop),
    }
}
