//! The transaction log: ZooKeeper's `log.<hex zxid>` segment files in `dataLogDir/version-2`.
//!
//! Role (`spec/storage.md` §2): every proposal is appended here before its ACK; one fdatasync
//! covers a batch ([`super::group_commit`]). The layout is ZooKeeper's own (`FileTxnLog`), so its
//! `LogFormatter`/`TxnLogToolkit` can read our files: a 16-byte file header (magic `ZKLG`,
//! version 2, dbid 0), then records of `long adler32(payload)`, `int len`, `len` payload bytes,
//! byte `0x42`. The payload starts with a `TxnHeader` whose zxid (offset 12) indexes the record.
//!
//! Reading distinguishes a torn tail (the last write of a crashed process: partial or zero bytes
//! with no valid record after them — cut off with a warning) from corruption in the middle (a bad
//! record followed by a valid one — an error that stops start-up; nothing is silently skipped).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{
    check_payload, fsync_dir, io_err, payload_zxid, Adler32, StorageError, TxnIter, TXN_HEADER_LEN,
};

/// `FileHeader.magic`: "ZKLG".
pub const LOG_MAGIC: u32 = 0x5A4B_4C47;
/// `FileHeader.version`.
pub const LOG_VERSION: u32 = 2;
/// `FileHeader.dbid` as ZooKeeper writes it.
pub const LOG_DBID: u64 = 0;
/// Bytes in the file header.
pub const FILE_HEADER_LEN: u64 = 16;
/// Bytes before a record's payload: checksum long + length int.
pub const RECORD_HEADER_LEN: u64 = 12;
/// Bytes a record adds to its payload: header + end marker.
pub const RECORD_OVERHEAD: u64 = RECORD_HEADER_LEN + 1;
/// The byte that ends every record ('B').
pub const END_OF_RECORD: u8 = 0x42;
/// The file grows by a preallocation block when a write comes within this many bytes of its end.
pub const PREALLOC_THRESHOLD: u64 = 4096;
/// File-name prefix of log segments.
pub const LOG_PREFIX: &str = "log";

/// Buffered record bytes are written to the file (without fsync) past this size.
const WRITE_BUFFER_FLUSH_BYTES: usize = 1 << 20;
/// Window of the forward scan that looks for valid records after a bad one.
const SCAN_CHUNK_BYTES: usize = 1 << 20;

/// `log.<lowercase hex, no padding>`, ZooKeeper's `Util.makeLogName`.
pub fn log_file_name(start_zxid: u64) -> String {
    format!("{LOG_PREFIX}.{start_zxid:x}")
}

