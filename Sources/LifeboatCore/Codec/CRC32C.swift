/// CRC-32C (Castagnoli, the polynomial iSCSI and ext4 use): the checksum of snapshots and
/// log records on disk and of reassembled wire messages. Detects corruption (torn writes,
/// bit rot, a fragment from another message), not tampering.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    public static func checksum<C: Collection>(_ bytes: C, continuing crc: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        var c = ~crc
        let t = table
        let fast: UInt32? = bytes.withContiguousStorageIfAvailable { buffer in
            var c = c
            t.withUnsafeBufferPointer { t in
                for b in buffer { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
            }
            return c
        }
        if let fast {
            c = fast
        } else {
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return ~c
    }
}
