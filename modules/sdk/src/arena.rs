//! The bump arena behind the wasm32 global allocator, as plain address arithmetic so it is unit-tested natively.
//! `ffi.rs` wraps it in a `GlobalAlloc` whose `grow` is `memory.grow`.

/// A bump arena over `[base, ∞)`: allocations are handed out upwards from `next` and freed all at once by
/// [`Arena::reset`]. Only the most recent allocation can be shrunk, grown in place or given back.
#[derive(Debug)]
pub(crate) struct Arena {
    base: usize,
    next: usize,
}

impl Arena {
    pub(crate) const fn new(base: usize) -> Self {
        Self { base, next: base }
    }

    /// Forget every allocation.
    pub(crate) fn reset(&mut self) {
        self.next = self.base;
    }

    /// An address for `size` bytes aligned to `align` (a power of two), after making sure memory reaches the
    /// block's end with `grow(end)`; `None` if it cannot.
    pub(crate) fn alloc(
        &mut self,
        size: usize,
        align: usize,
        grow: &mut dyn FnMut(usize) -> bool,
    ) -> Option<usize> {
        let start = self.next.checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(size)?;
        if !grow(end) {
            return None;
        }
        self.next = end;
        Some(start)
    }

    /// Give back the block at `ptr` if it is the most recent one (cheap, and it makes temporaries free).
    pub(crate) fn dealloc(&mut self, ptr: usize, size: usize) {
        if ptr.checked_add(size) == Some(self.next) {
            self.next = ptr;
        }
    }

    /// Resize the block at `ptr`: in place if it is the most recent one (a `Vec` being built almost always is),
    /// else as a new block. Returns the block's address and whether it moved (the caller copies if it did).
    pub(crate) fn realloc(
        &mut self,
        ptr: usize,
        old_size: usize,
        new_size: usize,
        align: usize,
        grow: &mut dyn FnMut(usize) -> bool,
    ) -> Option<(usize, bool)> {
        if ptr.checked_add(old_size) == Some(self.next) {
            let end = ptr.checked_add(new_size)?;
            if !grow(end) {
                return None;
            }
            self.next = end;
            return Some((ptr, false));
        }
        self.alloc(new_size, align, grow).map(|new| (new, true))
    }
}

#[cfg(test)]
mod tests {
    use super::Arena;

    /// Memory that can grow up to `limit` bytes.
    fn memory(limit: usize) -> impl FnMut(usize) -> bool {
        move |end| end <= limit
    }

    #[test]
    fn allocations_are_aligned_and_disjoint() {
        let mut a = Arena::new(1001);
        let mut grow = memory(1 << 20);
        let x = a.alloc(3, 1, &mut grow).unwrap();
        let y = a.alloc(8, 8, &mut grow).unwrap();
        let z = a.alloc(16, 16, &mut grow).unwrap();
        assert_eq!(x, 1001);
        assert_eq!(y % 8, 0);
        assert!(y >= x + 3);
        assert_eq!(z % 16, 0);
        assert!(z >= y + 8);
    }

    #[test]
    fn reset_reuses_the_whole_arena() {
        let mut a = Arena::new(64);
        let mut grow = memory(1 << 20);
        a.alloc(100, 4, &mut grow).unwrap();
        a.alloc(100, 4, &mut grow).unwrap();
        a.reset();
        assert_eq!(a.alloc(4, 4, &mut grow), Some(64));
    }

    #[test]
    fn the_last_block_is_given_back_and_grown_in_place() {
        let mut a = Arena::new(0);
        let mut grow = memory(1 << 20);
        let x = a.alloc(10, 1, &mut grow).unwrap();
        let y = a.alloc(10, 1, &mut grow).unwrap();
        a.dealloc(x, 10); // not the last: kept
        assert_eq!(a.realloc(y, 10, 50, 1, &mut grow), Some((y, false)));
        assert_eq!(a.realloc(y, 50, 20, 1, &mut grow), Some((y, false)), "shrinks in place");
        let (moved, did_move) = a.realloc(x, 10, 30, 1, &mut grow).unwrap();
        assert!(did_move);
        assert!(moved >= y + 20, "a moved block starts after every live one");
        a.dealloc(moved, 30);
        assert_eq!(a.alloc(1, 1, &mut grow), Some(moved), "the last block was given back");
    }

    #[test]
    fn running_out_of_memory_is_none_not_a_wrap() {
        let mut a = Arena::new(0);
        assert_eq!(a.alloc(2000, 1, &mut memory(1000)), None);
        assert_eq!(a.alloc(10, 1, &mut memory(1000)), Some(0), "a failed allocation takes nothing");
        let mut b = Arena::new(usize::MAX - 4);
        assert_eq!(b.alloc(10, 1, &mut |_| true), None);
        assert_eq!(b.alloc(1, 16, &mut |_| true), None);
        let x = b.alloc(2, 1, &mut |_| true).unwrap();
        assert_eq!(b.realloc(x, 2, 100, 1, &mut |_| true), None);
    }
}
