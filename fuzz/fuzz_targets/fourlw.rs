//! Fuzz target: classifying the first bytes of a fresh client connection (`wire::fourlw`,
//! `spec/wire.md`): a four-letter word, or the length prefix of the ConnectRequest frame.
//!
//! Checked against an independent oracle, the list of words zoo.cfg's whitelist accepts
//! (`config::KNOWN_FOUR_LETTER_WORDS`, written out separately from the enum): the 4 bytes are a
//! word exactly when they spell a listed word (or are telnet's close sequence); a word's name,
//! bytes and length-int map back to it; anything else goes to the frame-length check, which must
//! not panic. Names are also looked up from arbitrary text.
//!
//! Run: `cargo +nightly fuzz run fourlw` from the repository root.

#![no_main]

#[path = "alloc_cap.rs"]
mod alloc_cap;

use libfuzzer_sys::fuzz_target;
use zabkeeper::config::KNOWN_FOUR_LETTER_WORDS;
use zabkeeper::wire::fourlw::FourLetterWord;
use zabkeeper::wire::{frame_length, JUTE_MAX_BUFFER_DEFAULT};

const TELNET_CLOSE: [u8; 4] = [0xFF, 0xF4, 0xFF, 0xFD];

fuzz_target!(|data: &[u8]| {
    let word = FourLetterWord::from_prefix(data);
    match data.get(..4) {
        None => assert_eq!(word, None, "fewer than 4 bytes are never a word"),
        Some(prefix) => {
            let listed = std::str::from_utf8(prefix)
                .is_ok_and(|text| KNOWN_FOUR_LETTER_WORDS.contains(&text));
            let expected = listed || prefix == TELNET_CLOSE;
            assert_eq!(
                word.is_some(),
                expected,
                "prefix {prefix:?} classified as {word:?}"
            );
            let prefix: [u8; 4] = prefix.try_into().expect("4 bytes");
            match word {
                Some(w) => {
                    assert_eq!(w.bytes(), prefix);
                    assert_eq!(
                        FourLetterWord::from_int(i32::from_be_bytes(prefix)),
                        Some(w)
                    );
                    assert_eq!(FourLetterWord::from_name(w.name()), Some(w));
                    assert!(w.arg_len() <= FourLetterWord::STMK_ARG_LEN);
                }
                None => {
                    let _ = frame_length(&prefix, JUTE_MAX_BUFFER_DEFAULT);
                }
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(w) = FourLetterWord::from_name(text) {
            assert_eq!(w.name(), text);
        }
    }
});
