//! The benchmark driver: warm-up passes, the timed region, the first-pass
//! checksum and id dump. Scheduler-agnostic: it gets a batch-encoding closure.

use crate::cli::{Config, Mode};
use crate::encoder::{EncodeError, Encoding, Item};
use crate::region::Region;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// FNV-1a, 64 bit.
pub struct Fnv1a64(pub u64);

impl Fnv1a64 {
    pub const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    pub const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub fn new() -> Self {
        Fnv1a64(Self::OFFSET)
    }

    #[inline]
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    /// One item: each id as 4 little-endian bytes, then ff ff ff ff.
    pub fn item(&mut self, ids: &[u32]) {
        for id in ids {
            self.write(&id.to_le_bytes());
        }
        self.write(&[0xff; 4]);
    }
}

/// Checksum and optional dump of the first full pass over the corpus.
struct FirstPass {
    fnv: Fnv1a64,
    dump: Option<(BufWriter<File>, PathBuf)>,
    /// Batches of the first pass recorded so far.
    batches: usize,
    total: usize,
}

impl FirstPass {
    fn done(&self) -> bool {
        self.batches == self.total
    }

    fn record(&mut self, results: &[Encoding]) -> Result<(), String> {
        for e in results {
            self.fnv.item(&e.ids);
        }
        if let Some((w, path)) = &mut self.dump {
            let fail = |e: std::io::Error| format!("cannot write --dump-ids file {}: {e}", path.display());
            let mut line = String::new();
            for e in results {
                line.clear();
                for (i, id) in e.ids.iter().enumerate() {
                    if i > 0 {
                        line.push(' ');
                    }
                    line.push_str(&id.to_string());
                }
                line.push('\n');
                w.write_all(line.as_bytes()).map_err(fail)?;
            }
        }
        self.batches += 1;
        if self.done() {
            if let Some((w, path)) = &mut self.dump {
                w.flush().map_err(|e| format!("cannot write --dump-ids file {}: {e}", path.display()))?;
            }
        }
        Ok(())
    }
}

/// What the timed region did.
#[derive(Debug)]
pub struct Summary {
    pub items: u64,
    pub bytes: u64,
    pub tokens: u64,
    pub seconds: f64,
    pub batches: u64,
    /// Timed batches divided by batches per pass (fractional in duration mode).
    pub passes: f64,
    /// Checksum of the first full pass.
    pub ids_fnv1a64: u64,
}

