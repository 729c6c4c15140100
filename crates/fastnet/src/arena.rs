//! A pool of reusable `f32` buffers, so a forward pass allocates (and page-faults) its
//! activations once and later passes of the same size reuse them.
//!
//! Hand-written because it is twenty lines: a general arena crate would hand out borrows tied
//! to the arena's lifetime, which does not fit activations that outlive the op that made them
//! (encoder skips) and are given back in a different order.

use std::sync::Mutex;

/// Free buffers, handed out best-fit by capacity.
#[derive(Default)]
pub(crate) struct Pool {
    free: Mutex<Vec<Vec<f32>>>,
}

impl Pool {
    /// A buffer of exactly `len` elements. Its contents are unspecified (stale values from an
    /// earlier use, or zeros): every caller overwrites all `len` elements.
    pub(crate) fn take(&self, len: usize) -> Vec<f32> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        let mut v = match best {
            Some(i) => free.swap_remove(i),
            // No fit: grow the largest free buffer rather than keep it idle beside a new one.
            None => free
                .iter()
                .enumerate()
                .max_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i)
                .map_or_else(Vec::new, |i| free.swap_remove(i)),
        };
        drop(free);
        if v.len() >= len {
            v.truncate(len);
        } else {
            v.resize(len, 0.0);
        }
        v
    }

    /// Returns a buffer for later reuse.
    pub(crate) fn give(&self, v: Vec<f32>) {
        if v.capacity() > 0 {
            self.free.lock().unwrap_or_else(|e| e.into_inner()).push(v);
        }
    }

    /// Bytes held by free buffers.
    pub(crate) fn held_bytes(&self) -> usize {
        let free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        free.iter().map(|v| v.capacity() * 4).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_best_fit_and_sized_exactly() {
        let p = Pool::default();
        let a = p.take(100);
        let b = p.take(1000);
        assert_eq!((a.len(), b.len()), (100, 1000));
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        p.give(a);
        p.give(b);
        let c = p.take(50);
        assert_eq!(c.as_ptr(), pa, "smallest buffer that fits");
        let d = p.take(900);
        assert_eq!(d.as_ptr(), pb);
        assert_eq!(d.len(), 900);
        assert_eq!(p.held_bytes(), 0);
        p.give(c);
        assert!(p.held_bytes() >= 400);
    }
}
