//! Panics during a step of the world become data; every other panic is printed.
//!
//! The model runs each step of the world (a `Node::step`, a disk write, the bookkeeping after it)
//! under [`catch`]. While a catch is active on a thread, the process-wide panic hook records the
//! message and source location for that thread instead of printing it: the checker explores
//! millions of states and a counterexample reports the panic with its trace. A panic anywhere
//! else — in the checker, in a property, in the command-line code — goes to the hook that was
//! installed before ours (Rust's default prints message and location), so nothing dies silently.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many [`catch`] calls are active on this thread.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
    /// What the hook saw of the last panic on this thread while catching.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the hook once per process; a panic outside [`catch`] is handed to the previous hook.
pub fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) > 0 {
                let loc = info.location().map(|l| (l.file(), l.line(), l.column()));
                LAST.with(|l| *l.borrow_mut() = Some(describe(info.payload(), loc)));
            } else {
                previous(info);
            }
        }));
    });
}

/// `message at file:line:column`.
fn describe(payload: &(dyn std::any::Any + Send), loc: Option<(&str, u32, u32)>) -> String {
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic with a non-string payload".into());
    match loc {
        Some((file, line, column)) => format!("{msg} (at {file}:{line}:{column})"),
        None => msg,
    }
}

/// Runs `f`; a panic inside it is returned as its message and location, and printed by nobody.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install_hook();
    CATCHING.with(|c| c.set(c.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get() - 1));
    result.map_err(|_| {
        LAST.with(|l| l.borrow_mut().take())
            .unwrap_or_else(|| "panic (message not recorded)".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_carries_message_and_location() {
        let err = catch(|| -> u8 { panic!("INV-TEST: boom {}", 7) }).unwrap_err();
        assert!(err.starts_with("INV-TEST: boom 7 (at "), "{err}");
        assert!(err.contains("panics.rs:"), "{err}");
        assert_eq!(catch(|| 5), Ok(5));
    }

    /// Run in a child process (the hook is process-wide): a panic outside `catch` reaches the
    /// default hook, which prints its message and location.
    #[test]
    fn a_panic_outside_a_world_step_is_printed() {
        if std::env::var_os("ZABKEEPER_PANICS_CHILD").is_some() {
            install_hook();
            assert!(catch(|| -> u8 { panic!("caught, not printed") }).is_err());
            panic!("a bug in the checker itself");
        }
        let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "panics::tests::a_panic_outside_a_world_step_is_printed",
            ])
            .args(["--nocapture", "--test-threads", "1"])
            .env("ZABKEEPER_PANICS_CHILD", "1")
            .output()
            .expect("run the child");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("a bug in the checker itself"), "{stderr}");
        assert!(stderr.contains("panics.rs:"), "location: {stderr}");
        assert!(!stderr.contains("caught, not printed"), "{stderr}");
    }

    #[test]
    fn nested_catches_restore_the_outer_one() {
        let outer = catch(|| {
            let inner = catch(|| -> u8 { panic!("inner") });
            assert!(inner.unwrap_err().starts_with("inner"));
            assert_eq!(CATCHING.with(Cell::get), 1);
            panic!("outer");
        });
        assert!(outer.unwrap_err().starts_with("outer"));
        assert_eq!(CATCHING.with(Cell::get), 0);
    }
}