/// Parses `<prefix>.<hex>`; anything else (temp files, `.gz`, foreign files) is not ours.
pub(crate) fn parse_zxid_name(name: &str, prefix: &str) -> Option<u64> {
    let hex = name.strip_prefix(prefix)?.strip_prefix('.')?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Lists `<prefix>.<hex zxid>` files of a directory, sorted by zxid (ascending).
pub(crate) fn list_named(dir: &Path, prefix: &str) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(zxid) = parse_zxid_name(name, prefix) {
            out.push((zxid, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// One log file: the zxid of its first record (from its name) and its path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Segment {
    /// Zxid of the first record, as in the file name.
    pub start_zxid: u64,
    /// Full path.
    pub path: PathBuf,
}

/// Every `log.<hex>` segment in `log_dir`, oldest first.
pub fn list_segments(log_dir: &Path) -> Result<Vec<Segment>, StorageError> {
    Ok(list_named(log_dir, LOG_PREFIX)?
        .into_iter()
        .map(|(start_zxid, path)| Segment { start_zxid, path })
        .collect())
}

/// The segments a reader starting at `zxid` needs: the newest one starting at or before `zxid`
/// and all later ones (ZooKeeper's `FileTxnLog.getLogFiles`).
pub(crate) fn segments_from(segments: &[Segment], zxid: u64) -> &[Segment] {
    let first = segments
        .iter()
        .rposition(|s| s.start_zxid <= zxid)
        .unwrap_or(0);
    &segments[first..]
}

fn file_header() -> [u8; FILE_HEADER_LEN as usize] {
    let mut header = [0u8; FILE_HEADER_LEN as usize];
    header[0..4].copy_from_slice(&LOG_MAGIC.to_be_bytes());
    header[4..8].copy_from_slice(&LOG_VERSION.to_be_bytes());
    header[8..16].copy_from_slice(&LOG_DBID.to_be_bytes());
    header
}

/// Appends one encoded record to `buf`. The payload length was checked by `check_payload`.
pub(crate) fn encode_record(buf: &mut Vec<u8>, payload: &[u8]) {
    let checksum = u64::from(Adler32::checksum(payload));
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&checksum.to_be_bytes());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(payload);
    buf.push(END_OF_RECORD);
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(b)
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(b)
}

/// What the record header at some offset claims, if it is plausible at all.
fn plausible_header(head: &[u8], max_record: u32) -> Result<(u32, u64), &'static str> {
    let checksum = be_u64(&head[0..8]);
    let len = be_u32(&head[8..12]);
    if checksum == 0 && len == 0 {
        return Err("zero record header (end of data)");
    }
    if checksum >> 32 != 0 {
        return Err("checksum field has its upper 32 bits set");
    }
    if (len as usize) < TXN_HEADER_LEN || len > max_record {
        return Err("record length out of range");
    }
    Ok((checksum as u32, u64::from(len)))
}

/// One step of a sequential segment read.
#[derive(Debug)]
pub(crate) enum Step {
    /// A whole valid record.
    Record {
        offset: u64,
        zxid: u64,
        payload: Vec<u8>,
    },
    /// Exactly at the end of the file.
    Eof,
    /// No whole valid record at `offset`; `zero` when it starts with zero bytes (preallocation).
    Stop {
        offset: u64,
        zero: bool,
        reason: String,
    },
}

/// Result of opening a segment: a reader positioned after a valid header, or a torn header.
pub(crate) enum Opened<R = BufReader<File>> {
    Reader(SegmentReader<R>),
    /// Shorter than a header or an all-zero header: a crash right after the file was created.
    TornHeader,
}

/// Sequential reader of one segment's records, over the file or (fuzzing, tests) its bytes.
pub(crate) struct SegmentReader<R = BufReader<File>> {
    reader: R,
    path: PathBuf,
    pos: u64,
    len: u64,
    max_record: u32,
}

impl SegmentReader {
    pub(crate) fn open(path: &Path, max_record: u32) -> Result<Opened, StorageError> {
        let file = File::open(path).map_err(io_err("open", path))?;
        let len = file.metadata().map_err(io_err("stat", path))?.len();
        let reader = BufReader::with_capacity(1 << 16, file);
        SegmentReader::start(reader, len, path, max_record)
    }
}

impl<R: Read + Seek> SegmentReader<R> {
    /// Checks the file header of the `len`-byte segment `reader` is at the start of.
    fn start(
        mut reader: R,
        len: u64,
        path: &Path,
        max_record: u32,
    ) -> Result<Opened<R>, StorageError> {
        if len < FILE_HEADER_LEN {
            return Ok(Opened::TornHeader);
        }
        let mut header = [0u8; FILE_HEADER_LEN as usize];
        reader
            .read_exact(&mut header)
            .map_err(io_err("read", path))?;
        if header.iter().all(|&b| b == 0) {
            return Ok(Opened::TornHeader);
        }
        if (be_u32(&header[0..4]), be_u32(&header[4..8])) != (LOG_MAGIC, LOG_VERSION) {
            return Err(StorageError::Corrupt {
                file: path.to_path_buf(),
                offset: 0,
                reason: format!(
                    "bad file header (magic {:#x}, version {})",
                    be_u32(&header[0..4]),
                    be_u32(&header[4..8])
                ),
            });
        }
        Ok(Opened::Reader(SegmentReader {
            reader,
            path: path.to_path_buf(),
            pos: FILE_HEADER_LEN,
            len,
            max_record,
        }))
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), StorageError> {
        self.reader
            .read_exact(buf)
            .map_err(io_err("read", &self.path))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn stop(offset: u64, zero: bool, reason: impl Into<String>) -> Result<Step, StorageError> {
        Ok(Step::Stop {
            offset,
            zero,
            reason: reason.into(),
        })
    }

    /// Reads the next record. After a `Stop` or `Eof` the reader must not be used again.
    pub(crate) fn next_step(&mut self) -> Result<Step, StorageError> {
        let offset = self.pos;
        let remaining = self.len - offset;
        if remaining == 0 {
            return Ok(Step::Eof);
        }
        if remaining < RECORD_HEADER_LEN {
            let mut tail = vec![0u8; remaining as usize];
            self.read_exact(&mut tail)?;
            let zero = tail.iter().all(|&b| b == 0);
            return Self::stop(offset, zero, "partial record header at end of file");
        }
        let mut head = [0u8; RECORD_HEADER_LEN as usize];
        self.read_exact(&mut head)?;
        let (checksum, len) = match plausible_header(&head, self.max_record) {
            Ok(v) => v,
            Err(reason) => return Self::stop(offset, head.iter().all(|&b| b == 0), reason),
        };
        if offset + RECORD_OVERHEAD + len > self.len {
            return Self::stop(offset, false, "record runs past the end of the file");
        }
        let mut payload = vec![0u8; len as usize];
        self.read_exact(&mut payload)?;
        let mut end = [0u8; 1];
        self.read_exact(&mut end)?;
        if Adler32::checksum(&payload) != checksum {
            return Self::stop(offset, false, "checksum mismatch");
        }
        if end[0] != END_OF_RECORD {
            return Self::stop(offset, false, "missing end-of-record byte 0x42");
        }
        let zxid = payload_zxid(&payload).unwrap_or(0);
        Ok(Step::Record {
            offset,
            zxid,
            payload,
        })
    }
}

/// What lies after the point where sequential reading stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TailScan {
    /// A whole valid record with a zxid above the last good one: `(offset, zxid)`.
    pub valid_record: Option<(u64, u64)>,
    /// Every byte from the stop point to the end of the file is zero.
    pub all_zero: bool,
}

/// Looks at every offset in `from..len` for a whole valid record whose zxid exceeds `after_zxid`.
/// Costs one read of the tail; runs only when sequential reading stopped before the end.
pub(crate) fn scan_tail(
    file: &mut (impl Read + Seek),
    path: &Path,
    len: u64,
    from: u64,
    after_zxid: Option<u64>,
    max_record: u32,
) -> Result<TailScan, StorageError> {
    let mut all_zero = true;
    let mut chunk_start = from;
    let mut buf = Vec::new();
    let overlap = RECORD_HEADER_LEN as usize - 1;
    while chunk_start < len {
        let want = (len - chunk_start).min((SCAN_CHUNK_BYTES + overlap) as u64) as usize;
        buf.resize(want, 0);
        file.seek(SeekFrom::Start(chunk_start))
            .map_err(io_err("seek", path))?;
        file.read_exact(&mut buf).map_err(io_err("read", path))?;
        let zero_chunk = buf.iter().all(|&b| b == 0);
        all_zero &= zero_chunk;
        if !zero_chunk && buf.len() >= RECORD_HEADER_LEN as usize {
            let last_start = (buf.len() - RECORD_HEADER_LEN as usize).min(SCAN_CHUNK_BYTES - 1);
            for i in 0..=last_start {
                let head = &buf[i..i + RECORD_HEADER_LEN as usize];
                let Ok((checksum, rec_len)) = plausible_header(head, max_record) else {
                    continue;
                };
                let offset = chunk_start + i as u64;
                if offset + RECORD_OVERHEAD + rec_len > len {
                    continue;
                }
                if let Some(zxid) = verify_record_at(file, path, offset, checksum, rec_len)? {
                    if after_zxid.map_or(true, |after| zxid > after) {
                        return Ok(TailScan {
                            valid_record: Some((offset, zxid)),
                            all_zero: false,
                        });
                    }
                }
            }
        }
        chunk_start += SCAN_CHUNK_BYTES as u64;
    }
    Ok(TailScan {
        valid_record: None,
        all_zero,
    })
}

fn verify_record_at(
    file: &mut (impl Read + Seek),
    path: &Path,
    offset: u64,
    checksum: u32,
    len: u64,
) -> Result<Option<u64>, StorageError> {
    let mut body = vec![0u8; len as usize + 1];
    file.seek(SeekFrom::Start(offset + RECORD_HEADER_LEN))
        .map_err(io_err("seek", path))?;
    file.read_exact(&mut body).map_err(io_err("read", path))?;
    let (payload, end) = body.split_at(len as usize);
    if end[0] != END_OF_RECORD || Adler32::checksum(payload) != checksum {
        return Ok(None);
    }
    Ok(payload_zxid(payload))
}

/// How a fully read segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tail {
    /// End of file, or zero bytes to the end of the file.
    Clean,
    /// Bad bytes at `offset` with no valid record after them: a torn last write.
    Torn { offset: u64, reason: String },
    /// The file header itself was never (completely) written.
    TornHeader,
}

