//! The store behaviour suite every backend runs, on Redis: one server for the whole binary,
//! a fresh key prefix per check.

mod common;

use std::sync::OnceLock;

use common::RedisServer;
use outpost_store_redis::RedisOptions;

fn server() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(|| RedisServer::start(&[]))
}

outpost_store::store_behaviour_suite!(|_dir| async {
    let mut options = RedisOptions::new(server().url());
    options.prefix = format!("suite-{}:", uuid::Uuid::new_v4());
    outpost_store_redis::open(options).await.expect("open")
});
