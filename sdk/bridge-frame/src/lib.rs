//! The host bridge's framing (`docs/bridge.md`): one byte stream (the
//! virtio-console port, a Unix socket on the host) carries the messages of
//! several channels, each message in a frame of its own.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "ZXB1"
//!      4     4  channel id, u32 little-endian (0: zx.host/RemoteControl)
//!      8     4  payload length, u32 little-endian (at most MAX_PAYLOAD)
//!     12     n  payload: one channel message (transactional header + body)
//! ```
//!
//! One crate serves the guest (the bridge component) and the host
//! (`build-image ls`, `log`, `push` and the system tests), so the two ends
//! cannot disagree. The reader is built for a hostile stream: it never
//! buffers more than one frame, skips to the next magic after garbage,
//! refuses lengths above [`MAX_PAYLOAD`] without waiting for their bytes,
//! and lets its owner drop a frame that stopped arriving half-way (a host
//! that disconnected), so the next host starts clean.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::vec::Vec;

/// The four bytes every frame starts with.
pub const MAGIC: [u8; 4] = *b"ZXB1";

/// Bytes of a frame's header.
pub const HEADER_SIZE: usize = 12;

/// Most bytes of one frame's payload (`zx.host/MAX_FRAME_PAYLOAD`): a
/// channel message of the kernel's largest size.
pub const MAX_PAYLOAD: usize = 65536;

/// The channel of `zx.host/RemoteControl`.
pub const CONTROL_CHANNEL: u32 = 0;

/// Encodes one frame; `None` for a payload above [`MAX_PAYLOAD`] bytes.
pub fn encode(channel: u32, payload: &[u8]) -> Option<Vec<u8>> {
    if payload.len() > MAX_PAYLOAD {
        return None;
    }
    let mut frame = Vec::with_capacity(HEADER_SIZE + payload.len());
    frame.extend_from_slice(&MAGIC);
    frame.extend_from_slice(&channel.to_le_bytes());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(payload);
    Some(frame)
}

/// What the reader found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole frame.
    Frame { channel: u32, payload: Vec<u8> },
    /// Bytes that were not a frame's start were skipped, up to the next
    /// magic (reported once per run of garbage).
    BadMagic { skipped: usize },
    /// A header claimed `length` bytes, more than [`MAX_PAYLOAD`]: the
    /// header was skipped (its payload, if it follows, is garbage to the
    /// reader and is skipped as such).
    TooLarge { channel: u32, length: u32 },
}