/// Summary of [`scan_segment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScannedSegment {
    /// Offset just after the last valid record.
    pub valid_len: u64,
    /// Zxid of the last valid record.
    pub last_zxid: Option<u64>,
    /// Valid records read.
    pub records: u64,
    /// How it ended.
    pub tail: Tail,
}

/// Reads and checks a whole segment, calling `visit(offset, zxid, payload)` for each record in
/// order. Record zxids must increase strictly, starting above `prev_zxid`, and the first must
/// equal the segment's name. A bad record with a valid one after it is `Corrupt`.
pub(crate) fn scan_segment(
    segment: &Segment,
    prev_zxid: Option<u64>,
    max_record: u32,
    visit: impl FnMut(u64, u64, Vec<u8>) -> Result<(), StorageError>,
) -> Result<ScannedSegment, StorageError> {
    let opened = SegmentReader::open(&segment.path, max_record)?;
    scan_opened(opened, segment, prev_zxid, visit)
}

/// What [`check_segment_bytes`] found: the records and how the segment ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCheck {
    /// Every valid record `(offset, zxid, payload)`, in order.
    pub records: Vec<(u64, u64, Vec<u8>)>,
    /// Offset just after the last valid record.
    pub valid_len: u64,
    /// `None` when the segment ends cleanly (end of file, or zeros to the end); otherwise the
    /// offset and reason of a torn tail, which recovery cuts off in the newest segment and
    /// reports as corruption in any other.
    pub torn: Option<(u64, String)>,
}

