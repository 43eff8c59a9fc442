//! The in-process side of the event bus: who waits for which stream. A backend wakes the
//! listeners of a stream when an event is appended to it — at once for memory and SQLite,
//! on a pub/sub message for Redis — and every listener when it may have missed a wake-up
//! (a lost subscription).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, Weak},
};

use tokio::sync::Notify;

/// Listeners by stream. Cloning shares the registry.
#[derive(Debug, Clone, Default)]
pub struct EventListeners {
    streams: Arc<Mutex<HashMap<String, Vec<Weak<Notify>>>>>,
}

impl EventListeners {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A listener for `stream`, woken by [`wake`](Self::wake) until dropped.
    pub fn listen(&self, stream: &str) -> EventListener {
        let notify = Arc::new(Notify::new());
        self.lock()
            .entry(stream.to_owned())
            .or_default()
            .push(Arc::downgrade(&notify));
        EventListener {
            notify,
            stream: stream.to_owned(),
            listeners: self.clone(),
        }
    }

    /// Wakes every listener of `stream` (a wake-up is kept for a listener not waiting yet).
    pub fn wake(&self, stream: &str) {
        if let Some(listeners) = self.lock().get(stream) {
            for notify in listeners.iter().filter_map(Weak::upgrade) {
                notify.notify_one();
            }
        }
    }

    /// Wakes every listener of every stream.
    pub fn wake_all(&self) {
        for notify in self.lock().values().flatten().filter_map(Weak::upgrade) {
            notify.notify_one();
        }
    }

    /// How many streams have a listener.
    pub fn streams(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Weak<Notify>>>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Waits for events appended to one stream ([`EventListeners::listen`]).
#[derive(Debug)]
pub struct EventListener {
    notify: Arc<Notify>,
    stream: String,
    listeners: EventListeners,
}

impl EventListener {
    /// Returns once an event was appended to the stream since the last call (or since the
    /// listener was made), or on a wake-up of every listener.
    pub async fn appended(&self) {
        self.notify.notified().await;
    }
}

impl Drop for EventListener {
    fn drop(&mut self) {
        let mut streams = self.listeners.lock();
        if let Some(listeners) = streams.get_mut(&self.stream) {
            let own = Arc::as_ptr(&self.notify);
            listeners.retain(|notify| notify.strong_count() > 0 && notify.as_ptr() != own);
            if listeners.is_empty() {
                streams.remove(&self.stream);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_up_before_waiting_is_kept_and_dropped_listeners_leave() {
        let listeners = EventListeners::new();
        let listener = listeners.listen("a");
        let other = listeners.listen("b");
        listeners.wake("a");
        tokio::time::timeout(std::time::Duration::from_secs(1), listener.appended())
            .await
            .expect("the wake-up sent before waiting is kept");
        drop(listener);
        assert_eq!(listeners.streams(), 1);
        drop(other);
        assert_eq!(listeners.streams(), 0);
    }
}
