//! The endpoint under faults, through the real binary and real TCP on 127.0.0.1: a deadline at
//! every stage of a connection (nothing sent, half a head, idle keep-alive), the connection cap
//! answered 503, SIGTERM not held by a half-sent head, the bearer scheme in any case with 401s
//! kept out of the endpoint's errors and log, one endpoint per name when several start at once,
//! names that would leave the log folder, and a full disk under the inference log (root only:
//! a tiny tmpfs) reported everywhere, recovered without loss when space returns.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Server, Workspace};
use crate::serving::{agent, append_config, get, post_json, record, two_versions, wait_for};

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Reads until the peer closes (or `limit` passes); returns what arrived and how long it took.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the connection was still open after {:?}: {e}",
                started.elapsed()
            ),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

fn promoted_demo(extra_config: &str) -> Workspace {
    let ws = Workspace::demo();
    two_versions(&ws);
    ws.ok(&["models", "promote", "chars", "1"]);
    append_config(&ws, extra_config);
    ws
}

#[test]
fn every_stage_of_a_connection_has_a_deadline() {
    let ws = promoted_demo("\n[serving]\nheader_timeout_ms = 600\nidle_timeout_ms = 1500\n");
    let server = Server::start(&ws, &[], &[]);
    let a = addr(&server);

    // Nothing sent, half a head: closed at the header timeout, not before.
    let opened = Instant::now();
    let mut silent = TcpStream::connect(&a).unwrap();
    let mut half = TcpStream::connect(&a).unwrap();
    half.write_all(b"POST /invocations HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    for s in [&mut silent, &mut half] {
        let (got, _) = read_until_closed(s, Duration::from_secs(20));
        assert!(got.is_empty(), "{got}");
        let took = opened.elapsed();
        assert!(took >= Duration::from_millis(550), "closed after {took:?}");
    }

    // A head sent one byte every 200 ms never completes: progress does not extend it.
    let mut slow = TcpStream::connect(&a).unwrap();
    let started = Instant::now();
    let head = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut closed = false;
    for b in head {
        if slow.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    if !closed {
        let (_, _) = read_until_closed(&mut slow, Duration::from_secs(20));
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a trickled head held the connection"
    );

    // Keep-alive: a complete request is answered; the idle connection then closes after the
    // idle timeout (longer than the header timeout).
    let mut keep = TcpStream::connect(&a).unwrap();
    keep.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (got, took) = read_until_closed(&mut keep, Duration::from_secs(20));
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        took >= Duration::from_millis(1200),
        "idle closed after {took:?}"
    );

    // Meanwhile ordinary clients were served, and the timeouts are counted.
    let metrics = get(&agent(), &server.url("/metrics")).body;
    let metrics = metrics.as_str().unwrap();
    let timed_out: u64 = metrics
        .lines()
        .find(|l| l.starts_with("cerebro_connections_timed_out_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(timed_out >= 4, "{timed_out}");
}

#[test]
fn past_the_connection_cap_a_client_gets_503_and_sigterm_is_not_held_by_half_a_head() {
    let ws = promoted_demo("\n[serving]\nmax_connections = 2\nheader_timeout_ms = 30000\n");
    let mut server = Server::start(&ws, &[], &[]);
    let a = addr(&server);
    let hold: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(&a).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let r = get(&agent(), &server.url("/ping"));
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.body["error_code"], "TEMPORARILY_UNAVAILABLE");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("max_connections"),
        "{}",
        r.body
    );
    drop(hold);
    wait_for(10, "a free slot", || {
        get(&agent(), &server.url("/ping")).status == 200
    });
    let metrics = get(&agent(), &server.url("/metrics")).body;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .lines()
            .any(|l| l.starts_with("cerebro_connections_refused_total") && !l.ends_with(" 0")),
        "{metrics}"
    );

    // Half a request head and SIGTERM: the header timeout is 30 s, yet the endpoint stops at
    // once (no request of that client was accepted, so nothing is lost by closing it).
    let mut half = TcpStream::connect(&a).unwrap();
    half.write_all(b"POST /invocations HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stopping took {:?}",
        started.elapsed()
    );
}