/// The checks recovery makes on one segment file, over its bytes in memory: `start_zxid` is the
/// zxid its name carries, `prev_zxid` the last zxid of the segment before it. The same code as
/// the file path ([`scan_segment`]), for fuzzing and tools; a bad record followed by a valid one
/// is `Corrupt`, never skipped.
pub fn check_segment_bytes(
    bytes: &[u8],
    start_zxid: u64,
    prev_zxid: Option<u64>,
    max_record: u32,
) -> Result<SegmentCheck, StorageError> {
    let segment = Segment {
        start_zxid,
        path: PathBuf::from(log_file_name(start_zxid)),
    };
    let cursor = std::io::Cursor::new(bytes);
    let opened = SegmentReader::start(cursor, bytes.len() as u64, &segment.path, max_record)?;
    let mut records = Vec::new();
    let scanned = scan_opened(opened, &segment, prev_zxid, |offset, zxid, payload| {
        records.push((offset, zxid, payload));
        Ok(())
    })?;
    let torn = match scanned.tail {
        Tail::Clean => None,
        Tail::Torn { offset, reason } => Some((offset, reason)),
        Tail::TornHeader => Some((0, "missing file header".to_string())),
    };
    Ok(SegmentCheck {
        records,
        valid_len: scanned.valid_len,
        torn,
    })
}

