//! [`StoreMetrics`]: a [`StoreLayer`] that records how long each operation of the store
//! under it takes, in the `durin_store_operation_seconds` histogram.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use crate::StoreError;
use crate::layer::{Layered, Operation, StoreLayer};

/// A store whose token operations are timed: [`Layered`] with [`StoreMetrics`].
pub type MeteredTokenStore<S> = Layered<S, StoreMetrics>;

/// Records the latency of each token-store operation in the histogram
/// `durin_store_operation_seconds{operation, backend}`. Failed operations are timed too;
/// client-store operations are not (the client-policy cache answers most of them).
///
/// Put it *under* the cache: a cache hit then costs no timing at all, and the histogram
/// shows what the store itself costs. [`crate::Node`] does this for every backend.
///
/// The histogram handles are registered once, at construction, with the metrics
/// recorder installed then; install the recorder first.
#[derive(Clone)]
pub struct StoreMetrics {
    histograms: Arc<[metrics::Histogram; Operation::TOKEN_STORE.len()]>,
}

impl StoreMetrics {
    /// Registers one histogram per operation, labelled with `backend` (a fixed, bounded
    /// name: `postgres`, `sqlite`, `redis`, `memory`, or a third-party backend's).
    pub fn new(backend: &'static str) -> Self {
        let histograms = Operation::TOKEN_STORE.map(|operation| {
            metrics::histogram!(
                "durin_store_operation_seconds",
                "operation" => operation.name(),
                "backend" => backend
            )
        });
        StoreMetrics {
            histograms: Arc::new(histograms),
        }
    }

    /// `inner` with its operations timed.
    pub fn wrap<S>(inner: S, backend: &'static str) -> MeteredTokenStore<S> {
        Layered::new(inner, StoreMetrics::new(backend))
    }

    fn histogram(&self, op: Operation) -> Option<&metrics::Histogram> {
        let index = Operation::TOKEN_STORE.iter().position(|o| *o == op)?;
        self.histograms.get(index)
    }
}

impl std::fmt::Debug for StoreMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreMetrics").finish_non_exhaustive()
    }
}

impl StoreLayer for StoreMetrics {
    async fn around<'a, T, F>(&'a self, op: Operation, call: F) -> Result<T, StoreError>
    where
        T: Send + 'a,
        F: Future<Output = Result<T, StoreError>> + Send + 'a,
    {
        {
            let started = Instant::now();
            let result = call.await;
            if let Some(histogram) = self.histogram(op) {
                histogram.record(started.elapsed().as_secs_f64());
            }
            result
        }
    }
}
