//! The `rayon` scheduler: exactly upstream tokenizers' batch shape,
//! `batch.into_par_iter().map(encode).collect::<Result<Vec<_>, _>>()`, on the
//! global Rayon pool. Nothing here is tuned; it is the baseline.

use crate::encoder::{EncodeError, Encoder, Encoding, Item};
use rayon::prelude::*;

/// Configures the global pool with `threads` workers (once per process), named
/// `rayon-worker-N` (profiles group them by that name).
pub fn init_global_pool(threads: usize) -> Result<(), String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("rayon-worker-{i}"))
        .build_global()
        .map_err(|e| format!("cannot start the Rayon thread pool with {threads} threads: {e}; try fewer --threads"))
}

/// Encodes one batch on the current Rayon pool (the global one when called
/// from outside any pool, as the binary does).
pub fn encode_batch(enc: &mut Encoder, items: &[Item<'_>]) -> Result<Vec<Encoding>, EncodeError> {
    // `&mut` guarantees no other batch uses this encoder meanwhile, so every
    // closure below runs on a worker of one and the same pool.
    let enc = &*enc;
    items
        .into_par_iter()
        .map(|item| {
            let slot = rayon::current_thread_index().filter(|&i| i < enc.slots.len());
            // SAFETY: thread indices are unique within a pool, and a Rayon
            // worker runs one job at a time; `encode` never calls back into
            // Rayon, so no other job can start on this thread (and reach slot
            // `i`) while this closure holds it. The reference does not outlive
            // this call. A thread outside the pool (index `None`) or beyond
            // the slots encodes uncached instead of sharing a slot.
            let slot = slot.map(|i| unsafe { enc.slots.get(i) });
            enc.encode(slot, item)
        })
        .collect::<Result<Vec<_>, _>>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::tests::{items_of, lines_with_bad_utf8, sample_lines, sequential, tiny_encoder};

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

    #[test]
    fn ordered_output_for_every_thread_count() {
        let lines = sample_lines();
        let items = items_of(&lines);
        let want = sequential(&items);
        for threads in 1..=16 {
            let mut enc = tiny_encoder(threads);
            let p = pool(threads);
            for _ in 0..2 {
                assert_eq!(p.install(|| encode_batch(&mut enc, &items)).unwrap(), want);
            }
            assert_eq!(p.install(|| encode_batch(&mut enc, &items[..3])).unwrap(), want[..3]);
            // Every worker that ran something filled its own slot's cache.
            assert!(enc.slots.cached_words().iter().sum::<usize>() > 0);
        }
    }

    #[test]
    fn invalid_utf8_is_returned() {
        let lines = lines_with_bad_utf8();
        let items = items_of(&lines);
        for threads in [1, 2, 5] {
            let mut enc = tiny_encoder(threads);
            let err = pool(threads).install(|| encode_batch(&mut enc, &items)).unwrap_err();
            assert_eq!(err, EncodeError { line: 121, byte: 3 });
        }
    }

    #[test]
    fn outside_any_pool_is_uncached_but_correct() {
        // Calling from a non-pool thread runs on the global pool; whatever its
        // size, indices beyond the slots fall back to uncached encoding.
        let mut enc = tiny_encoder(1);
        let items = [Item { line: 1, bytes: b"the the" }];
        let got = encode_batch(&mut enc, &items).unwrap();
        assert_eq!(got[0], tiny_encoder(1).encode_str("the the"));
    }
}