fn scan_opened<R: Read + Seek>(
    opened: Opened<R>,
    segment: &Segment,
    prev_zxid: Option<u64>,
    mut visit: impl FnMut(u64, u64, Vec<u8>) -> Result<(), StorageError>,
) -> Result<ScannedSegment, StorageError> {
    let path = &segment.path;
    let mut reader = match opened {
        Opened::Reader(reader) => reader,
        Opened::TornHeader => {
            return Ok(ScannedSegment {
                valid_len: 0,
                last_zxid: None,
                records: 0,
                tail: Tail::TornHeader,
            })
        }
    };
    let corrupt = |offset: u64, reason: String| StorageError::Corrupt {
        file: path.clone(),
        offset,
        reason,
    };
    let mut last = prev_zxid;
    let mut last_in_segment = None;
    let mut records = 0u64;
    let mut valid_len = FILE_HEADER_LEN;
    let tail = loop {
        match reader.next_step()? {
            Step::Record {
                offset,
                zxid,
                payload,
            } => {
                if records == 0 && zxid != segment.start_zxid {
                    return Err(corrupt(
                        offset,
                        format!(
                            "first record has zxid {zxid:#x} but the file is named for {:#x}",
                            segment.start_zxid
                        ),
                    ));
                }
                if let Some(prev) = last.filter(|&prev| zxid <= prev) {
                    return Err(corrupt(
                        offset,
                        format!("zxid {zxid:#x} does not follow {prev:#x}"),
                    ));
                }
                let record_len = payload.len() as u64 + RECORD_OVERHEAD;
                visit(offset, zxid, payload)?;
                last = Some(zxid);
                last_in_segment = Some(zxid);
                records += 1;
                valid_len = offset + record_len;
            }
            Step::Eof => break Tail::Clean,
            Step::Stop {
                offset,
                zero,
                reason,
            } => {
                let (len, max_record) = (reader.len, reader.max_record);
                let scan = scan_tail(&mut reader.reader, path, len, offset, last, max_record)?;
                if let Some((next_offset, next_zxid)) = scan.valid_record {
                    return Err(corrupt(
                        offset,
                        format!(
                            "{reason}, yet a valid record (zxid {next_zxid:#x}) follows at byte \
                             {next_offset}"
                        ),
                    ));
                }
                if zero && scan.all_zero {
                    break Tail::Clean;
                }
                break Tail::Torn { offset, reason };
            }
        }
    };
    Ok(ScannedSegment {
        valid_len,
        last_zxid: last_in_segment,
        records,
        tail,
    })
}

/// Cuts a segment file to `len` bytes and makes the cut durable.
pub(crate) fn cut_file(path: &Path, len: u64) -> Result<(), StorageError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err("open", path))?;
    file.set_len(len).map_err(io_err("truncate", path))?;
    file.sync_all().map_err(io_err("fsync", path))
}

/// Removes a file and makes the removal durable before returning.
pub(crate) fn remove_durably(path: &Path) -> Result<(), StorageError> {
    fs::remove_file(path).map_err(io_err("remove", path))?;
    match path.parent() {
        Some(dir) => fsync_dir(dir),
        None => Ok(()),
    }
}

/// Knobs of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnLogOptions {
    /// Preallocation block in bytes (0 = none).
    pub prealloc_bytes: u64,
    /// Records per segment before an automatic roll.
    pub snap_count: u64,
    /// Largest payload.
    pub max_record_bytes: u32,
}

/// The segment currently written.
struct ActiveSegment {
    file: File,
    path: PathBuf,
    /// Bytes already written to the file (the next write offset).
    written: u64,
    /// Current file length, preallocation included.
    allocated: u64,
    /// Encoded records not yet written to the file.
    buf: Vec<u8>,
    records: u64,
    /// False until the first fsync, which must also persist the directory entry.
    synced_once: bool,
}

/// The writer side of the log. Built by recovery on a clean directory.
pub struct TxnLog {
    dir: PathBuf,
    options: TxnLogOptions,
    segments: Vec<Segment>,
    active: Option<ActiveSegment>,
    last_record_zxid: Option<u64>,
    append_floor: u64,
    durable_zxid: u64,
    poisoned: bool,
}

impl TxnLog {
    /// A writer over `dir`, whose segments were checked (and tails cut) by recovery.
    /// Appends must exceed `append_floor` (newest logged or snapshotted zxid).
    pub(crate) fn new(
        dir: PathBuf,
        options: TxnLogOptions,
        segments: Vec<Segment>,
        last_record_zxid: Option<u64>,
        append_floor: u64,
    ) -> Self {
        Self {
            dir,
            options,
            segments,
            active: None,
            last_record_zxid,
            append_floor,
            durable_zxid: append_floor,
            poisoned: false,
        }
    }

    /// Newest zxid appended (or the floor set by a snapshot), durable or not.
    pub fn last_zxid(&self) -> u64 {
        self.append_floor
    }

    /// Newest zxid made durable by `sync`.
    pub fn durable_zxid(&self) -> u64 {
        self.durable_zxid
    }

    /// Newest zxid held in a log record.
    pub fn last_record_zxid(&self) -> Option<u64> {
        self.last_record_zxid
    }

