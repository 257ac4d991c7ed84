//! Four-letter words (reference A.1, A.17): recognising an admin command on a fresh connection.
//!
//! The rule, as ZooKeeper 3.8's `NIOServerCnxn.readLength` applies it: on a connection that has
//! not yet sent a ConnectRequest, the first 4 bytes are read as the big-endian frame-length int,
//! and *before* that int is checked as a length it is compared with the known commands
//! (`FourLetterCommands.isKnown`). A match is a four-letter word: the server answers in plain
//! text (or with "is not executed because it is not in the whitelist." when the word is known
//! but not whitelisted) and closes the connection. Anything else is a frame length and goes
//! through [`frame_length`](crate::wire::frame_length); an unknown word such as `abcd`
//! (0x61626364) exceeds `jute.maxbuffer` and the connection is closed. After the handshake the
//! check is never made again. `stmk` is followed by an 8-byte big-endian trace mask.
//!
//! This module only classifies; the replies are formatted by `server/admin.rs`.

/// A four-letter command known to ZooKeeper 3.8.0 (`FourLetterCommands`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FourLetterWord {
    /// `conf`: configuration.
    Conf,
    /// `cons`: connection details.
    Cons,
    /// `crst`: reset connection statistics.
    Crst,
    /// `dirs`: data and log directory sizes.
    Dirs,
    /// `dump`: sessions and ephemerals.
    Dump,
    /// `envi`: environment.
    Envi,
    /// `gtmk`: get the trace mask.
    Gtmk,
    /// `ruok`: liveness (`imok`).
    Ruok,
    /// `stmk`: set the trace mask; 8 more bytes follow.
    Stmk,
    /// `srst`: reset server statistics.
    Srst,
    /// `srvr`: server summary (the only word whitelisted by default).
    Srvr,
    /// `stat`: `srvr` plus clients.
    Stat,
    /// `wchc`: watches by session.
    Wchc,
    /// `wchp`: watches by path.
    Wchp,
    /// `wchs`: watch summary.
    Wchs,
    /// `mntr`: monitoring key/values.
    Mntr,
    /// `isro`: read-only mode (`rw`/`ro`).
    Isro,
    /// `hash`: per-zxid tree digests.
    Hash,
    /// 0xFFF4FFFD, what telnet sends when it closes: recognised only so that it is not logged as
    /// a bad length; the server just closes.
    TelnetClose,
}

impl FourLetterWord {
    /// Every known word.
    pub const ALL: [FourLetterWord; 19] = [
        FourLetterWord::Conf,
        FourLetterWord::Cons,
        FourLetterWord::Crst,
        FourLetterWord::Dirs,
        FourLetterWord::Dump,
        FourLetterWord::Envi,
        FourLetterWord::Gtmk,
        FourLetterWord::Ruok,
        FourLetterWord::Stmk,
        FourLetterWord::Srst,
        FourLetterWord::Srvr,
        FourLetterWord::Stat,
        FourLetterWord::Wchc,
        FourLetterWord::Wchp,
        FourLetterWord::Wchs,
        FourLetterWord::Mntr,
        FourLetterWord::Isro,
        FourLetterWord::Hash,
        FourLetterWord::TelnetClose,
    ];

    /// Number of bytes of argument that follow the word (8 for `stmk`'s mask, else 0).
    pub const STMK_ARG_LEN: usize = 8;

    /// The 4 bytes on the wire.
    pub fn bytes(self) -> [u8; 4] {
        match self {
            FourLetterWord::Conf => *b"conf",
            FourLetterWord::Cons => *b"cons",
            FourLetterWord::Crst => *b"crst",
            FourLetterWord::Dirs => *b"dirs",
            FourLetterWord::Dump => *b"dump",
            FourLetterWord::Envi => *b"envi",
            FourLetterWord::Gtmk => *b"gtmk",
            FourLetterWord::Ruok => *b"ruok",
            FourLetterWord::Stmk => *b"stmk",
            FourLetterWord::Srst => *b"srst",
            FourLetterWord::Srvr => *b"srvr",
            FourLetterWord::Stat => *b"stat",
            FourLetterWord::Wchc => *b"wchc",
            FourLetterWord::Wchp => *b"wchp",
            FourLetterWord::Wchs => *b"wchs",
            FourLetterWord::Mntr => *b"mntr",
            FourLetterWord::Isro => *b"isro",
            FourLetterWord::Hash => *b"hash",
            FourLetterWord::TelnetClose => 0xFFF4_FFFDu32.to_be_bytes(),
        }
    }

    /// The word as the length int ZooKeeper compares it as (e.g. `ruok` = 0x72756F6B).
    pub fn as_int(self) -> i32 {
        i32::from_be_bytes(self.bytes())
    }

