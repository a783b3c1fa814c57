//! Connection hygiene: idle sockets neither stop the emulator answering nor
//! are held forever, and running out of file descriptors does not wedge it.

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::{Client, start_with};

fn idle_sockets(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .collect()
}

/// True when the server closed the socket (a read sees the end); false if
/// it is still open after `wait`.
fn closed_by_server(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn five_hundred_idle_sockets_do_not_stop_it_answering() {
    let emu = start_with(|_| {});
    let sockets = idle_sockets(emu.addr(), 500);
    assert_eq!(sockets.len(), 500);
    Client::new(emu.addr())
        .call("DescribeSecurityGroups", &[])
        .ok();
}

#[test]
fn at_the_cap_a_new_connection_closes_the_one_idle_longest() {
    let emu = start_with(|cfg| cfg.max_connections = 16);
    let mut sockets = idle_sockets(emu.addr(), 40);
    Client::new(emu.addr())
        .call("DescribeSecurityGroups", &[])
        .ok();
    // The oldest ones made room; the newest are still open.
    assert!(closed_by_server(&mut sockets[0], Duration::from_secs(10)));
    let last = sockets.len() - 1;
    assert!(!closed_by_server(
        &mut sockets[last],
        Duration::from_millis(200)
    ));
}

#[test]
fn idle_connections_close_after_the_timeout_but_busy_ones_do_not() {
    let emu = start_with(|cfg| {
        cfg.idle_timeout = Duration::from_millis(300);
        cfg.faults.latency_ms = 800;
    });
    let mut idle = idle_sockets(emu.addr(), 1).pop().unwrap();
    assert!(closed_by_server(&mut idle, Duration::from_secs(10)));
    // A request answered after a latency longer than the idle timeout is
    // still answered: time spent answering is not idle time.
    Client::new(emu.addr())
        .call("DescribeSecurityGroups", &[])
        .ok();
}

/// The child side of the next test: an emulator in a process whose file
/// descriptors are scarce. Run only by that test (hence ignored).
#[test]
#[ignore = "run by out_of_file_descriptors_does_not_wedge_it in a child process"]
fn fd_limited_child() {
    let emu = start_with(|_| {});
    println!("ENDPOINT {}", emu.addr());
    // Serve until the parent closes our stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

#[cfg(target_os = "linux")]
#[test]
fn out_of_file_descriptors_does_not_wedge_it() {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};

    let exe = std::env::current_exe().unwrap();
    // A soft limit of 64 descriptors leaves the child some fifty for
    // connections once its runtime and the test harness have theirs.
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -n 64 && exec "$0" --ignored --exact connections::fd_limited_child --nocapture --test-threads 1"#)
        .arg(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bash starts the child");
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr: SocketAddr = lines
        .by_ref()
        .map_while(Result::ok)
        // The harness writes its own words on the same line first.
        .find_map(|l| l.split_once("ENDPOINT ").map(|(_, a)| a.trim().to_owned()))
        .expect("the child prints its endpoint")
        .parse()
        .unwrap();
    // Far more sockets than the child has descriptors for.
    let mut sockets = idle_sockets(addr, 120);
    assert!(sockets.len() > 64, "{} connected", sockets.len());
    let answered = Client::new(addr).try_call("DescribeSecurityGroups", &[]);
    let early_closed = closed_by_server(&mut sockets[0], Duration::from_secs(10));
    drop(child.stdin.take());
    let _ = child.wait();
    assert_eq!(answered.expect("an answer").status, 200);
    assert!(early_closed, "the longest-idle connection made room");
}