    /// Segments on disk, oldest first (the active one included once it exists).
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Raises the zxid appends must exceed (a snapshot installed beyond the log). When nothing
    /// was pending, the new floor is durable too: the snapshot that raised it is.
    pub(crate) fn raise_floor(&mut self, zxid: u64) {
        if zxid <= self.append_floor {
            return;
        }
        let all_durable = self.durable_zxid == self.append_floor;
        self.append_floor = zxid;
        if all_durable {
            self.durable_zxid = zxid;
        }
    }

    /// Re-reads the segment list (after a purge removed files).
    pub(crate) fn refresh_segments(&mut self) -> Result<(), StorageError> {
        self.segments = list_segments(&self.dir)?;
        Ok(())
    }

    fn usable(&self) -> Result<(), StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        Ok(())
    }

    fn poison_on_err<T>(&mut self, result: Result<T, StorageError>) -> Result<T, StorageError> {
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// Buffers one record (see [`super::Storage::append`]).
    pub fn append(&mut self, zxid: u64, payload: &[u8]) -> Result<(), StorageError> {
        self.usable()?;
        check_payload(zxid, payload, self.options.max_record_bytes)?;
        if zxid <= self.append_floor {
            return Err(StorageError::OutOfOrder {
                zxid,
                last: self.append_floor,
            });
        }
        let result = self.append_unchecked(zxid, payload);
        self.poison_on_err(result)
    }

    fn append_unchecked(&mut self, zxid: u64, payload: &[u8]) -> Result<(), StorageError> {
        let full = self
            .active
            .as_ref()
            .map_or(true, |active| active.records >= self.options.snap_count);
        if full {
            self.roll_inner()?;
            self.create_segment(zxid)?;
        }
        let Some(active) = self.active.as_mut() else {
            unreachable!("a segment was just created");
        };
        encode_record(&mut active.buf, payload);
        active.records += 1;
        self.append_floor = zxid;
        self.last_record_zxid = Some(zxid);
        if active.buf.len() >= WRITE_BUFFER_FLUSH_BYTES {
            self.flush_active()?;
        }
        Ok(())
    }

    fn create_segment(&mut self, start_zxid: u64) -> Result<(), StorageError> {
        let path = self.dir.join(log_file_name(start_zxid));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err("create", &path))?;
        let mut buf = Vec::with_capacity(1 << 16);
        buf.extend_from_slice(&file_header());
        self.active = Some(ActiveSegment {
            file,
            path: path.clone(),
            written: 0,
            allocated: 0,
            buf,
            records: 0,
            synced_once: false,
        });
        self.segments.push(Segment { start_zxid, path });
        Ok(())
    }

    /// Writes buffered records to the file (no fsync), preallocating ahead of them.
    fn flush_active(&mut self) -> Result<(), StorageError> {
        let prealloc = self.options.prealloc_bytes;
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        if active.buf.is_empty() {
            return Ok(());
        }
        let end = active.written + active.buf.len() as u64;
        if prealloc > 0 && end + PREALLOC_THRESHOLD > active.allocated {
            let new_len = (end + PREALLOC_THRESHOLD).div_ceil(prealloc) * prealloc;
            active
                .file
                .set_len(new_len)
                .map_err(io_err("preallocate", &active.path))?;
            active.allocated = new_len;
        }
        active
            .file
            .write_all(&active.buf)
            .map_err(io_err("write", &active.path))?;
        active.written = end;
        active.allocated = active.allocated.max(end);
        active.buf.clear();
        Ok(())
    }

    /// Writes and fdatasyncs everything appended; returns the newest durable zxid.
    pub fn sync(&mut self) -> Result<u64, StorageError> {
        self.usable()?;
        let result = self.sync_inner();
        self.poison_on_err(result)
    }

    fn sync_inner(&mut self) -> Result<u64, StorageError> {
        self.flush_active()?;
        if let Some(active) = self.active.as_mut() {
            if active.synced_once {
                active
                    .file
                    .sync_data()
                    .map_err(io_err("fdatasync", &active.path))?;
            } else {
                active
                    .file
                    .sync_all()
                    .map_err(io_err("fsync", &active.path))?;
                fsync_dir(&self.dir)?;
                active.synced_once = true;
            }
        }
        self.durable_zxid = self.append_floor;
        Ok(self.durable_zxid)
    }

    /// Syncs and closes the active segment; the next append opens `log.<its zxid>`.
    pub fn roll(&mut self) -> Result<(), StorageError> {
        self.usable()?;
        let result = self.roll_inner();
        self.poison_on_err(result)
    }

    fn roll_inner(&mut self) -> Result<(), StorageError> {
        if self.active.is_some() {
            self.sync_inner()?;
            self.active = None;
        }
        Ok(())
    }

    /// Removes every record with zxid > `zxid`, durably: whole later segments are deleted newest
    /// first (each deletion fsynced), then the segment holding `zxid` is cut and fsynced, so a
    /// crash in between leaves a prefix of the old log. Returns the newest remaining record's zxid.
    pub fn truncate_after(&mut self, zxid: u64) -> Result<Option<u64>, StorageError> {
        self.usable()?;
        let result = self.truncate_inner(zxid);
        self.poison_on_err(result)
    }

    fn truncate_inner(&mut self, zxid: u64) -> Result<Option<u64>, StorageError> {
        // Make buffered bytes visible to the reader below, then close the segment: appends after a
        // truncation start a new one.
        self.flush_active()?;
        self.active = None;
        let mut last_kept = None;
        while let Some(segment) = self.segments.last().cloned() {
            if segment.start_zxid > zxid {
                remove_durably(&segment.path)?;
                self.segments.pop();
                continue;
            }
            let (cut, kept) = self.cut_point(&segment, zxid)?;
            match kept {
                Some(kept) => {
                    cut_file(&segment.path, cut)?;
                    last_kept = Some(kept);
                    break;
                }
                None => {
                    remove_durably(&segment.path)?;
                    self.segments.pop();
                }
            }
        }
        self.last_record_zxid = last_kept;
        self.append_floor = last_kept.unwrap_or(0);
        self.durable_zxid = self.append_floor;
        Ok(last_kept)
    }

    /// Offset just after the last record with zxid <= `zxid`, and that record's zxid.
    fn cut_point(&self, segment: &Segment, zxid: u64) -> Result<(u64, Option<u64>), StorageError> {
        let mut reader = match SegmentReader::open(&segment.path, self.options.max_record_bytes)? {
            Opened::Reader(reader) => reader,
            Opened::TornHeader => return Ok((0, None)),
        };
        let mut cut = FILE_HEADER_LEN;
        let mut kept = None;
        while let Step::Record {
            offset,
            zxid: record_zxid,
            payload,
        } = reader.next_step()?
        {
            if record_zxid > zxid {
                break;
            }
            cut = offset + RECORD_OVERHEAD + payload.len() as u64;
            kept = Some(record_zxid);
        }
        Ok((cut, kept))
    }

    /// Every record with zxid >= `from` appended so far (buffered ones are written out first).
    pub fn read_from(&mut self, from: u64) -> Result<TxnIter, StorageError> {
        self.usable()?;
        let result = self.flush_active();
        self.poison_on_err(result)?;
        let Some(upto) = self.last_record_zxid.filter(|&upto| upto >= from) else {
            return Ok(Box::new(std::iter::empty()));
        };
        Ok(Box::new(LogIter {
            segments: segments_from(&self.segments, from)
                .iter()
                .cloned()
                .collect(),
            current: None,
            from,
            upto,
            last_yielded: None,
            max_record: self.options.max_record_bytes,
            done: false,
        }))
    }
}

