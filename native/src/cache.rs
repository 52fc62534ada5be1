//! Per-worker word cache and scratch buffers.
//!
//! Upstream tokenizers keep one word cache behind a lock. Here each worker
//! *slot* owns its own cache, so encoding takes no lock and no atomic: the
//! rayon and window variants then differ only in their scheduler, which is
//! what lseprof wants to measure.
//!
//! Slots are indexed, not thread-local: the window scheduler's worker `i` uses
//! slot `i`, the rayon scheduler uses `rayon::current_thread_index()`.

use crate::bpe::Scratch;
use rustc_hash::FxHasher;
use std::cell::UnsafeCell;
use std::hash::Hasher;

/// At most this many words per slot; once full, nothing is evicted and new
/// words are simply not cached (upstream's behaviour).
pub const CACHE_CAPACITY: usize = 10_000;
/// Only words shorter than this many bytes are cached (upstream's limit).
pub const CACHE_MAX_WORD_LEN: usize = 256;

/// Open-addressing table size: a power of two with load <= 10000/16384.
const TABLE_SIZE: usize = 16_384;
const TABLE_BITS: u32 = TABLE_SIZE.trailing_zeros();

/// One table entry, 16 bytes. `key_len == 0` marks a free entry (words are
/// never empty). Keys and values live in the cache's arenas, so a lookup
/// touches the table and two small contiguous arrays instead of chasing a
/// heap pointer per key and per value.
#[derive(Clone, Copy, Default)]
struct Entry {
    /// Hash bits not used for the index, to skip most key comparisons.
    tag: u32,
    key_off: u32,
    ids_off: u32,
    key_len: u8,
    ids_len: u8,
}

/// Word bytes -> (token ids, token byte lengths), at most `CACHE_CAPACITY`
/// words of fewer than `CACHE_MAX_WORD_LEN` bytes. Lengths are stored so
/// offsets of a cached word need no vocabulary lookup. The table is
/// allocated on first insert, so an unused cache costs nothing.
#[derive(Default)]
pub struct WordCache {
    table: Vec<Entry>,
    keys: Vec<u8>,
    ids: Vec<u32>,
    /// Byte length of each token in `ids` (tokens of a cached word are
    /// shorter than the word, so they fit in a u8).
    lens: Vec<u8>,
    count: usize,
}

/// A cache hit: ranges into the cache's `ids` and `lens` arenas.
#[derive(Clone, Copy)]
pub struct Hit {
    off: usize,
    len: usize,
}

#[inline]
pub fn word_hash(word: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(word);
    h.finish()
}

impl WordCache {
    #[inline]
    fn index(h: u64) -> usize {
        // FxHash mixes into the high bits; take the index from the top.
        (h >> (64 - TABLE_BITS)) as usize
    }

