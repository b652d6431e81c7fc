//! A small fixed thread pool for offloading slow work from hooks (a hook
//! that blocks stalls its whole worker). Pair it with a [`Scheduler`](crate::Scheduler)
//! to bring the result back to the stream's worker.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Fixed-size pool; dropping it lets queued jobs finish, then joins.
pub struct ThreadPool {
    sender: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl ThreadPool {
    /// Start `size` (at least 1) threads named `<name>-<i>`.
    pub fn new(name: &str, size: usize) -> std::io::Result<ThreadPool> {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let mut threads = Vec::new();
        for i in 0..size.max(1) {
            let rx = Arc::clone(&receiver);
            threads.push(std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || run(&rx))?);
        }
        Ok(ThreadPool { sender: Some(sender), threads })
    }

    /// Queue a job. Returns false only if every pool thread has died.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) -> bool {
        match &self.sender {
            Some(s) => s.send(Box::new(job)).is_ok(),
            None => false,
        }
    }

    /// Number of threads.
    pub fn size(&self) -> usize {
        self.threads.len()
    }
}

fn run(rx: &Mutex<Receiver<Job>>) {
    loop {
        // Hold the lock only to take one job.
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        match job {
            // A panicking job must not shrink the pool.
            Ok(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            Err(_) => return, // sender dropped: shut down
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.sender.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_every_job_on_pool_threads_and_joins_on_drop() {
        let done = Arc::new(AtomicUsize::new(0));
        let names = Arc::new(Mutex::new(Vec::new()));
        let pool = ThreadPool::new("t", 3).unwrap();
        assert_eq!(pool.size(), 3);
        for _ in 0..100 {
            let (done, names) = (Arc::clone(&done), Arc::clone(&names));
            assert!(pool.execute(move || {
                names.lock().unwrap().push(std::thread::current().name().unwrap().to_string());
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
        drop(pool); // waits for the queue to drain
        assert_eq!(done.load(Ordering::SeqCst), 100);
        assert!(names.lock().unwrap().iter().all(|n| ["t-0", "t-1", "t-2"].contains(&n.as_str())));
    }

    #[test]
    fn a_panicking_job_does_not_kill_its_thread() {
        let pool = ThreadPool::new("p", 1).unwrap();
        pool.execute(|| panic!("job failed"));
        let (tx, rx) = channel();
        pool.execute(move || tx.send(7).unwrap());
        assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(10)), Ok(7));
    }
}
