//! What `open` checks before handing out the store: that Redis will not evict Outpost's keys
//! and (a warning) that it persists them, and that the key layout under the prefix is one this
//! build understands.

use redis::{ErrorKind, RedisError, ServerErrorKind};

use outpost_store::StoreError;

use crate::RedisStore;

/// The key layout this build writes and the newest it reads, kept at `{prefix}layout`.
pub const LAYOUT_VERSION: u32 = 1;

/// Records the layout version under the prefix if none is, and refuses a newer one.
pub(crate) async fn check_layout(store: &RedisStore) -> Result<(), StoreError> {
    let key = store.key("layout");
    let stored: Option<String> = store
        .conn
        .run("checking the store layout", |mut c| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(LAYOUT_VERSION)
                .arg("NX")
                .exec_async(&mut c)
                .await?;
            redis::cmd("GET").arg(&key).query_async(&mut c).await
        })
        .await?;
    let stored = stored.unwrap_or_default();
    let version: u32 = stored.parse().map_err(|_| {
        StoreError::Migration(format!(
            "{}layout holds {stored:?}, not a layout version",
            store.prefix
        ))
    })?;
    if version > LAYOUT_VERSION {
        return Err(StoreError::Migration(format!(
            "the Redis store under prefix {:?} has layout version {version}, newer than this \
             build reads ({LAYOUT_VERSION}): run the newer Outpost, or use another prefix",
            store.prefix
        )));
    }
    Ok(())
}

/// Refuses (or, with `allow_eviction`, warns about) a Redis that may evict keys, and warns
/// about one that does not persist. Managed Redis often disables `CONFIG`: then it warns that
/// the checks could not run.
pub(crate) async fn check_server(
    store: &RedisStore,
    allow_eviction: bool,
) -> Result<(), StoreError> {
    let settings = store
        .conn
        .run("reading the Redis configuration", |mut c| async move {
            let policy = config_get(&mut c, "maxmemory-policy").await?;
            let save = config_get(&mut c, "save").await?;
            let appendonly = config_get(&mut c, "appendonly").await?;
            Ok((policy, save, appendonly))
        })
        .await;
    let (policy, save, appendonly) = match settings {
        Ok(settings) => settings,
        Err(StoreError::Backend(reason)) => {
            tracing::warn!(
                %reason,
                "could not read the Redis configuration (CONFIG GET is not permitted?): check \
                 yourself that maxmemory-policy is noeviction and that persistence (save or \
                 appendonly) is on"
            );
            return Ok(());
        }
        Err(other) => return Err(other),
    };
    if policy != "noeviction" {
        let problem = format!(
            "Redis maxmemory-policy is {policy:?}: under memory pressure Redis would evict \
             Outpost's keys (grants, signing keys, users) silently. Set maxmemory-policy \
             noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf)"
        );
        if !allow_eviction {
            return Err(StoreError::Backend(format!(
                "{problem}, or allow eviction explicitly (--store-allow-eviction)"
            )));
        }
        tracing::warn!("{problem}; starting anyway because eviction is allowed");
    }
    if save.trim().is_empty() && appendonly == "no" {
        tracing::warn!(
            "Redis does not persist its data (save is empty and appendonly is no): a Redis \
             restart loses every user, client, grant and signing key. Turn on appendonly yes \
             or an RDB save schedule"
        );
    }
    Ok(())
}

/// One setting's value; a server that refuses `CONFIG` answers an error.
async fn config_get(
    connection: &mut redis::aio::ConnectionManager,
    name: &str,
) -> Result<String, RedisError> {
    let pairs: std::collections::HashMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query_async(connection)
        .await?;
    pairs.get(name).cloned().ok_or_else(|| {
        RedisError::from((
            ErrorKind::Server(ServerErrorKind::ResponseError),
            "CONFIG GET answered nothing for",
            name.to_owned(),
        ))
    })
}
