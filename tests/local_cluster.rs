//! `zabkeeper local-cluster --nodes 3`: the binary prints the connect string, its three children
//! serve as one ensemble (one leader, two followers), and SIGTERM stops them all and exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, test_kill_process, Pid, Signal};

const NODES: u16 = 3;
const DEADLINE: Duration = Duration::from_secs(60);

/// A base port with 3 × NODES free consecutive ports after it.
fn free_base_port() -> u16 {
    let span = 3 * NODES;
    let mut base = 20_000 + (std::process::id() % 20_000) as u16;
    for _ in 0..200 {
        let all_free = (base..base + span).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return base;
        }
        base = if base > 60_000 { 20_000 } else { base + span };
    }
    panic!("no {span} consecutive free ports found");
}

fn four_letter(port: u16, word: &str) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(1),
    ) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut out = String::new();
    if s.write_all(word.as_bytes()).is_ok() {
        let _ = s.read_to_string(&mut out);
    }
    out
}

fn mode(port: u16) -> Option<String> {
    four_letter(port, "srvr")
        .lines()
        .find_map(|l| l.strip_prefix("Mode: ").map(|m| m.trim().to_string()))
}

/// Every line the child writes to stdout or stderr, tagged, in arrival order.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("piped stdout");
    let err = child.stderr.take().expect("piped stderr");
    for (tag, stream) in [
        ("out", Box::new(out) as Box<dyn Read + Send>),
        ("err", Box::new(err)),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(format!("{tag}: {line}")).is_err() {
                    return;
                }
            }
        });
    }
    rx
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn local_cluster_serves_one_ensemble_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = free_base_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zabkeeper"))
        .args([
            "local-cluster",
            "--nodes",
            "3",
            "--tick-ms",
            "200",
            "--base-port",
        ])
        .arg(base.to_string())
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zabkeeper local-cluster");
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32")).expect("pid > 0");
    let lines = lines_of(&mut child);
    let mut seen = Vec::new();
    let mut server_pids = Vec::new();

    // The connect string; a child that exits makes local-cluster exit with its last log line.
    let deadline = Instant::now() + DEADLINE;
    let connect = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(remaining.min(Duration::from_millis(200))) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix("out: connect string: ") {
                    break rest.to_string();
                }
                if let Some(p) = line
                    .strip_prefix("out: server.")
                    .and_then(|r| r.split(' ').nth(2))
                {
                    server_pids.push(p.parse::<i32>().expect("child pid"));
                }
                seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(_) => panic!(
                "no connect string within {DEADLINE:?}; output:\n{}",
                seen.join("\n")
            ),
        }
    };
    let expected: Vec<String> = (0..NODES)
        .map(|i| format!("127.0.0.1:{}", base + i))
        .collect();
    assert_eq!(connect, expected.join(","));
    assert_eq!(server_pids.len(), usize::from(NODES), "{seen:?}");

    // One leader and two followers.
    let ports: Vec<u16> = (0..NODES).map(|i| base + i).collect();
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            seen.extend(lines.try_iter());
            let output = seen.join("\n");
            panic!("local-cluster exited ({status}) before serving; output:\n{output}");
        }
        let mut modes: Vec<Option<String>> = ports.iter().map(|&p| mode(p)).collect();
        modes.sort();
        let want = [
            Some("follower".to_string()),
            Some("follower".to_string()),
            Some("leader".to_string()),
        ];
        if modes == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "modes {modes:?} after {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    kill_process(pid, Signal::TERM).expect("SIGTERM local-cluster");
    let status = wait_exit(&mut child, DEADLINE).expect("local-cluster exits after SIGTERM");
    seen.extend(lines.try_iter());
    assert!(status.success(), "{status}; output:\n{}", seen.join("\n"));
    for p in server_pids {
        let gone = test_kill_process(Pid::from_raw(p).expect("pid > 0")).is_err();
        assert!(
            gone,
            "server pid {p} still runs after local-cluster stopped"
        );
    }
}
