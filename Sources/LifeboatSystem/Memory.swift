/// The C allocator, where the daemon must talk to it.
public enum Memory {
    /// Returns the allocator's free pages to the kernel (glibc's `malloc_trim(0)`: the top of
    /// each arena and, since glibc 2.8, whole free pages inside them). Call it after a large,
    /// short-lived allocation such as a full snapshot, whose pages would otherwise stay in
    /// the process, fragmented by what was allocated meanwhile.
    @discardableResult
    public static func trim() -> Bool { lifeboat_malloc_trim(0) == 1 }
}

/// glibc's `int malloc_trim(size_t pad)`: `<malloc.h>` is not in Swift's Glibc module.
@_silgen_name("malloc_trim")
private func lifeboat_malloc_trim(_ pad: Int) -> Int32
