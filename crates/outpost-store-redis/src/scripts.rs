//! The Lua scripts that make each multi-key step atomic, run by `EVALSHA` (loaded again by
//! the client when Redis answers `NOSCRIPT`, e.g. after a restart). Each is `lua/prelude.lua`
//! (the shared helpers) followed by its own body in `lua/`.

use redis::Script;

macro_rules! scripts {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Every script, hashed once.
        pub(crate) struct Scripts {
            $($(#[$doc])* pub(crate) $name: Script,)*
        }

        impl Scripts {
            pub(crate) fn new() -> Self {
                Self {
                    $($name: Script::new(concat!(
                        include_str!("lua/prelude.lua"),
                        "\n",
                        include_str!(concat!("lua/", stringify!($name), ".lua"))
                    )),)*
                }
            }
        }
    };
}

scripts!(
    client_delete,
    client_insert,
    clients_purge_unused,
    code_insert,
    code_redeem,
    codes_expire_of_user,
    codes_purge,
    consent_remember,
    document_put,
    event_append,
    events_purge,
    expired_purge,
    grant_create,
    grant_revoke,
    grants_purge,
    grants_revoke_of_user,
    pending_insert,
    pending_remove_signed_in_of_user,
    pending_sign_in,
    pending_take,
    record_replace,
    request_state_key_add,
    request_state_keys_purge,
    session_create_counted,
    session_data_replace,
    session_delete,
    session_touch,
    session_write,
    sessions_purge,
    signing_key_insert_if_no_active,
    signing_key_retire,
    throttle_release,
    throttle_reserve,
    throttle_reserve_many,
    throttles_purge,
    token_insert,
    token_rotate,
    user_create,
    user_delete,
    user_replace,
);