/// Runs the warm-up and the timed region. `encode_batch` encodes one batch;
/// its result is dropped here, by the calling thread, inside the timed region
/// (as upstream's callers do). `region` is told where the timed region begins
/// and ends (a profiler that records it only: lseprof's region protocol).
///
/// Checksum and dump of the first pass are bookkeeping, not workload: their
/// time is measured and left out of `seconds`. In duration mode the timed
/// region may end before one full pass; the rest of the first pass is then
/// encoded after the clock stops, so the checksum always covers the corpus.
pub fn run<F>(
    cfg: &Config,
    corpus_name: &str,
    items: &[Item<'_>],
    region: &mut Region,
    mut encode_batch: F,
) -> Result<Summary, String>
where
    F: FnMut(&[Item<'_>]) -> Result<Vec<Encoding>, EncodeError>,
{
    let batches: Vec<&[Item<'_>]> = items.chunks(cfg.batch_size).collect();
    let batch_bytes: Vec<u64> = batches.iter().map(|b| b.iter().map(|i| i.bytes.len() as u64).sum()).collect();
    let nb = batches.len();
    if nb == 0 {
        return Err(format!("corpus {corpus_name} has no lines; give a corpus with at least one line"));
    }
    let dump = match &cfg.dump_ids {
        Some(p) => Some((
            BufWriter::new(
                File::create(p)
                    .map_err(|e| format!("cannot create --dump-ids file {}: {e}; give a writable path", p.display()))?,
            ),
            p.clone(),
        )),
        None => None,
    };
    let mut first = FirstPass { fnv: Fnv1a64::new(), dump, batches: 0, total: nb };
    let mut encode = |b: &[Item<'_>]| {
        encode_batch(b).map_err(|e| format!("{e} in {corpus_name}; fix or remove that line and run again"))
    };

    for _ in 0..cfg.warmup {
        for b in &batches {
            let r = encode(b)?;
            if !first.done() {
                first.record(&r)?;
            }
        }
    }

    let (mut items_done, mut bytes, mut tokens, mut timed_batches) = (0u64, 0u64, 0u64, 0u64);
    let mut excluded = Duration::ZERO;
    let mut cursor = 0;
    region.enable()?;
    let start = Instant::now();
    loop {
        if let Mode::Iterations(k) = cfg.mode {
            if timed_batches == (k * nb) as u64 {
                break;
            }
        }
        let b = batches[cursor];
        let r = encode(b)?;
        items_done += b.len() as u64;
        bytes += batch_bytes[cursor];
        tokens += r.iter().map(|e| e.ids.len() as u64).sum::<u64>();
        if !first.done() {
            let t = Instant::now();
            first.record(&r)?;
            excluded += t.elapsed();
        }
        drop(r);
        timed_batches += 1;
        cursor = (cursor + 1) % nb;
        if let Mode::Duration(s) = cfg.mode {
            if start.elapsed().saturating_sub(excluded).as_secs_f64() >= s {
                break;
            }
        }
    }
    let seconds = start.elapsed().saturating_sub(excluded).as_secs_f64();
    region.disable()?;

    while !first.done() {
        let r = encode(batches[first.batches])?;
        first.record(&r)?;
    }

    Ok(Summary {
        items: items_done,
        bytes,
        tokens,
        seconds,
        batches: timed_batches,
        passes: timed_batches as f64 / nb as f64,
        ids_fnv1a64: first.fnv.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_reference_values() {
        // Published FNV-1a 64 test vectors.
        let h = |s: &[u8]| {
            let mut f = Fnv1a64::new();
            f.write(s);
            f.0
        };
        assert_eq!(h(b""), 0xcbf29ce484222325);
        assert_eq!(h(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(h(b"foobar"), 0x85944171f73967e8);
        // Item framing: ids little-endian, then the separator.
        let mut a = Fnv1a64::new();
        a.item(&[1, 0x0203]);
        let mut b = Fnv1a64::new();
        b.write(&[1, 0, 0, 0, 3, 2, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(a.0, b.0);
    }

    fn config(mode: Mode, warmup: usize, batch: usize) -> Config {
        Config {
            threads: 1,
            corpus: "c".into(),
            vocab: "v".into(),
            batch_size: batch,
            mode,
            warmup,
            window: None,
            contend: 0,
            dump_ids: None,
            json: false,
        }
    }

    /// A fake encoder: item i encodes to [len].
    fn fake(b: &[Item<'_>]) -> Result<Vec<Encoding>, EncodeError> {
        Ok(b.iter().map(|i| Encoding { ids: vec![i.bytes.len() as u32], offsets: vec![] }).collect())
    }

    #[test]
    fn counts_and_checksum_do_not_depend_on_mode() {
        let lines: Vec<Vec<u8>> = (0..25).map(|i| vec![b'x'; i]).collect();
        let items: Vec<Item> = lines.iter().enumerate().map(|(i, l)| Item { line: i + 1, bytes: l }).collect();
        let s1 = run(&config(Mode::Iterations(2), 0, 10), "c", &items, &mut Region::none(), fake).unwrap();
        assert_eq!((s1.items, s1.tokens, s1.batches), (50, 50, 6));
        assert_eq!(s1.bytes, 2 * (0..25u64).sum::<u64>());
        let s2 = run(&config(Mode::Iterations(1), 2, 7), "c", &items, &mut Region::none(), fake).unwrap();
        assert_eq!(s2.items, 25);
        assert_eq!(s1.ids_fnv1a64, s2.ids_fnv1a64);
        let s3 = run(&config(Mode::Duration(1e-9), 0, 3), "c", &items, &mut Region::none(), fake).unwrap();
        assert_eq!(s3.batches, 1);
        assert_eq!(s3.ids_fnv1a64, s1.ids_fnv1a64);
    }

    #[test]
    fn encode_errors_are_reported() {
        let items = [Item { line: 3, bytes: b"x" }];
        let err = run(&config(Mode::Iterations(1), 0, 10), "corpus.txt", &items, &mut Region::none(), |_| {
            Err(EncodeError { line: 3, byte: 0 })
        })
        .unwrap_err();
        assert_eq!(
            err,
            "corpus line 3 is not valid UTF-8 (byte 0) in corpus.txt; fix or remove that line and run again"
        );
    }
}