    #[inline]
    fn tag(h: u64) -> u32 {
        h as u32
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Looks `word` (with `h = word_hash(word)`) up.
    #[inline]
    pub fn get(&self, word: &[u8], h: u64) -> Option<Hit> {
        if self.table.is_empty() || word.len() >= CACHE_MAX_WORD_LEN {
            return None;
        }
        let (tag, len) = (Self::tag(h), word.len() as u8);
        let mut i = Self::index(h);
        loop {
            let e = self.table[i];
            if e.key_len == 0 {
                return None;
            }
            if e.tag == tag && e.key_len == len {
                let off = e.key_off as usize;
                if &self.keys[off..off + word.len()] == word {
                    return Some(Hit { off: e.ids_off as usize, len: usize::from(e.ids_len) });
                }
            }
            i = (i + 1) & (TABLE_SIZE - 1);
        }
    }

    #[inline]
    pub fn ids(&self, hit: Hit) -> &[u32] {
        &self.ids[hit.off..hit.off + hit.len]
    }

    #[inline]
    pub fn lens(&self, hit: Hit) -> &[u8] {
        &self.lens[hit.off..hit.off + hit.len]
    }

    /// Remembers `word` -> `ids` (token byte lengths from `token_len`) if the
    /// word is short enough and the cache has room; the caller has just
    /// missed it, so it is not present.
    pub fn insert(&mut self, word: &[u8], h: u64, ids: &[u32], token_len: impl Fn(u32) -> u32) {
        if word.is_empty() || word.len() >= CACHE_MAX_WORD_LEN || self.count >= CACHE_CAPACITY {
            return;
        }
        if self.table.is_empty() {
            self.table = vec![Entry::default(); TABLE_SIZE];
        }
        let mut i = Self::index(h);
        while self.table[i].key_len != 0 {
            i = (i + 1) & (TABLE_SIZE - 1);
        }
        self.table[i] = Entry {
            tag: Self::tag(h),
            key_off: self.keys.len() as u32,
            ids_off: self.ids.len() as u32,
            key_len: word.len() as u8,
            ids_len: ids.len() as u8,
        };
        self.keys.extend_from_slice(word);
        self.ids.extend_from_slice(ids);
        self.lens.extend(ids.iter().map(|&id| token_len(id) as u8));
        self.count += 1;
    }
}

/// What one worker owns: its word cache and its BPE scratch buffers.
#[derive(Default)]
pub struct SlotData {
    pub words: WordCache,
    pub scratch: Scratch,
}

/// One slot, aligned (and so padded) to 128 bytes: two slots never share a
/// cache line, nor an adjacent-line prefetch pair, so workers touching their
/// own slots do not false-share.
#[repr(align(128))]
pub struct Slot(UnsafeCell<SlotData>);

// SAFETY: a `Slot` is handed out only through `Slots::get`, whose contract
// (see there) is that at most one thread uses a given slot at any time. The
// data inside (`HashMap`, `Vec`) is `Send`, so moving its use between threads
// over time is fine; `Sync` is what lets `&Slots` be shared with the workers.
unsafe impl Sync for Slot {}

pub struct Slots(Box<[Slot]>);

impl Slots {
    pub fn new(count: usize) -> Slots {
        Slots((0..count).map(|_| Slot(UnsafeCell::new(SlotData::default()))).collect())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Exclusive access to slot `i`.
    ///
    /// # Safety
    /// The caller must guarantee that no other reference to slot `i` is alive
    /// while the returned one is, i.e. that only one thread uses slot `i` at a
    /// time and it does not call `get(i)` again while holding the result.
    /// The schedulers guarantee this by construction (see their comments).
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub unsafe fn get(&self, i: usize) -> &mut SlotData {
        &mut *self.0[i].0.get()
    }

    /// Number of cached words in each slot (for tests and diagnostics).
    /// Takes `&mut self`, so no worker can be using a slot meanwhile.
    #[cfg(test)]
    pub fn cached_words(&mut self) -> Vec<usize> {
        self.0.iter_mut().map(|s| s.0.get_mut().words.len()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_cache_line_padded() {
        assert_eq!(std::mem::align_of::<Slot>(), 128);
        assert_eq!(std::mem::size_of::<Slot>() % 128, 0);
        let s = Slots::new(3);
        let a = &s.0[0] as *const Slot as usize;
        let b = &s.0[1] as *const Slot as usize;
        assert_eq!(a % 128, 0);
        assert_eq!(b - a, std::mem::size_of::<Slot>());
    }

    fn put(c: &mut WordCache, w: &[u8], ids: &[u32]) {
        c.insert(w, word_hash(w), ids, |id| id % 7 + 1);
    }

    fn get(c: &WordCache, w: &[u8]) -> Option<(Vec<u32>, Vec<u8>)> {
        c.get(w, word_hash(w)).map(|h| (c.ids(h).to_vec(), c.lens(h).to_vec()))
    }

    #[test]
    fn cache_limits() {
        let mut c = WordCache::default();
        assert!(get(&c, b"x").is_none());
        put(&mut c, &[b'x'; 255], &[1, 2]);
        put(&mut c, &[b'y'; 256], &[1]);
        assert_eq!(c.len(), 1);
        assert_eq!(get(&c, &[b'x'; 255]), Some((vec![1, 2], vec![2, 3])));
        assert!(get(&c, &[b'y'; 256]).is_none());
        for i in 0..CACHE_CAPACITY as u32 + 10 {
            put(&mut c, format!("w{i}").as_bytes(), &[i]);
        }
        assert_eq!(c.len(), CACHE_CAPACITY);
        // The first words stay (no eviction), the overflow was not stored.
        assert_eq!(get(&c, b"w0"), Some((vec![0], vec![1])));
        assert_eq!(get(&c, b"w9998").map(|x| x.0), Some(vec![9998]));
        assert!(get(&c, format!("w{}", CACHE_CAPACITY).as_bytes()).is_none());
        assert!(get(&c, b"w").is_none());
    }

    #[test]
    fn colliding_hashes_are_told_apart_by_key() {
        let mut c = WordCache::default();
        // Same hash, different words: both stored, both found.
        c.insert(b"ab", 42, &[1], |_| 2);
        c.insert(b"cd", 42, &[2], |_| 2);
        assert_eq!(c.get(b"ab", 42).map(|h| c.ids(h).to_vec()), Some(vec![1]));
        assert_eq!(c.get(b"cd", 42).map(|h| c.ids(h).to_vec()), Some(vec![2]));
        assert!(c.get(b"ef", 42).is_none());
    }
}