#[test]
fn the_bearer_scheme_is_case_insensitive_and_401s_are_not_endpoint_errors() {
    let ws = promoted_demo("");
    let mut server = Server::start(
        &ws,
        &["--name", "secure"],
        &[("CEREBRO_SERVING_TOKEN", "s3cret-token")],
    );
    let a = agent();
    let body = json!({"dataframe_records": [record(1)]}).to_string();
    let call = |path: &str, auth: Option<&str>| {
        let mut req = a
            .post(server.url(path))
            .header("Content-Type", "application/json");
        if let Some(v) = auth {
            req = req.header("Authorization", v);
        }
        let mut resp = req.send(body.as_bytes()).unwrap();
        crate::serving::reply(&mut resp)
    };
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = call("/invocations", Some(&format!("{scheme} s3cret-token")));
        assert_eq!(r.status, 200, "{scheme}: {}", r.body);
    }
    for wrong in [
        None,
        Some("Bearer nope"),
        Some("Basic s3cret-token"),
        Some("Bearer"),
    ] {
        assert_eq!(call("/invocations", wrong).status, 401, "{wrong:?}");
    }
    // An unknown endpoint name: 401 without the token (nothing about the endpoint leaks), 404
    // naming the real endpoint with it.
    let r = call("/serving-endpoints/other/invocations", None);
    assert_eq!(r.status, 401);
    assert!(!r.body.to_string().contains("secure"), "{}", r.body);
    let r = call(
        "/serving-endpoints/other/invocations",
        Some("Bearer s3cret-token"),
    );
    assert_eq!(r.status, 404);
    assert!(r.body["message"].as_str().unwrap().contains("secure"));
    assert_eq!(
        call(
            "/serving-endpoints/secure/invocations",
            Some("bearer s3cret-token")
        )
        .status,
        200
    );

    // The 401s are counted apart: not requests, not errors, not in the inference log.
    let mut metrics = a
        .get(server.url("/metrics"))
        .header("Authorization", "Bearer s3cret-token")
        .call()
        .unwrap();
    let text = metrics.body_mut().read_to_string().unwrap();
    assert!(
        text.contains("cerebro_unauthenticated_requests_total{endpoint=\"secure\"} 5"),
        "{text}"
    );
    assert!(!text.contains("status=\"401\""), "{text}");
    assert!(server.terminate().success());
    let lines = crate::serving::log_lines(&ws, "secure");
    let statuses: Vec<u64> = lines
        .iter()
        .map(|l| l["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert!(statuses.iter().all(|s| *s != 401), "{statuses:?}");
    let st = ws.json(&["endpoints", "status", "secure", "--json"]);
    assert_eq!(st["stats"]["errors"], 0, "{st}");
    assert_eq!(st["stats"]["requests"], 5, "{st}");
}

#[test]
fn of_several_endpoints_started_at_once_under_one_name_exactly_one_serves() {
    let ws = promoted_demo("");
    for round in 0..3 {
        let mut children: Vec<_> = (0..3)
            .map(|_| {
                ws.std_cmd(&[
                    "serve",
                    "--model",
                    "chars",
                    "--bind",
                    "127.0.0.1:0",
                    "--name",
                    "dup",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
            })
            .collect();
        // The losers exit; the winner keeps serving.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut exited = Vec::new();
        while exited.len() < 2 && Instant::now() < deadline {
            for (i, c) in children.iter_mut().enumerate() {
                if !exited.contains(&i) && c.try_wait().unwrap().is_some() {
                    exited.push(i);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
        let alive: Vec<usize> = (0..3)
            .filter(|i| children[*i].try_wait().unwrap().is_none())
            .collect();
        assert_eq!(alive.len(), 1, "round {round}: {} serving", alive.len());
        for i in exited {
            let mut err = String::new();
            children[i]
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(err.contains("already running"), "round {round}: {err}");
        }
        let listed = ws.json(&["endpoints", "list", "--json"]);
        let dup: Vec<_> = listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == "dup" && e["state"] == "up")
            .collect();
        assert_eq!(dup.len(), 1, "{listed}");
        assert_eq!(dup[0]["pid"], children[alive[0]].id());
        for c in &mut children {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

#[test]
fn endpoint_names_cannot_leave_the_log_folder() {
    let ws = promoted_demo("");
    for name in ["..", ".", "a/b", "../x", "/tmp/x", ""] {
        let err = ws.fails(&[
            "serve",
            "--model",
            "chars",
            "--bind",
            "127.0.0.1:0",
            "--name",
            name,
        ]);
        assert!(err.contains("endpoint"), "{name:?}: {err}");
    }
    // Nothing was written anywhere but the store.
    let stray: Vec<_> = walk(ws.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A tmpfs of `kib` KiB mounted on a new folder under `ws`, unmounted on drop; `None` (with
/// the reason printed) when this process may not mount.
pub(crate) struct Tmpfs(pub(crate) std::path::PathBuf);

impl Tmpfs {
    pub(crate) fn mount(ws: &Workspace, kib: u64) -> Option<Tmpfs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting a tmpfs to fill a disk needs root");
            return None;
        }
        let dir = ws.path().join("logfs");
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: `mount -t tmpfs` failed (no mount rights in this container?)");
            return None;
        }
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// Answers record 0 on `server` (200) and waits until its line is in the inference log.
fn first_line_logged(a: &ureq::Agent, server: &Server) {
    assert_eq!(
        post_json(
            a,
            &server.url("/invocations"),
            &json!({"dataframe_records": [record(0)]})
        )
        .status,
        200
    );
    wait_for(10, "the first line", || {
        metric(
            get(a, &server.url("/metrics")).body.as_str().unwrap(),
            "cerebro_inference_log_lines_written_total",
        ) == 1
    });
}

/// Fills the file system under `dir` (a file `fill` of as many 4 KiB blocks as fit).
pub(crate) fn fill(dir: &std::path::Path) {
    let mut f = std::fs::File::create(dir.join("fill")).unwrap();
    let block = [b'x'; 4096];
    while f.write_all(&block).is_ok() {}
}

#[test]
fn a_full_disk_under_the_inference_log_is_reported_and_recovered_without_loss() {
    let ws = promoted_demo("");
    let Some(fs) = Tmpfs::mount(&ws, 256) else {
        return;
    };
    append_config(
        &ws,
        &format!(
            "\n[serving]\nlog_dir = \"{}\"\nlog_flush_ms = 20\n",
            fs.0.display()
        ),
    );
    let mut server = Server::start(&ws, &["--name", "full"], &[]);
    let a = agent();
    let inv = server.url("/invocations");
    // Room for the first file, then a full disk.
    first_line_logged(&a, &server);
    fill(&fs.0);
    let mut answered = 1;
    for i in 1..300 {
        let r = post_json(&a, &inv, &json!({"dataframe_records": [record(i)]}));
        assert_eq!(r.status, 200, "degrade answers: {}", r.body);
        answered += 1;
    }
    wait_for(10, "the failure to show", || {
        get(&a, &server.url("/health")).status == 503
    });
    let h = get(&a, &server.url("/health")).body;
    assert_eq!(h["status"], "log_failing", "{h}");
    assert!(
        h["log_error"].as_str().unwrap().contains("No space left"),
        "{h}"
    );
    let m = get(&a, &server.url("/metrics")).body;
    let m = m.as_str().unwrap();
    assert!(metric(m, "cerebro_inference_log_lines_waiting") > 0, "{m}");
    assert!(
        metric(m, "cerebro_inference_log_write_errors_total") > 0,
        "{m}"
    );
    wait_for(10, "the heartbeat note", || {
        let st = ws.json(&["endpoints", "status", "full", "--json"]);
        st["stats"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("inference log failing"))
    });

    // Space comes back: everything waiting is written, nothing lost, health recovers.
    std::fs::remove_file(fs.0.join("fill")).unwrap();
    wait_for(10, "recovery", || {
        get(&a, &server.url("/health")).status == 200
    });
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let logged = std::fs::read_dir(fs.0.join("full"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    let lines: Vec<serde_json::Value> = logged
        .lines()
        .map(|l| serde_json::from_str(l).expect("no torn or mixed line"))
        .collect();
    assert_eq!(lines.len(), answered, "every answered request logged once");

    // Full again and stopped while full: the loss is the exit status and the summary.
    let mut server = ws
        .std_cmd(&[
            "serve",
            "--model",
            "chars",
            "--bind",
            "127.0.0.1:0",
            "--name",
            "full2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    let base = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    fill(&fs.0);
    let mut ok = 0;
    for i in 0..100 {
        ok += u32::from(
            post_json(
                &a,
                &format!("{base}/invocations"),
                &json!({"dataframe_records": [record(i)]}),
            )
            .status
                == 200,
        );
    }
    assert!(ok > 0);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let out = server.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("LOST"), "{err}");
    std::fs::remove_file(fs.0.join("fill")).unwrap();

    // With log_failure = "refuse", requests are refused 503 while the log fails.
    append_config(&ws, "log_failure = \"refuse\"\n");
    let mut server = Server::start(&ws, &["--name", "full3"], &[]);
    let inv = server.url("/invocations");
    first_line_logged(&a, &server);
    fill(&fs.0);
    let mut refused = None;
    for i in 1..2000 {
        let r = post_json(&a, &inv, &json!({"dataframe_records": [record(i)]}));
        if r.status == 503 {
            refused = Some(r.body);
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let refused = refused.expect("requests are refused once the log fails");
    assert!(
        refused["message"].as_str().unwrap().contains("log_failure"),
        "{refused}"
    );
    std::fs::remove_file(fs.0.join("fill")).unwrap();
    wait_for(10, "recovery", || {
        post_json(&a, &inv, &json!({"dataframe_records": [record(5)]})).status == 200
    });
    assert!(server.terminate().success());
}