/// Streaming reader behind [`TxnLog::read_from`]: stops after `upto`, the newest record that
/// existed when it was made, so records appended meanwhile are not half-read.
struct LogIter {
    segments: VecDeque<Segment>,
    current: Option<SegmentReader>,
    from: u64,
    upto: u64,
    last_yielded: Option<u64>,
    max_record: u32,
    done: bool,
}

impl LogIter {
    fn fail(&mut self, error: StorageError) -> Option<Result<(u64, Vec<u8>), StorageError>> {
        self.done = true;
        Some(Err(error))
    }
}

impl Iterator for LogIter {
    type Item = Result<(u64, Vec<u8>), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let Some(reader) = self.current.as_mut() else {
                let Some(segment) = self.segments.pop_front() else {
                    let reason = format!(
                        "log ends at {:?} before zxid {:#x}",
                        self.last_yielded, self.upto
                    );
                    return self.fail(StorageError::Corrupt {
                        file: PathBuf::new(),
                        offset: 0,
                        reason,
                    });
                };
                match SegmentReader::open(&segment.path, self.max_record) {
                    Ok(Opened::Reader(reader)) => self.current = Some(reader),
                    Ok(Opened::TornHeader) => {}
                    Err(error) => return self.fail(error),
                }
                continue;
            };
            match reader.next_step() {
                Ok(Step::Record { zxid, payload, .. }) => {
                    if zxid < self.from {
                        continue;
                    }
                    if zxid > self.upto {
                        self.done = true;
                        return None;
                    }
                    self.done = zxid == self.upto;
                    self.last_yielded = Some(zxid);
                    return Some(Ok((zxid, payload)));
                }
                Ok(Step::Eof) | Ok(Step::Stop { zero: true, .. }) => self.current = None,
                Ok(Step::Stop { offset, reason, .. }) => {
                    let file = reader.path.clone();
                    return self.fail(StorageError::Corrupt {
                        file,
                        offset,
                        reason,
                    });
                }
                Err(error) => return self.fail(error),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(log_file_name(1), "log.1");
        assert_eq!(log_file_name(0x1_0000_0001), "log.100000001");
        assert_eq!(
            parse_zxid_name("log.100000001", LOG_PREFIX),
            Some(0x1_0000_0001)
        );
        assert_eq!(parse_zxid_name("log.", LOG_PREFIX), None);
        assert_eq!(parse_zxid_name("log.1.tmp", LOG_PREFIX), None);
        assert_eq!(parse_zxid_name("logx.1", LOG_PREFIX), None);
        assert_eq!(parse_zxid_name("snapshot.1", LOG_PREFIX), None);
    }

