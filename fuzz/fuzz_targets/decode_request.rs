//! Fuzz target: the server-side decoders of `zabkeeper::wire` on arbitrary bytes (spec/wire.md).
//!
//! The input is treated as what a fresh client connection could send: a frame prefix, a
//! handshake payload, or a request payload. No decoder may panic, and a request that decodes
//! must re-encode to bytes that decode to the same request.
//!
//! Run: `cargo +nightly fuzz run decode_request` from the repository root.

#![no_main]

#[path = "alloc_cap.rs"]
mod alloc_cap;

use libfuzzer_sys::fuzz_target;
use zabkeeper::wire::client::{decode_request, write_request, ConnectRequest};
use zabkeeper::wire::fourlw::FourLetterWord;
use zabkeeper::wire::jute::Record;
use zabkeeper::wire::{split_frame, JUTE_MAX_BUFFER_DEFAULT};

fuzz_target!(|data: &[u8]| {
    let _ = FourLetterWord::from_prefix(data);
    let _ = split_frame(data, JUTE_MAX_BUFFER_DEFAULT);
    let _ = ConnectRequest::from_bytes(data);
    if let Ok((header, request)) = decode_request(data) {
        let mut frame = Vec::new();
        write_request(&mut frame, header.xid, &request);
        let (header_again, request_again) =
            decode_request(&frame[4..]).expect("a re-encoded request decodes");
        assert_eq!(header_again, header);
        assert_eq!(request_again, request);
    }
});