    /// The command's name as ZooKeeper spells it (and as the whitelist lists it).
    pub fn name(self) -> &'static str {
        match self {
            FourLetterWord::Conf => "conf",
            FourLetterWord::Cons => "cons",
            FourLetterWord::Crst => "crst",
            FourLetterWord::Dirs => "dirs",
            FourLetterWord::Dump => "dump",
            FourLetterWord::Envi => "envi",
            FourLetterWord::Gtmk => "gtmk",
            FourLetterWord::Ruok => "ruok",
            FourLetterWord::Stmk => "stmk",
            FourLetterWord::Srst => "srst",
            FourLetterWord::Srvr => "srvr",
            FourLetterWord::Stat => "stat",
            FourLetterWord::Wchc => "wchc",
            FourLetterWord::Wchp => "wchp",
            FourLetterWord::Wchs => "wchs",
            FourLetterWord::Mntr => "mntr",
            FourLetterWord::Isro => "isro",
            FourLetterWord::Hash => "hash",
            FourLetterWord::TelnetClose => "telnet close",
        }
    }

    /// The word whose 4 bytes are `prefix`, if it is a known one.
    pub fn from_bytes(prefix: [u8; 4]) -> Option<FourLetterWord> {
        FourLetterWord::ALL
            .iter()
            .copied()
            .find(|word| word.bytes() == prefix)
    }

    /// The word at the start of a fresh connection's buffer: `None` if fewer than 4 bytes are
    /// buffered or the first 4 are not a known word (then they are a frame length).
    pub fn from_prefix(buf: &[u8]) -> Option<FourLetterWord> {
        let prefix: [u8; 4] = buf.get(..4)?.try_into().ok()?;
        FourLetterWord::from_bytes(prefix)
    }

    /// The word whose length-int reading is `len` (what ZooKeeper's `isKnown(len)` tests).
    pub fn from_int(len: i32) -> Option<FourLetterWord> {
        FourLetterWord::from_bytes(len.to_be_bytes())
    }

    /// The word by its name (for parsing `4lw.commands.whitelist`); `telnet close` has no name a
    /// whitelist can usefully carry but is accepted for symmetry.
    pub fn from_name(name: &str) -> Option<FourLetterWord> {
        FourLetterWord::ALL
            .iter()
            .copied()
            .find(|word| word.name() == name)
    }

    /// Whether the word is followed by an argument (`stmk`: an 8-byte long).
    pub fn arg_len(self) -> usize {
        match self {
            FourLetterWord::Stmk => FourLetterWord::STMK_ARG_LEN,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruok_is_the_length_int_0x72756f6b() {
        assert_eq!(FourLetterWord::Ruok.as_int(), 0x7275_6F6B);
        assert_eq!(
            FourLetterWord::from_int(0x7275_6F6B),
            Some(FourLetterWord::Ruok)
        );
        assert_eq!(
            FourLetterWord::from_prefix(b"ruok"),
            Some(FourLetterWord::Ruok)
        );
    }

    #[test]
    fn every_word_round_trips() {
        for word in FourLetterWord::ALL {
            assert_eq!(FourLetterWord::from_bytes(word.bytes()), Some(word));
            assert_eq!(FourLetterWord::from_name(word.name()), Some(word));
            assert_eq!(FourLetterWord::from_int(word.as_int()), Some(word));
        }
    }

    #[test]
    fn telnet_close_is_negative() {
        assert_eq!(FourLetterWord::TelnetClose.as_int(), -720_899);
    }

    #[test]
    fn unknown_words_and_short_prefixes_are_not_commands() {
        assert_eq!(FourLetterWord::from_prefix(b"abcd"), None);
        assert_eq!(FourLetterWord::from_prefix(b"ruo"), None);
        assert_eq!(FourLetterWord::from_prefix(b"RUOK"), None);
        // icfg and sysp exist on other branches but not in 3.8.0.
        assert_eq!(FourLetterWord::from_prefix(b"icfg"), None);
        // A real ConnectRequest frame starts with length 44 or 45.
        assert_eq!(FourLetterWord::from_prefix(&[0, 0, 0, 45]), None);
    }

    #[test]
    fn only_stmk_takes_an_argument() {
        for word in FourLetterWord::ALL {
            let expected = if word == FourLetterWord::Stmk { 8 } else { 0 };
            assert_eq!(word.arg_len(), expected);
        }
    }

    #[test]
    fn every_known_word_is_larger_than_the_default_max_frame_or_negative() {
        for word in FourLetterWord::ALL {
            let len = word.as_int();
            assert!(
                len < 0 || len as usize > crate::wire::JUTE_MAX_BUFFER_DEFAULT,
                "{word:?}"
            );
        }
    }
}