    #[test]
    fn record_encoding_is_zookeepers() {
        let mut buf = Vec::new();
        let payload = super::super::encode_txn_payload(7, 1, b"x");
        encode_record(&mut buf, &payload);
        assert_eq!(buf.len(), payload.len() + RECORD_OVERHEAD as usize);
        assert_eq!(be_u64(&buf[0..8]), u64::from(Adler32::checksum(&payload)));
        assert_eq!(be_u32(&buf[8..12]) as usize, payload.len());
        assert_eq!(&buf[12..12 + payload.len()], &payload[..]);
        assert_eq!(buf.last(), Some(&END_OF_RECORD));
    }

    #[test]
    fn segment_bytes_are_checked_like_files() {
        let mut file = file_header().to_vec();
        for zxid in 1..=3 {
            encode_record(&mut file, &super::super::encode_txn_payload(zxid, 1, b"x"));
        }
        let whole = check_segment_bytes(&file, 1, None, 1024).expect("valid");
        assert_eq!(whole.records.len(), 3);
        assert_eq!(
            (whole.valid_len, whole.torn.clone()),
            (file.len() as u64, None)
        );
        let torn = check_segment_bytes(&file[..file.len() - 3], 1, None, 1024).expect("torn");
        assert_eq!(torn.records.len(), 2);
        assert!(torn.torn.is_some());
        let mut corrupt = file.clone();
        corrupt[16 + 12 + 20] ^= 1; // inside the first payload; two valid records follow
        assert!(matches!(
            check_segment_bytes(&corrupt, 1, None, 1024),
            Err(StorageError::Corrupt { offset: 16, .. })
        ));
        assert!(matches!(
            check_segment_bytes(&file, 2, None, 1024),
            Err(StorageError::Corrupt { .. })
        ));
    }

    #[test]
    fn segments_from_picks_zookeepers_files() {
        let seg = |z: u64| Segment {
            start_zxid: z,
            path: PathBuf::from(log_file_name(z)),
        };
        let all = vec![seg(1), seg(10), seg(20)];
        assert_eq!(segments_from(&all, 0), &all[..]);
        assert_eq!(segments_from(&all, 1), &all[..]);
        assert_eq!(segments_from(&all, 15), &all[1..]);
        assert_eq!(segments_from(&all, 20), &all[2..]);
        assert_eq!(segments_from(&all, 99), &all[2..]);
    }
}