/// Turns a byte stream into frames.
#[derive(Debug, Default)]
pub struct FrameReader {
    /// Bytes received and not yet consumed: at most one frame's worth,
    /// plus what the last [`FrameReader::push`] added.
    buffer: Vec<u8>,
    /// Garbage skipped since the last good frame and not yet reported.
    skipped: usize,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// Adds received bytes. Call [`FrameReader::next_event`] until it
    /// returns `None` after each push, so the buffer stays bounded.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Whether part of a frame is buffered (a frame has begun and not
    /// ended).
    pub fn has_partial(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Drops what is buffered of an unfinished frame; returns how many
    /// bytes that was.
    pub fn drop_partial(&mut self) -> usize {
        let dropped = self.buffer.len();
        self.buffer.clear();
        dropped
    }

    /// The next event, or `None` until more bytes arrive.
    pub fn next_event(&mut self) -> Option<Event> {
        // Skip to where a frame may begin: afterwards the buffer is empty,
        // a magic cut off by its end, or starts with a whole magic.
        let start = find_magic(&self.buffer);
        if start > 0 {
            self.buffer.drain(..start);
            self.skipped += start;
        }
        if self.buffer.len() < MAGIC.len() {
            // Garbage is reported once a magic follows it, so a run of it
            // costs one report however long it is.
            return None;
        }
        if self.skipped > 0 {
            let skipped = core::mem::take(&mut self.skipped);
            return Some(Event::BadMagic { skipped });
        }
        if self.buffer.len() < HEADER_SIZE {
            return None;
        }
        let channel = read_u32(&self.buffer[4..8]);
        let length = read_u32(&self.buffer[8..12]);
        if length as usize > MAX_PAYLOAD {
            self.buffer.drain(..HEADER_SIZE);
            return Some(Event::TooLarge { channel, length });
        }
        let end = HEADER_SIZE + length as usize;
        if self.buffer.len() < end {
            return None;
        }
        let payload = self.buffer[HEADER_SIZE..end].to_vec();
        self.buffer.drain(..end);
        Some(Event::Frame { channel, payload })
    }
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(bytes);
    u32::from_le_bytes(word)
}

/// Where in `buffer` a frame may start: the first full magic, or the
/// start of a magic cut off by the buffer's end, or the end.
fn find_magic(buffer: &[u8]) -> usize {
    let mut at = 0;
    while at < buffer.len() {
        let rest = &buffer[at..];
        let n = rest.len().min(MAGIC.len());
        if rest[..n] == MAGIC[..n] {
            return at;
        }
        at += 1;
    }
    buffer.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(reader: &mut FrameReader) -> Vec<Event> {
        core::iter::from_fn(|| reader.next_event()).collect()
    }

    #[test]
    fn frames_round_trip_in_any_split() {
        let mut stream = encode(0, b"hello").unwrap();
        stream.extend(encode(7, &[]).unwrap());
        stream.extend(encode(3, &[9; 300]).unwrap());
        for split in 1..stream.len() {
            let mut reader = FrameReader::new();
            let mut events = Vec::new();
            for chunk in stream.chunks(split) {
                reader.push(chunk);
                events.extend(all(&mut reader));
            }
            assert_eq!(
                events,
                [
                    Event::Frame {
                        channel: 0,
                        payload: b"hello".to_vec()
                    },
                    Event::Frame {
                        channel: 7,
                        payload: Vec::new()
                    },
                    Event::Frame {
                        channel: 3,
                        payload: vec![9; 300]
                    },
                ],
                "split {split}"
            );
            assert!(!reader.has_partial());
        }
    }

    #[test]
    fn garbage_is_skipped_and_reported_once() {
        let mut reader = FrameReader::new();
        reader.push(b"garbage that is long enough to matter");
        assert_eq!(all(&mut reader), []);
        reader.push(b" and more");
        assert_eq!(all(&mut reader), []);
        reader.push(&encode(1, b"ok").unwrap());
        assert_eq!(
            all(&mut reader),
            [
                Event::BadMagic { skipped: 46 },
                Event::Frame {
                    channel: 1,
                    payload: b"ok".to_vec()
                },
            ]
        );
    }

    #[test]
    fn a_partial_magic_at_the_end_waits() {
        let mut reader = FrameReader::new();
        reader.push(b"xxZX");
        assert_eq!(all(&mut reader), []);
        reader.push(&encode(2, b"a").unwrap()[2..]);
        assert_eq!(
            all(&mut reader),
            [
                Event::BadMagic { skipped: 2 },
                Event::Frame {
                    channel: 2,
                    payload: b"a".to_vec()
                },
            ]
        );
    }

    #[test]
    fn huge_lengths_are_refused_without_waiting() {
        let mut reader = FrameReader::new();
        let mut header = MAGIC.to_vec();
        header.extend(5u32.to_le_bytes());
        header.extend(u32::MAX.to_le_bytes());
        reader.push(&header);
        reader.push(&encode(5, b"next").unwrap());
        assert_eq!(
            all(&mut reader),
            [
                Event::TooLarge {
                    channel: 5,
                    length: u32::MAX
                },
                Event::Frame {
                    channel: 5,
                    payload: b"next".to_vec()
                },
            ]
        );
        assert!(encode(0, &vec![0; MAX_PAYLOAD + 1]).is_none());
        assert!(encode(0, &vec![0; MAX_PAYLOAD]).is_some());
    }

    #[test]
    fn a_cut_frame_is_dropped_and_the_next_starts_clean() {
        let mut reader = FrameReader::new();
        reader.push(&encode(4, &[1; 100]).unwrap()[..50]);
        assert_eq!(all(&mut reader), []);
        assert!(reader.has_partial());
        assert_eq!(reader.drop_partial(), 50);
        reader.push(&encode(4, b"fresh").unwrap());
        assert_eq!(
            all(&mut reader),
            [Event::Frame {
                channel: 4,
                payload: b"fresh".to_vec()
            }]
        );
    }

    #[test]
    fn the_buffer_stays_bounded_under_garbage() {
        let mut reader = FrameReader::new();
        for _ in 0..1000 {
            reader.push(&[0xAB; 4096]);
            assert_eq!(all(&mut reader), []);
            assert!(reader.buffer.len() < MAGIC.len());
        }
    }
}
