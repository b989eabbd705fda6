//! Handing work from NRI handlers to a background worker.
//!
//! The runtime gives each handler a short deadline (2 s in containerd) under
//! a lock that stalls all of its pod and container operations, and drops a
//! plugin that misses it. A handler should therefore record the event and
//! return; a [`WorkQueue`] carries the event to a worker that does the slow
//! part (file system work, retries) off the RPC path. Submitting never
//! waits: a full queue is reported at once, so the handler can still answer
//! in time (and, for example, count the loss and rely on the next
//! synchronization).
//!
//! ```
//! use nri::worker::WorkQueue;
//!
//! let (queue, worker) = WorkQueue::spawn_thread("resctrl-worker", 128, |pid: u32| {
//!     // Blocking work is fine here: this is a dedicated thread.
//!     let _ = pid;
//! })
//! .expect("spawn worker thread");
//! queue.submit(42).expect("queue has room");
//! drop(queue); // the worker ends once every queue handle is gone
//! worker.join().expect("worker finished");
//! ```

use std::fmt;
use std::future::Future;

use thiserror::Error;
use tokio::sync::mpsc;

/// Why an item was not queued; the item is handed back.
#[derive(Error)]
pub enum SubmitError<T> {
    /// The queue is at capacity.
    #[error("work queue is full")]
    Full(T),
    /// The worker has stopped.
    #[error("work queue worker has stopped")]
    Closed(T),
}

impl<T> SubmitError<T> {
    /// The item that was not queued.
    pub fn into_inner(self) -> T {
        match self {
            SubmitError::Full(item) | SubmitError::Closed(item) => item,
        }
    }
}

impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Full(_) => f.write_str("Full(..)"),
            SubmitError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

/// The sending side of a bounded queue to one worker. Cheap to clone; the
/// worker ends after the last clone is dropped and the queue is drained.
#[derive(Debug)]
pub struct WorkQueue<T> {
    tx: mpsc::Sender<T>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        WorkQueue {
            tx: self.tx.clone(),
        }
    }
}

impl<T: Send + 'static> WorkQueue<T> {
    /// A queue of `capacity` items (at least 1) processed one at a time by
    /// `work` on a Tokio task.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn_task<F, Fut>(capacity: usize, mut work: F) -> (Self, tokio::task::JoinHandle<()>)
    where
        F: FnMut(T) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (tx, mut rx) = mpsc::channel(capacity.max(1));
        let handle = tokio::spawn(async move {
            while let Some(item) = rx.recv().await {
                work(item).await;
            }
        });
        (WorkQueue { tx }, handle)
    }

    /// A queue of `capacity` items (at least 1) processed one at a time by
    /// `work` on a dedicated OS thread named `name`, where blocking is fine.
    ///
    /// # Errors
    ///
    /// The thread could not be started.
    pub fn spawn_thread<F>(
        name: &str,
        capacity: usize,
        mut work: F,
    ) -> std::io::Result<(Self, std::thread::JoinHandle<()>)>
    where
        F: FnMut(T) + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel(capacity.max(1));
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Some(item) = rx.blocking_recv() {
                    work(item);
                }
            })?;
        Ok((WorkQueue { tx }, handle))
    }

    /// Queues `item` without waiting.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Full`] or [`SubmitError::Closed`], with the item.
    pub fn submit(&self, item: T) -> Result<(), SubmitError<T>> {
        self.tx.try_send(item).map_err(|err| match err {
            mpsc::error::TrySendError::Full(item) => SubmitError::Full(item),
            mpsc::error::TrySendError::Closed(item) => SubmitError::Closed(item),
        })
    }

    /// Free places in the queue right now.
    pub fn remaining_capacity(&self) -> usize {
        self.tx.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn full_queue_reports_at_once_and_items_are_processed_in_order() {
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let mut gate = Some((release_rx, started_tx));
        let (queue, worker) = WorkQueue::spawn_task(2, move |item: u32| {
            let gate = gate.take();
            let done_tx = done_tx.clone();
            async move {
                if let Some((release, started)) = gate {
                    let _ = started.send(());
                    let _ = release.await;
                }
                let _ = done_tx.send(item);
            }
        });
        queue.submit(1).unwrap();
        // The worker holds item 1 and waits; two more fill the queue.
        tokio::time::timeout(Duration::from_secs(5), started_rx)
            .await
            .unwrap()
            .unwrap();
        queue.submit(2).unwrap();
        queue.submit(3).unwrap();
        match queue.submit(4) {
            Err(SubmitError::Full(4)) => {}
            other => panic!("expected Full(4), got {other:?}"),
        }
        release_tx.send(()).unwrap();
        drop(queue);
        tokio::time::timeout(Duration::from_secs(5), worker)
            .await
            .unwrap()
            .unwrap();
        let mut seen = Vec::new();
        while let Ok(item) = done_rx.try_recv() {
            seen.push(item);
        }
        assert_eq!(seen, [1, 2, 3]);
    }

    #[test]
    fn thread_worker_stops_when_queues_are_dropped() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (queue, worker) = WorkQueue::spawn_thread("test-worker", 4, move |item: u8| {
            tx.send(item).unwrap();
        })
        .unwrap();
        let second = queue.clone();
        queue.submit(1).unwrap();
        second.submit(2).unwrap();
        drop((queue, second));
        worker.join().unwrap();
        assert_eq!(rx.iter().collect::<Vec<_>>(), [1, 2]);
    }
}
